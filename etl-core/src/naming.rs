//! dlt's `snake_case` naming convention, for tables, columns, schema and dataset names.
//!
//! The rules (observed with dlt 1.31, see `tests/data/conformance/CASES.md`, case `identifiers`):
//! surrounding whitespace is stripped and an empty name becomes `_empty`; `+ * @ |` become
//! `x x a l` and `-` becomes `_`; every run of other characters that are not ASCII letters, digits
//! or `_` becomes one `_`; camel and Pascal case break into words (`HTTPServerID` →
//! `http_server_id`); the result is lower-cased; leading digits get a `_` prefix and each trailing
//! `_` becomes `x`. A path separator `__` in a name is kept: names are normalized part by part.

mod shorten;

use std::borrow::Cow;

pub use shorten::{identifier_tag, normalize_path, shorten_fragments, shorten_identifier, shorten_joined};

/// dlt's `snake_case` naming convention as a schema uses it: with the destination's identifier
/// limit (`max_identifier_length`; `None`: unlimited), above which names are shortened as dlt
/// shortens them ([`shorten`]). Without a limit every name is [`normalize_identifier`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Naming {
    max_length: Option<usize>,
}

impl Naming {
    /// The convention with names of at most `max_length` characters (`None`: unlimited).
    pub const fn new(max_length: Option<usize>) -> Self {
        Naming { max_length }
    }

    /// The identifier limit.
    pub const fn max_length(&self) -> Option<usize> {
        self.max_length
    }

    /// A raw key, resource or table name or column hint, normalized and shortened (dlt's
    /// `normalize_path` / `normalize_tables_path`).
    ///
    /// ```
    /// use etl_core::naming::Naming;
    /// let long = format!("Long{}", "x".repeat(100));
    /// assert_eq!(Naming::new(None).normalize_path(&long).len(), 104);
    /// assert_eq!(Naming::new(Some(63)).normalize_path(&long).len(), 63);
    /// ```
    pub fn normalize_path(&self, raw: &str) -> String {
        match self.max_length {
            Some(max) => normalize_path(raw, max),
            None => normalize_identifier(raw),
        }
    }

    /// The name of a nested path whose normalized fragments are already joined with `__`
    /// (`parent__child`, `table__list`, `column__v_text`), shortened with the tag of the joined
    /// text (dlt's `shorten_fragments`); borrowed back when it is within the limit.
    pub fn shorten_joined<'a>(&self, joined: &'a str) -> Cow<'a, str> {
        match self.max_length {
            Some(max) => shorten_joined(joined, max),
            None => Cow::Borrowed(joined),
        }
    }

    /// [`Self::shorten_joined`] of normalized fragments (`["parent", "child"]`).
    pub fn shorten_fragments<S: AsRef<str>>(&self, fragments: &[S]) -> String {
        match self.max_length {
            Some(max) => shorten_fragments(fragments, max),
            None => make_path(fragments),
        }
    }

    /// [`Self::shorten_joined`] of an owned path, which it returns itself when within the limit.
    pub fn shorten_owned(&self, joined: String) -> String {
        match self.shorten_joined(&joined) {
            Cow::Borrowed(_) => joined,
            Cow::Owned(short) => short,
        }
    }
}

/// Separator of nested paths in table and column names (`parent__child`).
pub const PATH_SEPARATOR: &str = "__";

/// Name given to an identifier that is empty after stripping whitespace.
pub const EMPTY_NAME: &str = "_empty";

/// Normalizes one identifier (a key, a resource name) that may itself contain `__`.
///
/// ```
/// use etl_core::naming::normalize_identifier;
/// assert_eq!(normalize_identifier("HTTPServerID"), "http_server_id");
/// assert_eq!(normalize_identifier("double__under"), "double__under");
/// assert_eq!(normalize_identifier("trailing_"), "trailingx");
/// ```
pub fn normalize_identifier(identifier: &str) -> String {
    // Keys repeat in every row: remember their names (dlt keeps an lru_cache too). Bounded.
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, String>> = Default::default();
    }
    if let Some(hit) = CACHE.with(|c| c.borrow().get(identifier).cloned()) {
        return hit;
    }
    let normalized = normalize_uncached(identifier);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 65_536 {
            c.clear();
        }
        c.insert(identifier.to_owned(), normalized.clone());
    });
    normalized
}

fn normalize_uncached(identifier: &str) -> String {
    let stripped = identifier.trim();
    if stripped.is_empty() {
        return EMPTY_NAME.to_owned();
    }
    if !stripped.contains(PATH_SEPARATOR) {
        return normalize_part(stripped);
    }
    // `a__b` is a path: each part is normalized on its own and the separators are kept, so
    // `triple___under` splits as `triple` + `_under` and comes back unchanged.
    let parts = break_path(stripped);
    parts.iter().map(|p| normalize_part(p)).collect::<Vec<_>>().join(PATH_SEPARATOR)
}

/// Splits a name at `__` separators, keeping extra underscores with the following part
/// (`a___b` → `["a", "_b"]`). Empty parts are dropped.
pub fn break_path(path: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = path;
    while let Some(pos) = rest.find(PATH_SEPARATOR) {
        let (head, tail) = rest.split_at(pos);
        if !head.is_empty() {
            parts.push(head);
        }
        rest = &tail[PATH_SEPARATOR.len()..];
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts
}

/// Joins already-normalized parts into a path (`parent__child`).
pub fn make_path<S: AsRef<str>>(parts: &[S]) -> String {
    let mut out = String::new();
    for part in parts {
        let part = part.as_ref();
        if part.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(PATH_SEPARATOR);
        }
        out.push_str(part);
    }
    out
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || (!c.is_ascii() && c.is_numeric())
}

/// Normalizes a single part (no `__` inside).
fn normalize_part(part: &str) -> String {
    let trimmed = part.trim();
    if trimmed.is_empty() {
        return EMPTY_NAME.to_owned();
    }
    // 1. reduce the alphabet, 2. every run of non-word characters becomes one `_`.
    let mut reduced: Vec<char> = Vec::with_capacity(trimmed.len());
    let mut in_run = false;
    for c in trimmed.chars() {
        let c = match c {
            '+' | '*' => 'x',
            '-' => '_',
            '@' => 'a',
            '|' => 'l',
            c => c,
        };
        if is_word_char(c) {
            reduced.push(c);
            in_run = false;
        } else if !in_run {
            reduced.push('_');
            in_run = true;
        }
    }
    // 3. camel/Pascal case breaks, exactly as two left-to-right regex substitutions.
    let broken = break_words_2(&break_words_1(&reduced));
    let mut ident: String = broken.iter().map(|c| c.to_ascii_lowercase()).collect();
    // 4. leading digits are prefixed.
    if ident.chars().next().is_some_and(|c| c.is_numeric()) {
        ident.insert(0, '_');
    }
    // 5. each trailing underscore becomes `x`.
    let kept = ident.trim_end_matches('_').len();
    let trailing = ident.len() - kept;
    ident.truncate(kept);
    ident.extend(std::iter::repeat_n('x', trailing));
    // 6. runs of underscores collapse, so a single part can never contain the path separator.
    let mut out = String::with_capacity(ident.len());
    for c in ident.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// `([^_])([A-Z][a-z]+)` → `\1_\2`, non-overlapping, left to right.
fn break_words_1(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < s.len() {
        let matches = s[i] != '_'
            && i + 2 < s.len()
            && s[i + 1].is_ascii_uppercase()
            && s.get(i + 2).is_some_and(|c| c.is_ascii_lowercase());
        if matches {
            let mut end = i + 2;
            while end < s.len() && s[end].is_ascii_lowercase() {
                end += 1;
            }
            out.push(s[i]);
            out.push('_');
            out.extend_from_slice(&s[i + 1..end]);
            i = end;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `([a-z0-9])([A-Z])` → `\1_\2`, non-overlapping, left to right.
fn break_words_2(s: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if (c.is_ascii_lowercase() || c.is_ascii_digit()) && s.get(i + 1).is_some_and(|n| n.is_ascii_uppercase()) {
            out.push(c);
            out.push('_');
            out.push(s[i + 1]);
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Name of the dlt schema (and default dataset name base) for a pipeline without a source:
/// a trailing `_pipeline` is removed, then the rest is normalized.
pub fn default_schema_name(pipeline_name: &str) -> String {
    let base = pipeline_name.strip_suffix("_pipeline").filter(|s| !s.is_empty()).unwrap_or(pipeline_name);
    normalize_identifier(base)
}

/// Quotes an identifier for SQL: always double quotes, inner quotes doubled. No input can
/// change the statement it appears in.
pub fn quote_ident(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 2);
    out.push('"');
    for c in ident.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Quotes a string literal for SQL (single quotes, inner quotes doubled).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pair observed with dlt 1.31 in the conformance case `identifiers`.
    #[test]
    fn matches_dlt_on_the_identifiers_case() {
        let cases = [
            ("MyTable-Name", "my_table_name"),
            ("My Data-Set", "my_data_set"),
            ("camelCase", "camel_case"),
            ("PascalCase", "pascal_case"),
            ("HTTPServerID", "http_server_id"),
            ("userID2Name", "user_id2_name"),
            ("with space", "with_space"),
            ("  padded  ", "padded"),
            ("with-dash", "with_dash"),
            ("dot.ted", "dot_ted"),
            ("plus+star*at@pipe|", "plusxstarxatapipel"),
            ("ünïcödé", "_n_c_dx"),
            ("日本語", "x"),
            ("emoji😀x", "emoji_x"),
            ("1leading", "_1leading"),
            ("123", "_123"),
            ("_leading", "_leading"),
            ("trailing_", "trailingx"),
            ("double__under", "double__under"),
            ("triple___under", "triple___under"),
            ("ALLCAPS", "allcaps"),
            ("Mixed Case Words", "mixed_case_words"),
            ("$dollar", "_dollar"),
            ("a/b", "a_b"),
            ("tab\tchar", "tab_char"),
            ("", "_empty"),
            (" ", "_empty"),
            ("Nested Obj", "nested_obj"),
            ("innerKey", "inner_key"),
            ("Child-List", "child_list"),
            ("a_-b", "a_b"),
            ("__lead", "lead"),
            ("a___", "a__x"),
            ("x__y_", "x__yx"),
            ("getHTTPResponse", "get_http_response"),
            ("camelCaseID", "camel_case_id"),
            ("_", "x"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_identifier(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn schema_names_drop_the_pipeline_suffix() {
        assert_eq!(default_schema_name("plain_pipeline"), "plain");
        assert_eq!(default_schema_name("NoDatasetPipeline"), "no_dataset_pipeline");
        assert_eq!(default_schema_name("ident_pipeline"), "ident");
    }

    #[test]
    fn quoting_cannot_break_out() {
        assert_eq!(quote_ident(r#"a"; DROP TABLE x; --"#), r#""a""; DROP TABLE x; --""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn normalization_is_idempotent_on_its_output() {
        for s in ["HTTPServerID", "a-b c", "x__Y", "日本語", "_1a_", "camelCase__Inner"] {
            let once = normalize_identifier(s);
            assert_eq!(normalize_identifier(&once), once, "input {s:?}");
        }
    }
}
