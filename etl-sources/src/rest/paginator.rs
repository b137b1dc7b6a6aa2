//! Paginators: how to ask for the next page, and when to stop.

use serde::Deserialize;
use serde_json::Value as Json;

use crate::jsonpath::JsonPath;

/// How a resource's pages are fetched (dlt's paginators). In config, a table with a `type`
/// (`{ type = "offset", limit = 100 }`) or just the type's name (`"json_link"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Paginator {
    /// Detected from the first response: a `Link` header, a next URL or a cursor in the body,
    /// a page count; otherwise one page.
    Auto,
    /// One request.
    SinglePage,
    /// The next page's URL is in the body at `next_url_path` (default `next`).
    JsonLink {
        /// JSONPath of the next URL.
        #[serde(default = "default_next")]
        next_url_path: String,
    },
    /// The next page's URL is in the `Link` header (`rel="next"`).
    HeaderLink {
        /// The `rel` of the next link.
        #[serde(default = "default_next")]
        links_next_key: String,
    },
    /// `offset`/`limit` query parameters.
    Offset {
        /// Page size.
        limit: u64,
        /// First offset.
        #[serde(default)]
        offset: u64,
        /// Offset parameter name.
        #[serde(default = "default_offset_param")]
        offset_param: String,
        /// Limit parameter name.
        #[serde(default = "default_limit_param")]
        limit_param: String,
        /// JSONPath of the total number of records (optional in the response).
        #[serde(default = "default_total")]
        total_path: Option<String>,
        /// Stop before this offset.
        #[serde(default)]
        maximum_offset: Option<u64>,
        /// Stop at the first empty page (default true).
        #[serde(default = "yes")]
        stop_after_empty_page: bool,
    },
    /// A page number query parameter.
    PageNumber {
        /// Number of the first page (default 0).
        #[serde(default)]
        base_page: u64,
        /// Page to start at (default `base_page`).
        #[serde(default)]
        page: Option<u64>,
        /// Page parameter name.
        #[serde(default = "default_page_param")]
        page_param: String,
        /// JSONPath of the total number of pages (optional in the response).
        #[serde(default = "default_total")]
        total_path: Option<String>,
        /// Stop after this page.
        #[serde(default)]
        maximum_page: Option<u64>,
        /// Stop at the first empty page (default true).
        #[serde(default = "yes")]
        stop_after_empty_page: bool,
    },
    /// A cursor from the body (at `cursor_path`) sent back as the query parameter `cursor_param`.
    Cursor {
        /// JSONPath of the next cursor.
        #[serde(default = "default_cursor_path")]
        cursor_path: String,
        /// Query parameter for it.
        #[serde(default = "default_cursor_param")]
        cursor_param: String,
    },
}

fn default_next() -> String {
    "next".into()
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn default_page_param() -> String {
    "page".into()
}
fn default_total() -> Option<String> {
    Some("total".into())
}
fn default_cursor_path() -> String {
    "cursors.next".into()
}
fn default_cursor_param() -> String {
    "cursor".into()
}
fn yes() -> bool {
    true
}

impl Paginator {
    /// Next URL at a JSONPath.
    pub fn json_link(next_url_path: &str) -> Self {
        Paginator::JsonLink { next_url_path: next_url_path.into() }
    }
    /// `Link` header.
    pub fn header_link() -> Self {
        Paginator::HeaderLink { links_next_key: default_next() }
    }
    /// `offset`/`limit` with this page size.
    pub fn offset(limit: u64) -> Self {
        Paginator::Offset {
            limit,
            offset: 0,
            offset_param: default_offset_param(),
            limit_param: default_limit_param(),
            total_path: default_total(),
            maximum_offset: None,
            stop_after_empty_page: true,
        }
    }
    /// `page` starting at `base_page`, with the total page count at `total_path` if given.
    pub fn page_number(base_page: u64, total_path: Option<&str>) -> Self {
        Paginator::PageNumber {
            base_page,
            page: None,
            page_param: default_page_param(),
            total_path: total_path.map(str::to_owned),
            maximum_page: None,
            stop_after_empty_page: true,
        }
    }
    /// A cursor at `cursor_path` sent as `cursor_param`.
    pub fn cursor(cursor_path: &str, cursor_param: &str) -> Self {
        Paginator::Cursor { cursor_path: cursor_path.into(), cursor_param: cursor_param.into() }
    }

    /// Reads config: a tagged table, or a type name alone.
    pub(crate) fn from_json(v: &Json) -> Result<Self, String> {
        let v = match v {
            Json::String(s) => serde_json::json!({ "type": s }),
            other => other.clone(),
        };
        serde_json::from_value(v).map_err(|e| format!("invalid paginator: {e}"))
    }

    /// Detects the paginator from a first response (dlt's auto-detection, a subset).
    pub fn detect(link_header: Option<&str>, body: &Json) -> Option<Paginator> {
        if link_header.and_then(|h| next_link(h, "next")).is_some() {
            return Some(Paginator::header_link());
        }
        if !body.is_object() {
            return None;
        }
        for path in ["next", "next_url", "nextUrl", "next_page_url", "links.next", "links.next.href", "_links.next.href", "_links.next", "pagination.next", "paging.next", "meta.next"] {
            if let Some(v) = JsonPath::parse(path).ok()?.first(body) {
                if v.is_null() || v.as_str().is_some_and(|s| s.starts_with("http") || s.starts_with('/') || s.starts_with('?')) {
                    return Some(Paginator::json_link(path));
                }
            }
        }
        for path in ["next_cursor", "nextCursor", "cursor.next", "cursors.next", "meta.next_cursor", "pagination.next_cursor", "response_metadata.next_cursor", "next_page_token", "nextPageToken"] {
            if let Some(v) = JsonPath::parse(path).ok()?.first(body) {
                if v.is_null() || v.is_string() || v.is_number() {
                    let param = if path.contains("token") || path.contains("Token") { "page_token" } else { "cursor" };
                    return Some(Paginator::cursor(path, param));
                }
            }
        }
        for path in ["total_pages", "totalPages", "pages", "meta.total_pages", "pagination.total_pages", "page_count"] {
            if JsonPath::parse(path).ok()?.first(body).is_some_and(Json::is_number) {
                // The first request had no page parameter: take it as page 1.
                return Some(Paginator::PageNumber {
                    base_page: 1,
                    page: None,
                    page_param: default_page_param(),
                    total_path: Some(path.into()),
                    maximum_page: None,
                    stop_after_empty_page: true,
                });
            }
        }
        None
    }
}

/// The next-page request changes the paginator makes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NextRequest {
    /// Go to this URL (absolute or relative to the current one).
    Url(String),
    /// Set these query parameters.
    Params(Vec<(String, String)>),
}

/// A paginator while it runs.
#[derive(Debug)]
pub(crate) struct Pager {
    pub(crate) kind: Paginator,
    done: bool,
    next: Option<NextRequest>,
    offset: u64,
    page: u64,
}

impl Pager {
    pub(crate) fn new(kind: Paginator) -> Self {
        let (offset, page) = match &kind {
            Paginator::Offset { offset, .. } => (*offset, 0),
            Paginator::PageNumber { base_page, page, .. } => (0, page.unwrap_or(*base_page)),
            _ => (0, 0),
        };
        Pager { kind, done: false, next: None, offset, page }
    }

    /// Query parameters of the first request.
    pub(crate) fn initial_params(&self) -> Vec<(String, String)> {
        match &self.kind {
            Paginator::Offset { offset_param, limit_param, limit, .. } => {
                vec![(offset_param.clone(), self.offset.to_string()), (limit_param.clone(), limit.to_string())]
            }
            // Auto-detected page numbers start without the parameter.
            Paginator::PageNumber { page_param, .. } => vec![(page_param.clone(), self.page.to_string())],
            _ => Vec::new(),
        }
    }

    /// Takes a response: whether there is a next page and how to ask for it.
    pub(crate) fn update(&mut self, link_header: Option<&str>, body: &Json, records: usize) -> Result<(), String> {
        self.next = None;
        match &self.kind {
            Paginator::Auto => {
                self.kind = Paginator::detect(link_header, body).unwrap_or(Paginator::SinglePage);
                if self.kind == Paginator::SinglePage {
                    tracing::warn!("no paginator detected in the first response; reading one page (set a paginator to read more)");
                }
                if let Paginator::PageNumber { base_page, .. } = &self.kind {
                    self.page = *base_page;
                }
                return self.update(link_header, body, records);
            }
            Paginator::SinglePage => self.done = true,
            Paginator::JsonLink { next_url_path } => {
                let path = JsonPath::parse(next_url_path).map_err(|e| e.to_string())?;
                match path.first(body) {
                    Some(Json::String(s)) if !s.is_empty() => self.next = Some(NextRequest::Url(s.clone())),
                    Some(Json::Null) | None => self.done = true,
                    Some(Json::String(_)) => self.done = true,
                    Some(other) => return Err(format!("next URL at `{next_url_path}` is not a string: {other}")),
                }
            }
            Paginator::HeaderLink { links_next_key } => match link_header.and_then(|h| next_link(h, links_next_key)) {
                Some(url) => self.next = Some(NextRequest::Url(url)),
                None => self.done = true,
            },
            Paginator::Offset { limit, offset_param, limit_param, total_path, maximum_offset, stop_after_empty_page, .. } => {
                if records == 0 && *stop_after_empty_page {
                    self.done = true;
                    return Ok(());
                }
                self.offset += limit;
                let total = total_of(total_path.as_deref(), body)?;
                if total.is_some_and(|t| self.offset >= t) || maximum_offset.is_some_and(|m| self.offset >= m) {
                    self.done = true;
                } else {
                    self.next = Some(NextRequest::Params(vec![
                        (offset_param.clone(), self.offset.to_string()),
                        (limit_param.clone(), limit.to_string()),
                    ]));
                }
            }
            Paginator::PageNumber { base_page, page_param, total_path, maximum_page, stop_after_empty_page, .. } => {
                if records == 0 && *stop_after_empty_page {
                    self.done = true;
                    return Ok(());
                }
                self.page += 1;
                let total_pages = total_of(total_path.as_deref(), body)?;
                if total_pages.is_some_and(|t| self.page >= base_page + t) || maximum_page.is_some_and(|m| self.page > m) {
                    self.done = true;
                } else {
                    self.next = Some(NextRequest::Params(vec![(page_param.clone(), self.page.to_string())]));
                }
            }
            Paginator::Cursor { cursor_path, cursor_param } => {
                let path = JsonPath::parse(cursor_path).map_err(|e| e.to_string())?;
                match path.first(body) {
                    Some(Json::String(s)) if !s.is_empty() => self.next = Some(NextRequest::Params(vec![(cursor_param.clone(), s.clone())])),
                    Some(Json::Number(n)) => self.next = Some(NextRequest::Params(vec![(cursor_param.clone(), n.to_string())])),
                    _ => self.done = true,
                }
            }
        }
        if self.next.is_none() {
            self.done = true;
        }
        Ok(())
    }

    pub(crate) fn next_request(&self) -> Option<&NextRequest> {
        if self.done {
            None
        } else {
            self.next.as_ref()
        }
    }
}

fn total_of(total_path: Option<&str>, body: &Json) -> Result<Option<u64>, String> {
    let Some(path) = total_path else { return Ok(None) };
    let path = JsonPath::parse(path).map_err(|e| e.to_string())?;
    Ok(match path.first(body) {
        Some(Json::Number(n)) => n.as_u64(),
        Some(Json::String(s)) => s.parse().ok(),
        _ => None,
    })
}

/// The URL of the link with `rel` in a `Link` header (RFC 8288).
pub(crate) fn next_link(header: &str, rel: &str) -> Option<String> {
    for link in header.split(',') {
        let mut parts = link.split(';');
        let target = parts.next()?.trim();
        let url = target.strip_prefix('<')?.strip_suffix('>')?;
        for p in parts {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("rel=") {
                if v.trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case(rel)) {
                    return Some(url.to_owned());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(p: Paginator, pages: &[(Option<&str>, Json, usize)]) -> Vec<Option<NextRequest>> {
        let mut pager = Pager::new(p);
        pages
            .iter()
            .map(|(link, body, n)| {
                pager.update(*link, body, *n).unwrap();
                pager.next_request().cloned()
            })
            .collect()
    }

    #[test]
    fn config_forms() {
        assert_eq!(Paginator::from_json(&json!("json_link")).unwrap(), Paginator::json_link("next"));
        assert_eq!(Paginator::from_json(&json!({"type": "offset", "limit": 10})).unwrap(), Paginator::offset(10));
        assert!(Paginator::from_json(&json!("offset")).unwrap_err().contains("limit"));
        assert!(Paginator::from_json(&json!({"type": "nope"})).is_err());
        assert!(Paginator::from_json(&json!({"type": "cursor", "cursor_pth": "x"})).is_err(), "unknown fields are errors");
    }

    #[test]
    fn json_link_and_header_link() {
        let r = run(Paginator::json_link("links.next"), &[(None, json!({"links": {"next": "/p2"}}), 2), (None, json!({"links": {"next": null}}), 2)]);
        assert_eq!(r, vec![Some(NextRequest::Url("/p2".into())), None]);
        let link = r#"<https://x/items?page=2>; rel="next", <https://x/items?page=9>; rel="last""#;
        let r = run(Paginator::header_link(), &[(Some(link), json!([]), 1), (Some(r#"<https://x/items?page=1>; rel="prev""#), json!([]), 1)]);
        assert_eq!(r, vec![Some(NextRequest::Url("https://x/items?page=2".into())), None]);
    }

    #[test]
    fn offset_page_number_cursor() {
        let p = |o: u64| Some(NextRequest::Params(vec![("offset".into(), o.to_string()), ("limit".into(), "2".into())]));
        // Stops at the total, or at an empty page when there is none.
        assert_eq!(run(Paginator::offset(2), &[(None, json!({"total": 5}), 2), (None, json!({"total": 5}), 2), (None, json!({"total": 5}), 1)]), vec![p(2), p(4), None]);
        assert_eq!(run(Paginator::offset(2), &[(None, json!({}), 2), (None, json!({}), 0)]), vec![p(2), None]);
        assert_eq!(Pager::new(Paginator::offset(2)).initial_params(), vec![("offset".into(), "0".into()), ("limit".into(), "2".into())]);

        let pg = |n: u64| Some(NextRequest::Params(vec![("page".into(), n.to_string())]));
        assert_eq!(
            run(Paginator::page_number(1, Some("total_pages")), &[(None, json!({"total_pages": 3}), 5), (None, json!({"total_pages": 3}), 5), (None, json!({"total_pages": 3}), 5)]),
            vec![pg(2), pg(3), None]
        );
        assert_eq!(run(Paginator::page_number(0, None), &[(None, json!({}), 5), (None, json!({}), 0)]), vec![pg(1), None]);

        let c = |s: &str| Some(NextRequest::Params(vec![("cursor".into(), s.into())]));
        assert_eq!(run(Paginator::cursor("meta.next", "cursor"), &[(None, json!({"meta": {"next": "abc"}}), 1), (None, json!({"meta": {"next": ""}}), 1)]), vec![c("abc"), None]);
        assert_eq!(run(Paginator::SinglePage, &[(None, json!({"next": "/x"}), 1)]), vec![None]);
    }

    #[test]
    fn auto_detection() {
        assert_eq!(Paginator::detect(Some(r#"<http://x?p=2>; rel="next""#), &json!([])), Some(Paginator::header_link()));
        assert_eq!(Paginator::detect(None, &json!({"data": [], "next": "http://x/2"})), Some(Paginator::json_link("next")));
        assert_eq!(Paginator::detect(None, &json!({"data": [], "_links": {"next": {"href": "/2"}}})), Some(Paginator::json_link("_links.next.href")));
        assert_eq!(Paginator::detect(None, &json!({"items": [], "next_cursor": "c1"})), Some(Paginator::cursor("next_cursor", "cursor")));
        assert!(matches!(Paginator::detect(None, &json!({"items": [], "total_pages": 4})), Some(Paginator::PageNumber { base_page: 1, .. })));
        assert_eq!(Paginator::detect(None, &json!({"items": []})), None);
        assert_eq!(Paginator::detect(None, &json!([1, 2])), None);
        // Auto continues with what it found.
        let r = run(Paginator::Auto, &[(None, json!({"items": [1], "next": "/2"}), 1), (None, json!({"items": [1], "next": null}), 1)]);
        assert_eq!(r, vec![Some(NextRequest::Url("/2".into())), None]);
        let r = run(Paginator::Auto, &[(None, json!({"items": [1], "total_pages": 2}), 1), (None, json!({"items": [1], "total_pages": 2}), 1)]);
        assert_eq!(r, vec![Some(NextRequest::Params(vec![("page".into(), "2".into())])), None]);
    }
}
