//! The rules every request passes:
//!
//! - with a token (`--token`, required off loopback), every request carries it: the header
//!   `Authorization: Bearer <token>`, the cookie `etl_ui_token`, or once `?token=` in a
//!   browser (which then gets the cookie);
//! - every POST is from a non-browser client (it carries the token in its header, or comes from
//!   loopback without an `Origin` header), or from this server's own pages: its `Origin` is the
//!   server's and it carries the server's CSRF token (form field `csrf` or header
//!   `X-CSRF-Token`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;

/// Comparing secrets in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn query_token(uri: &axum::http::Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| kv.strip_prefix("token=").map(str::to_owned))
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, why.to_owned()).into_response()
}

/// The middleware: the token, then the POST rules.
pub async fn guard(State(app): State<Arc<App>>, request: Request<Body>, next: Next) -> Response {
    let headers = request.headers();
    let mut set_cookie = None;
    let header_token = bearer(headers).is_some_and(|t| app.token.as_deref().is_some_and(|mine| same(t, mine)));
    if let Some(mine) = &app.token {
        let by_cookie = cookie(headers, "etl_ui_token").is_some_and(|t| same(t, mine));
        let by_query = query_token(request.uri()).is_some_and(|t| same(&t, mine));
        if !(header_token || by_cookie || by_query) {
            return refuse(StatusCode::UNAUTHORIZED, "this UI needs its token: `Authorization: Bearer <token>`, or open it once with `?token=<token>`");
        }
        if by_query && !by_cookie {
            set_cookie = Some(format!("etl_ui_token={mine}; HttpOnly; SameSite=Strict; Path=/"));
        }
    }
    if request.method() == Method::POST {
        let loopback = request.extensions().get::<ConnectInfo<SocketAddr>>().is_some_and(|c| c.0.ip().is_loopback());
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let non_browser = header_token || (loopback && origin.is_none());
        if !non_browser {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            let own = origin.is_some_and(|o| o == format!("http://{host}") || o == format!("https://{host}"));
            if !own {
                return refuse(StatusCode::FORBIDDEN, "a POST from another origin is refused");
            }
            let by_header = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).is_some_and(|t| same(t, &app.csrf));
            if !by_header {
                // A form post: the token is a field of the body; read it, then hand the body on.
                let (parts, body) = request.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
                    return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large");
                };
                let field = form_field(&bytes, "csrf");
                if !field.is_some_and(|t| same(&t, &app.csrf)) {
                    return refuse(StatusCode::FORBIDDEN, "the form's CSRF token is missing or wrong; reload the page");
                }
                let request = Request::from_parts(parts, Body::from(bytes));
                return with_cookie(next.run(request).await, set_cookie);
            }
        }
    }
    with_cookie(next.run(request).await, set_cookie)
}

fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(c) = cookie.and_then(|c| c.parse().ok()) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// A field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole_and_cookies_and_fields_are_found() {
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; etl_ui_token=t0k; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "etl_ui_token"), Some("t0k"));
        assert_eq!(form_field(b"select=a%2Bb&csrf=xyz", "csrf").as_deref(), Some("xyz"));
        assert_eq!(form_field(b"select=a", "csrf"), None);
    }
}
