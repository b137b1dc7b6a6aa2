//! The HTTP side: auth, timeouts, retries with backoff honouring `Retry-After`, redaction.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value as Json;

use super::RestError;
use etl_config::scrub;
use crate::Secret;

/// How requests authenticate (dlt's auth classes). In config: `{ type = "bearer", token = ".." }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// HTTP basic auth.
    HttpBasic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An API key in a header or a query parameter.
    ApiKey {
        /// Header or parameter name (default `Authorization`).
        #[serde(default = "default_key_name")]
        name: String,
        /// The key.
        api_key: Secret,
        /// `header` (default) or `query`.
        #[serde(default)]
        location: KeyLocation,
    },
    /// OAuth2 client credentials: a token from `access_token_url`, sent as a bearer token and
    /// fetched again when it expires or a request gets 401.
    Oauth2ClientCredentials {
        /// Token endpoint.
        access_token_url: String,
        /// Client id.
        client_id: Secret,
        /// Client secret.
        client_secret: Secret,
        /// Space-separated scopes.
        #[serde(default)]
        scopes: Option<String>,
        /// Extra form fields of the token request.
        #[serde(default)]
        access_token_request_data: BTreeMap<String, String>,
    },
}

fn default_key_name() -> String {
    "Authorization".into()
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    /// A header.
    #[default]
    Header,
    /// A query parameter.
    Query,
}

impl Auth {
    /// Bearer token.
    pub fn bearer(token: impl Into<Secret>) -> Self {
        Auth::Bearer { token: token.into() }
    }
    /// Basic auth.
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Auth::HttpBasic { username: username.into(), password: password.into() }
    }
    /// API key in a header.
    pub fn api_key_header(name: impl Into<String>, key: impl Into<Secret>) -> Self {
        Auth::ApiKey { name: name.into(), api_key: key.into(), location: KeyLocation::Header }
    }
    /// API key in a query parameter.
    pub fn api_key_query(name: impl Into<String>, key: impl Into<Secret>) -> Self {
        Auth::ApiKey { name: name.into(), api_key: key.into(), location: KeyLocation::Query }
    }
    /// OAuth2 client credentials.
    pub fn oauth2_client_credentials(url: impl Into<String>, client_id: impl Into<Secret>, client_secret: impl Into<Secret>) -> Self {
        Auth::Oauth2ClientCredentials {
            access_token_url: url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            scopes: None,
            access_token_request_data: BTreeMap::new(),
        }
    }

    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Auth::Bearer { token } => vec![token.expose().to_owned()],
            Auth::HttpBasic { password, .. } => vec![password.expose().to_owned()],
            Auth::ApiKey { api_key, .. } => vec![api_key.expose().to_owned()],
            Auth::Oauth2ClientCredentials { client_id, client_secret, .. } => {
                vec![client_id.expose().to_owned(), client_secret.expose().to_owned()]
            }
        }
    }
}

/// Retry and timeout settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (on 429, 5xx, timeouts and connection errors).
    pub max_retries: u32,
    /// First backoff; doubled on each retry.
    pub backoff: Duration,
    /// Longest wait between attempts (also caps `Retry-After`).
    pub max_backoff: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 5, backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(60), timeout: Duration::from_secs(60) }
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: reqwest::Method,
    pub(crate) url: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) json: Option<Json>,
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) link: Option<String>,
    pub(crate) body: Json,
}

pub(crate) struct Client {
    http: reqwest::Client,
    auth: Option<Auth>,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
    secrets: Vec<String>,
    secret_params: Vec<String>,
    token: tokio::sync::Mutex<Option<(String, Option<std::time::Instant>)>>,
}

impl Client {
    pub(crate) fn new(auth: Option<Auth>, headers: Vec<(String, String)>, retry: RetryPolicy, extra_secrets: Vec<String>) -> Result<Self, RestError> {
        let http = reqwest::Client::builder()
            .timeout(retry.timeout)
            .connect_timeout(retry.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("etl-sources/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RestError::Client { message: e.to_string() })?;
        let mut secrets = auth.as_ref().map(Auth::secrets).unwrap_or_default();
        secrets.extend(extra_secrets);
        let secret_params = match &auth {
            Some(Auth::ApiKey { name, location: KeyLocation::Query, .. }) => vec![name.clone()],
            _ => Vec::new(),
        };
        Ok(Client { http, auth, headers, retry, secrets, secret_params, token: tokio::sync::Mutex::new(None) })
    }

    /// The URL with its query for messages: secret parameters and any secret value replaced.
    pub(crate) fn display_url(&self, url: &str, query: &[(String, String)]) -> String {
        let mut u = match url::Url::parse(url) {
            Ok(u) => u,
            Err(_) => return scrub(url, &self.secrets),
        };
        if u.password().is_some() {
            let _ = u.set_password(Some("***"));
        }
        let mut pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        pairs.extend(query.iter().cloned());
        if pairs.is_empty() {
            u.set_query(None);
        } else {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                let v = if self.secret_params.contains(k) { "***" } else { v.as_str() };
                ser.append_pair(k, v);
            }
            u.set_query(Some(&ser.finish()));
        }
        scrub(u.as_str(), &self.secrets).replace("%2A%2A%2A", "***")
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }

    async fn bearer_token(&self, refresh: bool) -> Result<Option<String>, RestError> {
        let Some(Auth::Oauth2ClientCredentials { access_token_url, client_id, client_secret, scopes, access_token_request_data }) = &self.auth
        else {
            return Ok(None);
        };
        let mut slot = self.token.lock().await;
        if let Some((token, expiry)) = slot.as_ref() {
            if !refresh && expiry.is_none_or(|e| e > std::time::Instant::now()) {
                return Ok(Some(token.clone()));
            }
        }
        let mut form: Vec<(String, String)> = vec![("grant_type".into(), "client_credentials".into())];
        if let Some(s) = scopes {
            form.push(("scope".into(), s.clone()));
        }
        form.extend(access_token_request_data.iter().map(|(k, v)| (k.clone(), v.clone())));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client_id.expose(), client_secret.expose()));
        let url = self.display_url(access_token_url, &[]);
        let resp = self
            .http
            .post(access_token_url)
            .header("Authorization", format!("Basic {basic}"))
            .form(&form)
            .send()
            .await
            .map_err(|e| RestError::Auth { url: url.clone(), message: self.scrub(&error_chain(e.without_url())) })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(RestError::Auth { url, message: format!("HTTP {status}: {}", self.scrub(&truncate(&text))) });
        }
        let body: Json = serde_json::from_str(&text).map_err(|e| RestError::Auth { url: url.clone(), message: format!("response is not JSON: {e}") })?;
        let token = body.get("access_token").and_then(Json::as_str).ok_or_else(|| RestError::Auth { url, message: "no `access_token` in the response".into() })?;
        let expiry = body.get("expires_in").and_then(Json::as_u64).map(|s| std::time::Instant::now() + Duration::from_secs(s.saturating_sub(10)));
        *slot = Some((token.to_owned(), expiry));
        Ok(Some(token.to_owned()))
    }

    /// Sends a request, retrying on 429, 5xx, timeouts and connection errors.
    pub(crate) async fn send(&self, resource: &str, req: &Req) -> Result<Page, RestError> {
        let shown = self.display_url(&req.url, &req.query);
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let mut query = req.query.clone();
            let mut rb = self.http.request(req.method.clone(), &req.url);
            for (k, v) in self.headers.iter().chain(&req.headers) {
                rb = rb.header(k, v);
            }
            match &self.auth {
                Some(Auth::Bearer { token }) => rb = rb.bearer_auth(token.expose()),
                Some(Auth::HttpBasic { username, password }) => rb = rb.basic_auth(username, Some(password.expose())),
                Some(Auth::ApiKey { name, api_key, location: KeyLocation::Header }) => rb = rb.header(name, api_key.expose()),
                Some(Auth::ApiKey { name, api_key, location: KeyLocation::Query }) => query.push((name.clone(), api_key.expose().to_owned())),
                Some(Auth::Oauth2ClientCredentials { .. }) => {
                    if let Some(t) = self.bearer_token(false).await? {
                        rb = rb.bearer_auth(t);
                    }
                }
                None => {}
            }
            if !query.is_empty() {
                rb = rb.query(&query);
            }
            if let Some(body) = &req.json {
                rb = rb.json(body);
            }
            tracing::debug!(resource, url = %shown, attempt, "request");
            let retry_wait = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        let link = resp.headers().get("link").and_then(|v| v.to_str().ok()).map(str::to_owned);
                        let bytes = resp.bytes().await.map_err(|e| RestError::Transport {
                            resource: resource.into(),
                            url: shown.clone(),
                            attempts: attempt,
                            message: self.scrub(&error_chain(e.without_url())),
                        })?;
                        let body: Json = if bytes.iter().all(u8::is_ascii_whitespace) {
                            Json::Null
                        } else {
                            serde_json::from_slice(&bytes).map_err(|e| RestError::Malformed {
                                resource: resource.into(),
                                url: shown.clone(),
                                message: format!("response is not JSON ({e}); it starts with {:?}", self.scrub(&truncate(&String::from_utf8_lossy(&bytes)))),
                            })?
                        };
                        return Ok(Page { link, body });
                    }
                    if status == reqwest::StatusCode::UNAUTHORIZED && !refreshed && matches!(self.auth, Some(Auth::Oauth2ClientCredentials { .. })) {
                        refreshed = true;
                        self.bearer_token(true).await?;
                        attempt -= 1;
                        continue;
                    }
                    let retryable = status == reqwest::StatusCode::TOO_MANY_REQUESTS || status == reqwest::StatusCode::REQUEST_TIMEOUT || status.is_server_error();
                    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
                    let text = resp.text().await.unwrap_or_default();
                    if !retryable || attempt > self.retry.max_retries {
                        return Err(RestError::Status {
                            resource: resource.into(),
                            url: shown,
                            status: status.as_u16(),
                            attempts: attempt,
                            body: self.scrub(&truncate(&text)),
                        });
                    }
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt)).min(self.retry.max_backoff);
                    tracing::warn!(resource, url = %shown, status = status.as_u16(), attempt, wait_ms = wait.as_millis() as u64, "retrying");
                    wait
                }
                Err(e) => {
                    let retryable = e.is_timeout() || e.is_connect() || e.is_request();
                    let message = self.scrub(&error_chain(e.without_url()));
                    if !retryable || attempt > self.retry.max_retries {
                        return Err(RestError::Transport { resource: resource.into(), url: shown, attempts: attempt, message });
                    }
                    let wait = self.backoff(attempt);
                    tracing::warn!(resource, url = %shown, error = %message, attempt, wait_ms = wait.as_millis() as u64, "retrying");
                    wait
                }
            };
            tokio::time::sleep(retry_wait).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.retry.backoff.saturating_mul(factor).min(self.retry.max_backoff)
    }
}

/// An error with its causes (`error sending request: ... Connection refused`).
fn error_chain(e: reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `Retry-After`: seconds or an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn truncate(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &t[..i]),
        None => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn urls_in_messages_hide_secrets() {
        let c = Client::new(Some(Auth::api_key_query("api_key", "s3cr3t-key")), vec![], RetryPolicy::default(), vec![]).unwrap();
        let shown = c.display_url("http://user:pw@h/x?a=1", &[("api_key".into(), "s3cr3t-key".into()), ("b".into(), "2".into())]);
        assert_eq!(shown, "http://user:***@h/x?a=1&api_key=***&b=2");
        let c = Client::new(Some(Auth::bearer("tok-123456")), vec![], RetryPolicy::default(), vec![]).unwrap();
        assert_eq!(c.display_url("http://h/x", &[("q".into(), "tok-123456".into())]), "http://h/x?q=***");
        assert_eq!(c.backoff(1), Duration::from_secs(1));
        assert_eq!(c.backoff(3), Duration::from_secs(4));
        assert_eq!(c.backoff(30), Duration::from_secs(60));
    }
}
