//! A JSONPath subset for data selectors, next-page links and cursors:
//! `$`, `.name`, `['name']`, `[0]` (negative from the end), `[*]`, `.*` and `..name`
//! (recursive descent). A leading `$` is optional: `data.items` means `$.data.items`.

use std::fmt;

use serde_json::Value as Json;

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(i64),
    Wildcard,
    Descend(String),
}

/// A path that does not parse, with the position of the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid JSONPath `{path}` at character {position}: {message}")]
pub struct JsonPathError {
    /// The path.
    pub path: String,
    /// Character offset.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

impl JsonPath {
    /// Parses a path.
    pub fn parse(text: &str) -> Result<Self, JsonPathError> {
        let err = |position: usize, message: &str| JsonPathError { path: text.to_owned(), position, message: message.to_owned() };
        let chars: Vec<char> = text.trim().chars().collect();
        let mut i = 0;
        let mut steps = Vec::new();
        if chars.first() == Some(&'$') {
            i = 1;
        } else if !chars.is_empty() && chars[0] != '.' && chars[0] != '[' {
            // `data.items`: an implicit `$.`
            let (name, next) = read_name(&chars, 0);
            if name.is_empty() {
                return Err(err(0, "expected a name"));
            }
            steps.push(if name == "*" { Step::Wildcard } else { Step::Key(name) });
            i = next;
        }
        while i < chars.len() {
            match chars[i] {
                '.' if chars.get(i + 1) == Some(&'.') => {
                    let (name, next) = read_name(&chars, i + 2);
                    if name.is_empty() {
                        return Err(err(i + 2, "expected a name after `..`"));
                    }
                    steps.push(Step::Descend(name));
                    i = next;
                }
                '.' => {
                    let (name, next) = read_name(&chars, i + 1);
                    if name.is_empty() {
                        return Err(err(i + 1, "expected a name after `.`"));
                    }
                    steps.push(if name == "*" { Step::Wildcard } else { Step::Key(name) });
                    i = next;
                }
                '[' => {
                    let close = chars[i..].iter().position(|&c| c == ']').map(|p| p + i).ok_or_else(|| err(i, "unclosed `[`"))?;
                    let inner: String = chars[i + 1..close].iter().collect::<String>().trim().to_owned();
                    if inner == "*" {
                        steps.push(Step::Wildcard);
                    } else if (inner.starts_with('\'') && inner.ends_with('\'') || inner.starts_with('"') && inner.ends_with('"')) && inner.len() >= 2 {
                        steps.push(Step::Key(inner[1..inner.len() - 1].to_owned()));
                    } else if let Ok(n) = inner.parse::<i64>() {
                        steps.push(Step::Index(n));
                    } else {
                        return Err(err(i + 1, "expected `*`, an index or a quoted name inside `[]`"));
                    }
                    i = close + 1;
                }
                _ => return Err(err(i, "expected `.` or `[`")),
            }
        }
        Ok(JsonPath { text: text.to_owned(), steps })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path is `$` (the whole document).
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// Every value the path matches, in document order.
    pub fn select<'a>(&self, doc: &'a Json) -> Vec<&'a Json> {
        let mut current = vec![doc];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match step {
                    Step::Key(k) => next.extend(v.get(k.as_str())),
                    Step::Index(n) => {
                        if let Json::Array(a) = v {
                            let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                            if idx >= 0 {
                                next.extend(a.get(idx as usize));
                            }
                        }
                    }
                    Step::Wildcard => match v {
                        Json::Array(a) => next.extend(a.iter()),
                        Json::Object(m) => next.extend(m.values()),
                        _ => {}
                    },
                    Step::Descend(k) => descend(v, k, &mut next),
                }
            }
            current = next;
        }
        current
    }

    /// The first match.
    pub fn first<'a>(&self, doc: &'a Json) -> Option<&'a Json> {
        self.select(doc).into_iter().next()
    }

    /// The records the path selects: the elements of a matched array, or the matched values.
    pub fn records(&self, doc: &Json) -> Vec<Json> {
        let found = self.select(doc);
        if found.len() == 1 {
            return match found[0] {
                Json::Array(a) => a.clone(),
                Json::Null => Vec::new(),
                other => vec![other.clone()],
            };
        }
        found.into_iter().filter(|v| !v.is_null()).cloned().collect()
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for JsonPath {
    type Err = JsonPathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JsonPath::parse(s)
    }
}

fn read_name(chars: &[char], start: usize) -> (String, usize) {
    let mut end = start;
    while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
        end += 1;
    }
    (chars[start..end].iter().collect::<String>().trim().to_owned(), end)
}

fn descend<'a>(v: &'a Json, key: &str, out: &mut Vec<&'a Json>) {
    match v {
        Json::Object(m) => {
            for (k, child) in m {
                if key == "*" || k == key {
                    out.push(child);
                }
                descend(child, key, out);
            }
        }
        Json::Array(a) => a.iter().for_each(|c| descend(c, key, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(path: &str, doc: &Json) -> Vec<Json> {
        JsonPath::parse(path).unwrap().select(doc).into_iter().cloned().collect()
    }

    #[test]
    fn selects() {
        let doc = json!({"data": {"items": [{"id": 1, "tags": ["a"]}, {"id": 2, "tags": []}]}, "links": {"next": "u"}, "a.b": 3});
        assert_eq!(sel("$", &doc), vec![doc.clone()]);
        assert_eq!(sel("$.links.next", &doc), vec![json!("u")]);
        assert_eq!(sel("links.next", &doc), vec![json!("u")]);
        assert_eq!(sel("$['links']['next']", &doc), vec![json!("u")]);
        assert_eq!(sel("$[\"a.b\"]", &doc), vec![json!(3)]);
        assert_eq!(sel("$.data.items[*].id", &doc), vec![json!(1), json!(2)]);
        assert_eq!(sel("data.items[-1].id", &doc), vec![json!(2)]);
        assert_eq!(sel("data.items[5]", &doc), Vec::<Json>::new());
        assert_eq!(sel("$..id", &doc), vec![json!(1), json!(2)]);
        assert_eq!(sel("$.links.*", &doc), vec![json!("u")]);
        assert_eq!(sel("$.missing.x", &doc), Vec::<Json>::new());
        let p = JsonPath::parse("data.items").unwrap();
        assert_eq!(p.records(&doc).len(), 2);
        assert_eq!(JsonPath::parse("$").unwrap().records(&json!([1, 2, 3])).len(), 3);
        assert!(JsonPath::parse("$").unwrap().is_root());
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in ["$.", "$[", "$[x]", "$..", "$x"] {
            let e = JsonPath::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
