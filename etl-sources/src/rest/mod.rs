//! Declarative REST API sources (dlt's `rest_api`): a client (base URL, headers, auth,
//! paginator, retries) and resources (endpoint path, params, data selector, parent/child,
//! incremental window), from a Rust builder or from TOML/JSON.
//!
//! ```no_run
//! use etl_sources::rest::{Auth, Incremental, Paginator, RestApi, RestResource};
//!
//! let api = RestApi::new("https://api.example.com/v1")
//!     .auth(Auth::bearer("token"))
//!     .paginator(Paginator::json_link("links.next"))
//!     .resource(
//!         RestResource::new("issues")
//!             .path("issues")
//!             .param("state", "open")
//!             .data_selector("data")
//!             .primary_key(["id"])
//!             .incremental(Incremental::new("updated_at").start_param("since").initial_value("2024-01-01T00:00:00Z")),
//!     )
//!     .resource(RestResource::new("comments").path("issues/{resources.issues.number}/comments").include_from_parent(["id"]));
//! let source = api.source("github").unwrap();
//! ```
//!
//! The same in TOML ([`RestApi::from_toml_str`]):
//!
//! ```toml
//! [client]
//! base_url = "https://api.example.com/v1"
//! auth = { type = "bearer", token = "..." }
//! paginator = { type = "json_link", next_url_path = "links.next" }
//!
//! [[resources]]
//! name = "issues"
//! primary_key = "id"
//! endpoint = { path = "issues", params = { state = "open" }, data_selector = "data",
//!              incremental = { cursor_path = "updated_at", start_param = "since", initial_value = "2024-01-01T00:00:00Z" } }
//!
//! [[resources]]
//! name = "comments"
//! endpoint = { path = "issues/{resources.issues.number}/comments" }
//! include_from_parent = ["id"]
//! ```
//!
//! - Placeholders in paths and parameter values: `{resources.<parent>.<field>}` (a field of
//!   each parent record; the child is requested once per parent record), dlt's older
//!   `{name}` with `params.name = { type = "resolve", resource = "<parent>", field = "<field>" }`,
//!   and `{incremental.start_value}` / `{incremental.end_value}` / `{incremental.last_value}`.
//! - `incremental` makes the resource incremental on `cursor_path` (the pipeline filters rows
//!   and stores the cursor) and sends the window as `start_param` / `end_param`, so a second
//!   run asks only for new data.
//! - A child resource reads its parent's records itself (with the parent's initial window),
//!   so it can be selected alone.
//! - Requests are retried on 429, 5xx, timeouts and connection errors with exponential
//!   backoff, waiting what `Retry-After` asks for. Errors name the resource and the URL with
//!   secrets replaced by `***`.
//! - HTTP runs on a tokio runtime in a thread of its own per resource run; pages reach the
//!   pipeline through a bounded channel, so a fast API waits for the loader.

mod client;
mod paginator;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Duration;

use etl_core::resource::{BoxError, Items, ResourceContext};
use etl_core::{Resource, ResourceHints, Source, Value, WriteDisposition};
use serde::{Deserialize, Deserializer};
use serde_json::Value as Json;

pub use client::{Auth, KeyLocation, RetryPolicy};
use client::{Client, Req};
pub use paginator::Paginator;
use paginator::{NextRequest, Pager};

use crate::jsonpath::JsonPath;

/// Pages buffered between the HTTP thread and the pipeline.
pub const PAGES_IN_FLIGHT: usize = 4;

/// Errors of REST sources. URLs are shown with secrets replaced by `***`.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The configuration is invalid.
    #[error("invalid REST API config: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// A resource is misconfigured or its data does not fit it.
    #[error("resource `{resource}`: {message}")]
    Resource {
        /// The resource.
        resource: String,
        /// What is wrong.
        message: String,
    },
    /// The server answered with an error status (after the retries, for retryable ones).
    #[error("resource `{resource}`: {url}: HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        /// The resource.
        resource: String,
        /// The URL (redacted).
        url: String,
        /// The status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// Start of the response body (redacted).
        body: String,
    },
    /// The request failed (connection, timeout, ...).
    #[error("resource `{resource}`: {url}: {message} (after {attempts} attempt(s))")]
    Transport {
        /// The resource.
        resource: String,
        /// The URL (redacted).
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What happened.
        message: String,
    },
    /// The response cannot be used (not JSON, data selector matches nothing, bad next link).
    #[error("resource `{resource}`: {url}: {message}")]
    Malformed {
        /// The resource.
        resource: String,
        /// The URL (redacted).
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The OAuth2 token request failed.
    #[error("OAuth2 token request to {url} failed: {message}")]
    Auth {
        /// The token URL (redacted).
        url: String,
        /// What happened.
        message: String,
    },
    /// The HTTP client cannot be built.
    #[error("HTTP client: {message}")]
    Client {
        /// What happened.
        message: String,
    },
}

fn config_err(message: impl Into<String>) -> RestError {
    RestError::Config { message: message.into() }
}

fn de_paginator<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Paginator>, D::Error> {
    let v = Option::<Json>::deserialize(d)?;
    v.map(|v| Paginator::from_json(&v).map_err(serde::de::Error::custom)).transpose()
}

/// Client settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL; endpoint paths are relative to it.
    pub base_url: String,
    /// Headers of every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Authentication.
    #[serde(default)]
    pub auth: Option<Auth>,
    /// Default paginator (default: auto-detected).
    #[serde(default, deserialize_with = "de_paginator")]
    pub paginator: Option<Paginator>,
    /// Timeout of one request in seconds (default 60).
    #[serde(default)]
    pub timeout_secs: Option<f64>,
    /// Retries of a failed request (default 5).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// First backoff in seconds, doubled per retry (default 1).
    #[serde(default)]
    pub backoff_secs: Option<f64>,
    /// Longest wait between attempts in seconds, `Retry-After` included (default 60).
    #[serde(default)]
    pub max_backoff_secs: Option<f64>,
}

/// One or more column names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Keys {
    /// One column.
    One(String),
    /// Several columns.
    Many(Vec<String>),
}

impl Keys {
    fn to_vec(&self) -> Vec<String> {
        match self {
            Keys::One(k) => vec![k.clone()],
            Keys::Many(k) => k.clone(),
        }
    }
}

/// The incremental window of an endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// Cursor field of the records (a path like `updated_at` or `meta.updated_at`).
    pub cursor_path: String,
    /// Query parameter that gets the window's start (the last cursor value, or the initial value).
    #[serde(default)]
    pub start_param: Option<String>,
    /// Query parameter that gets the window's end, if there is one.
    #[serde(default)]
    pub end_param: Option<String>,
    /// Start of the window on the first run.
    #[serde(default)]
    pub initial_value: Option<Json>,
    /// End of the window (a backfill; nothing is stored between runs).
    #[serde(default)]
    pub end_value: Option<Json>,
}

impl Incremental {
    /// A cursor on `cursor_path`.
    pub fn new(cursor_path: impl Into<String>) -> Self {
        Incremental { cursor_path: cursor_path.into(), start_param: None, end_param: None, initial_value: None, end_value: None }
    }
    /// The start parameter.
    pub fn start_param(mut self, p: impl Into<String>) -> Self {
        self.start_param = Some(p.into());
        self
    }
    /// The end parameter.
    pub fn end_param(mut self, p: impl Into<String>) -> Self {
        self.end_param = Some(p.into());
        self
    }
    /// The initial value.
    pub fn initial_value(mut self, v: impl Into<Json>) -> Self {
        self.initial_value = Some(v.into());
        self
    }
    /// The end value.
    pub fn end_value(mut self, v: impl Into<Json>) -> Self {
        self.end_value = Some(v.into());
        self
    }
}

/// The request side of a resource.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Path relative to the base URL (or an absolute URL); may hold placeholders.
    #[serde(default)]
    pub path: Option<String>,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: Option<String>,
    /// Query parameters: values, placeholders, or `{ type = "resolve", resource, field }`.
    #[serde(default)]
    pub params: BTreeMap<String, Json>,
    /// JSON body (for `POST`); strings may hold placeholders.
    #[serde(default)]
    pub json: Option<Json>,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Paginator of this endpoint.
    #[serde(default, deserialize_with = "de_paginator")]
    pub paginator: Option<Paginator>,
    /// JSONPath of the records in a response (default: found automatically).
    #[serde(default)]
    pub data_selector: Option<String>,
    /// Incremental window.
    #[serde(default)]
    pub incremental: Option<Incremental>,
}

/// A resource of a REST API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestResource {
    /// Resource name (and default table name).
    pub name: String,
    /// The request.
    #[serde(default)]
    pub endpoint: Endpoint,
    /// Primary key.
    #[serde(default)]
    pub primary_key: Option<Keys>,
    /// Merge key.
    #[serde(default)]
    pub merge_key: Option<Keys>,
    /// `append` (default), `replace` or `merge`.
    #[serde(default)]
    pub write_disposition: Option<String>,
    /// Table name.
    #[serde(default)]
    pub table_name: Option<String>,
    /// Whether the resource runs with its source (default yes).
    #[serde(default)]
    pub selected: Option<bool>,
    /// Parent fields copied into each record as `_<parent>_<field>`.
    #[serde(default)]
    pub include_from_parent: Vec<String>,
    /// Nesting depth of child tables.
    #[serde(default)]
    pub max_table_nesting: Option<u32>,
}

impl RestResource {
    /// A resource whose path is its name.
    pub fn new(name: impl Into<String>) -> Self {
        RestResource {
            name: name.into(),
            endpoint: Endpoint::default(),
            primary_key: None,
            merge_key: None,
            write_disposition: None,
            table_name: None,
            selected: None,
            include_from_parent: Vec::new(),
            max_table_nesting: None,
        }
    }
    /// The path.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.endpoint.path = Some(path.into());
        self
    }
    /// The method.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.endpoint.method = Some(method.into());
        self
    }
    /// A query parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Json>) -> Self {
        self.endpoint.params.insert(name.into(), value.into());
        self
    }
    /// A JSON body.
    pub fn json_body(mut self, body: Json) -> Self {
        self.endpoint.json = Some(body);
        self
    }
    /// A header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.endpoint.headers.insert(name.into(), value.into());
        self
    }
    /// The paginator.
    pub fn paginator(mut self, p: Paginator) -> Self {
        self.endpoint.paginator = Some(p);
        self
    }
    /// The data selector.
    pub fn data_selector(mut self, path: impl Into<String>) -> Self {
        self.endpoint.data_selector = Some(path.into());
        self
    }
    /// The incremental window.
    pub fn incremental(mut self, inc: Incremental) -> Self {
        self.endpoint.incremental = Some(inc);
        self
    }
    /// The primary key.
    pub fn primary_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.primary_key = Some(Keys::Many(cols.into_iter().map(Into::into).collect()));
        self
    }
    /// The write disposition.
    pub fn write_disposition(mut self, wd: WriteDisposition) -> Self {
        self.write_disposition = Some(match wd {
            WriteDisposition::Append => "append",
            WriteDisposition::Replace => "replace",
            WriteDisposition::Merge => "merge",
            #[allow(unreachable_patterns)]
            _ => "append",
        }.into());
        self
    }
    /// The table name.
    pub fn table_name(mut self, t: impl Into<String>) -> Self {
        self.table_name = Some(t.into());
        self
    }
    /// Parent fields to copy.
    pub fn include_from_parent<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.include_from_parent = fields.into_iter().map(Into::into).collect();
        self
    }
}

/// Settings every resource starts from (dlt's `resource_defaults`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDefaults {
    /// Endpoint defaults: params and headers are merged (the resource's win), the rest is
    /// used when the resource has none.
    #[serde(default)]
    pub endpoint: Endpoint,
    /// Default primary key.
    #[serde(default)]
    pub primary_key: Option<Keys>,
    /// Default write disposition.
    #[serde(default)]
    pub write_disposition: Option<String>,
    /// Default nesting depth.
    #[serde(default)]
    pub max_table_nesting: Option<u32>,
}

/// A declarative REST API: client settings and resources.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestApi {
    /// Client settings.
    pub client: ClientConfig,
    /// Defaults of every resource.
    #[serde(default)]
    pub resource_defaults: ResourceDefaults,
    /// The resources.
    #[serde(default)]
    pub resources: Vec<RestResource>,
}

impl RestApi {
    /// An API at `base_url` with no resources.
    pub fn new(base_url: impl Into<String>) -> Self {
        RestApi {
            client: ClientConfig {
                base_url: base_url.into(),
                headers: BTreeMap::new(),
                auth: None,
                paginator: None,
                timeout_secs: None,
                max_retries: None,
                backoff_secs: None,
                max_backoff_secs: None,
            },
            resource_defaults: ResourceDefaults::default(),
            resources: Vec::new(),
        }
    }

    /// Reads the config from JSON. Resources may be just names (`"users"`) and endpoints just
    /// paths.
    pub fn from_json(v: Json) -> Result<Self, RestError> {
        let mut v = v;
        if let Some(Json::Array(resources)) = v.get_mut("resources") {
            for r in resources.iter_mut() {
                if let Json::String(name) = r {
                    *r = serde_json::json!({ "name": name });
                }
                if let Some(ep @ Json::String(_)) = r.get_mut("endpoint") {
                    *ep = serde_json::json!({ "path": ep.as_str() });
                }
            }
        }
        serde_json::from_value(v).map_err(|e| config_err(e.to_string()))
    }

    /// Reads the config from JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, RestError> {
        RestApi::from_json(serde_json::from_str(text).map_err(|e| config_err(format!("not JSON: {e}")))?)
    }

    /// Reads the config from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, RestError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| config_err(format!("not TOML: {}", e.message())))?;
        RestApi::from_json(serde_json::to_value(table).map_err(|e| config_err(e.to_string()))?)
    }

    /// Sets the authentication.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.client.auth = Some(auth);
        self
    }
    /// Adds a header to every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.client.headers.insert(name.into(), value.into());
        self
    }
    /// Sets the default paginator.
    pub fn paginator(mut self, p: Paginator) -> Self {
        self.client.paginator = Some(p);
        self
    }
    /// Sets the timeout of one request.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.client.timeout_secs = Some(t.as_secs_f64());
        self
    }
    /// Sets the retries and the first backoff.
    pub fn retries(mut self, max_retries: u32, backoff: Duration) -> Self {
        self.client.max_retries = Some(max_retries);
        self.client.backoff_secs = Some(backoff.as_secs_f64());
        self
    }
    /// Sets the resource defaults.
    pub fn defaults(mut self, d: ResourceDefaults) -> Self {
        self.resource_defaults = d;
        self
    }
    /// Adds a resource.
    pub fn resource(mut self, r: RestResource) -> Self {
        self.resources.push(r);
        self
    }

    fn retry_policy(&self) -> RetryPolicy {
        let d = RetryPolicy::default();
        let secs = |v: Option<f64>, dflt: Duration| v.filter(|s| s.is_finite() && *s >= 0.0).map_or(dflt, Duration::from_secs_f64);
        RetryPolicy {
            max_retries: self.client.max_retries.unwrap_or(d.max_retries),
            backoff: secs(self.client.backoff_secs, d.backoff),
            max_backoff: secs(self.client.max_backoff_secs, d.max_backoff),
            timeout: secs(self.client.timeout_secs, d.timeout),
        }
    }

    /// The resources, validated (unknown parents, cycles, placeholders, selectors).
    pub fn resources(&self) -> Result<Vec<Resource>, RestError> {
        url::Url::parse(&self.client.base_url).map_err(|e| config_err(format!("base_url `{}`: {e}", self.client.base_url)))?;
        let mut names = std::collections::HashSet::new();
        for r in &self.resources {
            if !names.insert(r.name.as_str()) {
                return Err(config_err(format!("two resources named `{}`", r.name)));
            }
        }
        let mut plans: HashMap<String, Arc<Plan>> = HashMap::new();
        for r in &self.resources {
            self.plan(&r.name, &mut plans, &mut Vec::new())?;
        }
        let shared = Arc::new(Shared {
            auth: self.client.auth.clone(),
            headers: self.client.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            retry: self.retry_policy(),
        });
        let mut out = Vec::new();
        for r in &self.resources {
            let merged = self.merged(r);
            let plan = plans[&r.name].clone();
            let mut hints = ResourceHints::new(r.name.clone());
            hints.table_name = merged.table_name.clone();
            hints.primary_key = merged.primary_key.as_ref().map(Keys::to_vec).unwrap_or_default();
            hints.merge_key = merged.merge_key.as_ref().map(Keys::to_vec).unwrap_or_default();
            hints.write_disposition = match merged.write_disposition.as_deref() {
                None | Some("append") => WriteDisposition::Append,
                Some("replace") => WriteDisposition::Replace,
                Some("merge") => WriteDisposition::Merge,
                Some(other) => {
                    return Err(RestError::Resource {
                        resource: r.name.clone(),
                        message: format!("write_disposition `{other}`: expected append, replace or merge"),
                    })
                }
            };
            hints.selected = merged.selected.unwrap_or(true);
            hints.max_table_nesting = merged.max_table_nesting;
            // Its HTTP already runs on a thread of its own behind a bounded channel: the
            // pipeline may start it ahead, so the endpoints of a source are fetched at once.
            hints.parallelized = true;
            if let Some(inc) = &plan.incremental {
                let mut i = etl_core::Incremental::new(inc.cursor_path.clone());
                i.initial_value = inc.initial_value.clone();
                i.end_value = inc.end_value.clone();
                hints.incremental = Some(i);
            }
            let shared = shared.clone();
            out.push(Resource::with_context(hints, move |cx: &ResourceContext| run(shared, plan, cx)));
        }
        Ok(out)
    }

    /// The resources as a source named `name` (the schema name).
    pub fn source(&self, name: &str) -> Result<Source, RestError> {
        Source::with(name, self.resources()?).map_err(|e| config_err(e.to_string()))
    }

    fn merged(&self, r: &RestResource) -> RestResource {
        let d = &self.resource_defaults;
        let mut m = r.clone();
        let mut params = d.endpoint.params.clone();
        params.extend(r.endpoint.params.clone());
        m.endpoint.params = params;
        let mut headers = d.endpoint.headers.clone();
        headers.extend(r.endpoint.headers.clone());
        m.endpoint.headers = headers;
        m.endpoint.method = m.endpoint.method.or_else(|| d.endpoint.method.clone());
        m.endpoint.paginator = m.endpoint.paginator.or_else(|| d.endpoint.paginator.clone());
        m.endpoint.data_selector = m.endpoint.data_selector.or_else(|| d.endpoint.data_selector.clone());
        m.endpoint.incremental = m.endpoint.incremental.or_else(|| d.endpoint.incremental.clone());
        m.primary_key = m.primary_key.or_else(|| d.primary_key.clone());
        m.write_disposition = m.write_disposition.or_else(|| d.write_disposition.clone());
        m.max_table_nesting = m.max_table_nesting.or(d.max_table_nesting);
        m
    }

    fn plan(&self, name: &str, plans: &mut HashMap<String, Arc<Plan>>, stack: &mut Vec<String>) -> Result<Arc<Plan>, RestError> {
        if let Some(p) = plans.get(name) {
            return Ok(p.clone());
        }
        if stack.iter().any(|s| s == name) {
            stack.push(name.to_owned());
            return Err(config_err(format!("resources depend on each other in a cycle: {}", stack.join(" -> "))));
        }
        let r = self.resources.iter().find(|r| r.name == name).expect("checked by the caller");
        let r = self.merged(r);
        let bad = |message: String| RestError::Resource { resource: name.to_owned(), message };
        let path = r.endpoint.path.clone().unwrap_or_else(|| r.name.clone());
        let method = match r.endpoint.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("GET") => reqwest::Method::GET,
            Some("POST") => reqwest::Method::POST,
            Some(other) => return Err(bad(format!("method `{other}`: expected GET or POST"))),
        };
        // Parents named by placeholders or resolve params.
        let mut parents: Vec<String> = Vec::new();
        let mut params = Vec::new();
        let mut resolve = BTreeMap::new();
        let mut templates: Vec<String> = vec![path.clone()];
        let mut incremental = r.endpoint.incremental.clone();
        for (k, v) in &r.endpoint.params {
            match v.get("type").and_then(Json::as_str) {
                Some("resolve") => {
                    let (Some(res), Some(field)) = (v.get("resource").and_then(Json::as_str), v.get("field").and_then(Json::as_str)) else {
                        return Err(bad(format!("param `{k}`: a resolve param needs `resource` and `field`")));
                    };
                    parents.push(res.to_owned());
                    resolve.insert(k.clone(), field.to_owned());
                }
                Some("incremental") => {
                    let inc: Incremental = serde_json::from_value(strip_type(v)).map_err(|e| bad(format!("param `{k}`: {e}")))?;
                    incremental = Some(Incremental { start_param: Some(k.clone()), ..inc });
                }
                _ => {
                    collect_strings(v, &mut templates);
                    params.push((k.clone(), v.clone()));
                }
            }
        }
        if let Some(j) = &r.endpoint.json {
            collect_strings(j, &mut templates);
        }
        for t in &templates {
            for ph in placeholders(t) {
                if let Some(rest) = ph.strip_prefix("resources.") {
                    let (parent, field) = rest.split_once('.').ok_or_else(|| bad(format!("placeholder `{{{ph}}}`: expected `{{resources.<resource>.<field>}}`")))?;
                    JsonPath::parse(field).map_err(|e| bad(format!("placeholder `{{{ph}}}`: {e}")))?;
                    parents.push(parent.to_owned());
                } else if ph.starts_with("incremental.") {
                    if !matches!(ph.as_str(), "incremental.start_value" | "incremental.end_value" | "incremental.last_value") {
                        return Err(bad(format!("placeholder `{{{ph}}}`: expected incremental.start_value, end_value or last_value")));
                    }
                    if incremental.is_none() {
                        return Err(bad(format!("placeholder `{{{ph}}}` needs an `incremental` setting")));
                    }
                } else if !resolve.contains_key(&ph) {
                    return Err(bad(format!("placeholder `{{{ph}}}` is neither `resources.<resource>.<field>`, `incremental.*` nor a resolve param")));
                }
            }
        }
        parents.sort();
        parents.dedup();
        if parents.len() > 1 {
            return Err(bad(format!("more than one parent resource: {}", parents.join(", "))));
        }
        let parent = match parents.first() {
            None => None,
            Some(p) if p == name => return Err(bad("a resource cannot be its own parent".into())),
            Some(p) => {
                if !self.resources.iter().any(|r| &r.name == p) {
                    let known: Vec<&str> = self.resources.iter().map(|r| r.name.as_str()).collect();
                    return Err(bad(format!("unknown parent resource `{p}`; resources are: {}", known.join(", "))));
                }
                stack.push(name.to_owned());
                let plan = self.plan(p, plans, stack)?;
                stack.pop();
                Some(plan)
            }
        };
        if !r.include_from_parent.is_empty() && parent.is_none() {
            return Err(bad("include_from_parent needs a parent resource".into()));
        }
        let selector = r
            .endpoint
            .data_selector
            .as_deref()
            .map(JsonPath::parse)
            .transpose()
            .map_err(|e| bad(format!("data_selector: {e}")))?;
        let paginator = r.endpoint.paginator.clone().or_else(|| self.client.paginator.clone()).unwrap_or(Paginator::Auto);
        let plan = Arc::new(Plan {
            name: name.to_owned(),
            base_url: self.client.base_url.clone(),
            method,
            path,
            params,
            resolve,
            json: r.endpoint.json.clone(),
            headers: r.endpoint.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            paginator,
            selector,
            parent,
            include: r.include_from_parent.clone(),
            incremental,
        });
        plans.insert(name.to_owned(), plan.clone());
        Ok(plan)
    }
}

fn strip_type(v: &Json) -> Json {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("type");
    }
    v
}

fn collect_strings(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::String(s) => out.push(s.clone()),
        Json::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Json::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// The `{...}` placeholders of a template.
fn placeholders(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else { break };
        out.push(rest[start + 1..start + end].trim().to_owned());
        rest = &rest[start + end + 1..];
    }
    out
}

/// Settings shared by a source's resources.
struct Shared {
    auth: Option<Auth>,
    headers: Vec<(String, String)>,
    retry: RetryPolicy,
}

/// A validated resource.
#[derive(Debug)]
struct Plan {
    name: String,
    base_url: String,
    method: reqwest::Method,
    path: String,
    params: Vec<(String, Json)>,
    resolve: BTreeMap<String, String>,
    json: Option<Json>,
    headers: Vec<(String, String)>,
    paginator: Paginator,
    selector: Option<JsonPath>,
    parent: Option<Arc<Plan>>,
    include: Vec<String>,
    incremental: Option<Incremental>,
}

/// The incremental window of a run.
#[derive(Debug, Clone, Default)]
struct Window {
    start: Option<Json>,
    end: Option<Json>,
    last: Option<Json>,
}

impl Window {
    fn initial(inc: Option<&Incremental>) -> Self {
        Window { start: inc.and_then(|i| i.initial_value.clone()), end: inc.and_then(|i| i.end_value.clone()), last: None }
    }
}

fn text_of(v: &Json) -> Option<String> {
    match v {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Fills the placeholders of `t`; `None` when the template is one placeholder with no value.
fn render(t: &str, plan: &Plan, window: &Window, parent: Option<&Json>, encode: bool) -> Result<Option<String>, String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else { break };
        out.push_str(&rest[..start]);
        let ph = rest[start + 1..start + end].trim();
        let value: Option<String> = if let Some(inc) = ph.strip_prefix("incremental.") {
            match inc {
                "start_value" => window.start.as_ref().and_then(text_of),
                "end_value" => window.end.as_ref().and_then(text_of),
                _ => window.last.as_ref().and_then(text_of),
            }
        } else {
            let field = match ph.strip_prefix("resources.") {
                Some(r) => r.split_once('.').map(|(_, f)| f.to_owned()).unwrap_or_default(),
                None => plan.resolve.get(ph).cloned().unwrap_or_default(),
            };
            let record = parent.ok_or_else(|| format!("placeholder `{{{ph}}}` without a parent record"))?;
            let path = JsonPath::parse(&field).map_err(|e| e.to_string())?;
            match path.first(record).and_then(text_of) {
                Some(v) => Some(v),
                None => return Err(format!("parent record has no field `{field}` for `{{{ph}}}`")),
            }
        };
        match value {
            None if t.trim() == &rest[start..start + end + 1] && out.is_empty() => return Ok(None),
            None => {}
            Some(v) if encode => out.push_str(&encode_path(&v)),
            Some(v) => out.push_str(&v),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

fn encode_path(v: &str) -> String {
    v.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn render_json(v: &Json, plan: &Plan, window: &Window, parent: Option<&Json>) -> Result<Json, String> {
    Ok(match v {
        Json::String(s) => render(s, plan, window, parent, false)?.map_or(Json::Null, Json::String),
        Json::Array(a) => Json::Array(a.iter().map(|x| render_json(x, plan, window, parent)).collect::<Result<_, _>>()?),
        Json::Object(m) => Json::Object(m.iter().map(|(k, x)| Ok((k.clone(), render_json(x, plan, window, parent)?))).collect::<Result<_, String>>()?),
        other => other.clone(),
    })
}

fn join_url(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_owned()
    } else if path.is_empty() {
        base.to_owned()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
    }
}

fn set_param(query: &mut Vec<(String, String)>, k: &str, v: String) {
    query.retain(|(x, _)| x != k);
    query.push((k.to_owned(), v));
}

/// The first request of `plan` (for one parent record, if it has a parent).
fn first_request(plan: &Plan, window: &Window, parent: Option<&Json>, pager: &Pager) -> Result<Req, String> {
    let path = render(&plan.path, plan, window, parent, true)?.unwrap_or_default();
    let mut query = Vec::new();
    for (k, v) in &plan.params {
        let rendered = render_json(v, plan, window, parent)?;
        match rendered {
            Json::Array(items) => query.extend(items.iter().filter_map(text_of).map(|x| (k.clone(), x))),
            other => {
                if let Some(x) = text_of(&other) {
                    query.push((k.clone(), x));
                }
            }
        }
    }
    // Resolve params not used in the path go to the query.
    for (k, field) in &plan.resolve {
        if !plan.path.contains(&format!("{{{k}}}")) {
            let record = parent.ok_or("resolve param without a parent record")?;
            let v = JsonPath::parse(field).map_err(|e| e.to_string())?.first(record).and_then(text_of);
            query.push((k.clone(), v.ok_or_else(|| format!("parent record has no field `{field}`"))?));
        }
    }
    if let Some(inc) = &plan.incremental {
        if let (Some(p), Some(v)) = (&inc.start_param, window.start.as_ref().and_then(text_of)) {
            set_param(&mut query, p, v);
        }
        if let (Some(p), Some(v)) = (&inc.end_param, window.end.as_ref().and_then(text_of)) {
            set_param(&mut query, p, v);
        }
    }
    for (k, v) in pager.initial_params() {
        set_param(&mut query, &k, v);
    }
    let json = plan.json.as_ref().map(|j| render_json(j, plan, window, parent)).transpose()?;
    Ok(Req { method: plan.method.clone(), url: join_url(&plan.base_url, &path), query, headers: plan.headers.clone(), json })
}

/// The records of a response.
fn select_records(body: &Json, selector: Option<&JsonPath>) -> Result<Vec<Json>, String> {
    if let Some(sel) = selector {
        if sel.select(body).is_empty() && !body.is_null() {
            return Err(format!("data selector `{sel}` matches nothing in the response"));
        }
        return Ok(sel.records(body));
    }
    Ok(match body {
        Json::Null => Vec::new(),
        Json::Array(a) => a.clone(),
        Json::Object(m) => {
            let known = ["data", "items", "results", "records", "entries", "values", "rows", "hits", "objects", "list", "elements", "collection", "content"];
            match known.iter().find_map(|k| m.get(*k).filter(|v| v.is_array())).or_else(|| m.values().find(|v| v.as_array().is_some_and(|a| a.iter().all(Json::is_object)))) {
                Some(Json::Array(a)) => a.clone(),
                _ => vec![body.clone()],
            }
        }
        other => vec![other.clone()],
    })
}

type Emit<'a> = dyn FnMut(Vec<Json>) -> bool + 'a;

/// Fetches every page of `plan` (for each parent record if it has a parent), handing the
/// records to `emit` page by page; stops early when `emit` returns false.
fn fetch(rt: &tokio::runtime::Runtime, client: &Client, plan: &Plan, window: &Window, parent: Option<&Json>, emit: &mut Emit<'_>) -> Result<bool, RestError> {
    if let (Some(p), None) = (&plan.parent, parent) {
        let parent_window = Window::initial(p.incremental.as_ref());
        let mut failure = None;
        let mut keep_going = true;
        fetch(rt, client, p, &parent_window, None, &mut |records| {
            for record in records {
                match fetch(rt, client, plan, window, Some(&record), emit) {
                    Ok(true) => {}
                    Ok(false) => {
                        keep_going = false;
                        return false;
                    }
                    Err(e) => {
                        failure = Some(e);
                        return false;
                    }
                }
            }
            true
        })?;
        return match failure {
            Some(e) => Err(e),
            None => Ok(keep_going),
        };
    }
    let bad = |message: String| RestError::Resource { resource: plan.name.clone(), message };
    let mut pager = Pager::new(plan.paginator.clone());
    let mut req = first_request(plan, window, parent, &pager).map_err(bad)?;
    let mut seen_urls = std::collections::HashSet::new();
    loop {
        let shown = client.display_url(&req.url, &req.query);
        let malformed = |message: String| RestError::Malformed { resource: plan.name.clone(), url: shown.clone(), message };
        let page = rt.block_on(client.send(&plan.name, &req))?;
        let mut records = select_records(&page.body, plan.selector.as_ref()).map_err(malformed)?;
        if let (Some(p), Some(record)) = (&plan.parent, parent) {
            for field in &plan.include {
                let v = JsonPath::parse(field).ok().and_then(|path| path.first(record).cloned()).unwrap_or(Json::Null);
                let key = format!("_{}_{}", p.name, field.replace('.', "_"));
                for r in records.iter_mut() {
                    if let Json::Object(m) = r {
                        m.insert(key.clone(), v.clone());
                    }
                }
            }
        }
        pager.update(page.link.as_deref(), &page.body, records.len()).map_err(malformed)?;
        if !emit(records) {
            return Ok(false);
        }
        match pager.next_request() {
            None => return Ok(true),
            Some(NextRequest::Params(ps)) => {
                for (k, v) in ps {
                    set_param(&mut req.query, k, v.clone());
                }
            }
            Some(NextRequest::Url(next)) => {
                let base = url::Url::parse(&req.url).map_err(|e| malformed(e.to_string()))?;
                let mut u = base.join(next).map_err(|e| malformed(format!("next page link `{}`: {e}", client.scrub(next))))?;
                let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
                u.set_query(None);
                let mut query = pairs.clone();
                query.extend(req.query.iter().filter(|(k, _)| !pairs.iter().any(|(p, _)| p == k)).cloned());
                req.url = u.to_string();
                req.query = query;
            }
        }
        if !seen_urls.insert(client.display_url(&req.url, &req.query)) {
            return Err(malformed("the next page is a page already read (a paginator loop)".into()));
        }
    }
}

/// Runs a resource: HTTP on its own thread and runtime, pages through a bounded channel.
fn run(shared: Arc<Shared>, plan: Arc<Plan>, cx: &ResourceContext) -> Result<Items, BoxError> {
    let window = if plan.incremental.is_some() {
        Window { start: cx.start_value.clone(), end: cx.end_value.clone(), last: cx.last_value.clone() }
    } else {
        Window::default()
    };
    let (tx, rx) = sync_channel::<Result<Vec<Json>, RestError>>(PAGES_IN_FLIGHT);
    let name = plan.name.clone();
    let handle = std::thread::Builder::new().name(format!("etl-rest-{name}")).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(RestError::Client { message: format!("tokio runtime: {e}") }));
                return;
            }
        };
        let client = match Client::new(shared.auth.clone(), shared.headers.clone(), shared.retry.clone(), Vec::new()) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let result = fetch(&rt, &client, &plan, &window, None, &mut |records| tx.send(Ok(records)).is_ok());
        if let Err(e) = result {
            let _ = tx.send(Err(e));
        }
    })?;
    Ok(Box::new(PageIter { rx, handle: Some(handle), buffer: VecDeque::new(), resource: name }))
}

struct PageIter {
    rx: Receiver<Result<Vec<Json>, RestError>>,
    handle: Option<std::thread::JoinHandle<()>>,
    buffer: VecDeque<Json>,
    resource: String,
}

impl Iterator for PageIter {
    type Item = Result<Value, BoxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.buffer.pop_front() {
                return Some(Ok(Value::from(record)));
            }
            match self.rx.recv() {
                Ok(Ok(records)) => self.buffer.extend(records),
                Ok(Err(e)) => {
                    self.handle = None;
                    return Some(Err(Box::new(e)));
                }
                Err(_) => {
                    // The sender is gone: the thread ended; a panic must not pass for the end.
                    let handle = self.handle.take()?;
                    return match handle.join() {
                        Ok(()) => None,
                        Err(_) => Some(Err(format!("resource `{}`: the HTTP thread panicked", self.resource).into())),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
