use super::*;
use crate::testing::{HttpServer, Response};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

fn rows(r: &mut Resource, cx: &ResourceContext) -> Result<Vec<Json>, String> {
    let items = r.take_items_with(cx).map_err(|e| e.to_string())?;
    items.map(|i| i.map(|v| v.to_json()).map_err(|e| e.to_string())).collect()
}

fn one(api: &RestApi) -> Resource {
    api.resources().unwrap().remove(0)
}

fn fast(api: RestApi) -> RestApi {
    api.retries(3, Duration::from_millis(10))
}

#[test]
fn json_link_pages_selector_and_bearer_auth() {
    let server = HttpServer::start(|req| {
        assert_eq!(req.header("authorization"), Some("Bearer tok-abc"));
        let page: u64 = req.param("page").unwrap_or("1").parse().unwrap();
        let next = if page < 3 { json!(format!("/items?page={}", page + 1)) } else { Json::Null };
        Response::json(200, &json!({"data": {"items": [{"id": page * 10}, {"id": page * 10 + 1}]}, "links": {"next": next}}))
    });
    let api = fast(RestApi::new(server.url()))
        .auth(Auth::bearer("tok-abc"))
        .paginator(Paginator::json_link("links.next"))
        .resource(RestResource::new("items").data_selector("data.items").param("kind", "all"));
    let got = rows(&mut one(&api), &ResourceContext::default()).unwrap();
    assert_eq!(got.iter().map(|r| r["id"].as_u64().unwrap()).collect::<Vec<_>>(), [10, 11, 20, 21, 30, 31]);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].param("kind"), Some("all"), "params kept on next links");
}

#[test]
fn toml_config_equals_builder() {
    let toml = r#"
        [client]
        base_url = "http://localhost:1/v1"
        auth = { type = "api_key", name = "key", api_key = "k", location = "query" }
        paginator = "header_link"
        [resource_defaults]
        primary_key = "id"
        endpoint = { params = { per_page = 50 } }
        [[resources]]
        name = "issues"
        endpoint = { path = "issues", incremental = { cursor_path = "updated_at", start_param = "since", initial_value = "2024-01-01" } }
        [[resources]]
        name = "comments"
        endpoint = { path = "issues/{resources.issues.number}/comments", paginator = { type = "offset", limit = 10 } }
        include_from_parent = ["id"]
    "#;
    let from_toml = RestApi::from_toml_str(toml).unwrap();
    let built = RestApi::new("http://localhost:1/v1")
        .auth(Auth::api_key_query("key", "k"))
        .paginator(Paginator::header_link())
        .defaults(ResourceDefaults {
            primary_key: Some(Keys::One("id".into())),
            endpoint: Endpoint { params: [("per_page".to_owned(), json!(50))].into(), ..Endpoint::default() },
            ..ResourceDefaults::default()
        })
        .resource(RestResource::new("issues").path("issues").incremental(Incremental::new("updated_at").start_param("since").initial_value("2024-01-01")))
        .resource(RestResource::new("comments").path("issues/{resources.issues.number}/comments").paginator(Paginator::offset(10)).include_from_parent(["id"]));
    assert_eq!(from_toml, built);
    let resources = from_toml.resources().unwrap();
    assert_eq!(resources[0].hints().primary_key, ["id"]);
    assert_eq!(resources[0].hints().incremental.as_ref().unwrap().cursor_path, "updated_at");
    // JSON with shorthand resources and endpoints.
    let api = RestApi::from_json(json!({"client": {"base_url": "http://x"}, "resources": ["users", {"name": "posts", "endpoint": "p/posts"}]})).unwrap();
    assert_eq!(api.resources[1].endpoint.path.as_deref(), Some("p/posts"));
    // Secrets never print.
    assert!(!format!("{from_toml:?}").contains("api_key: Secret(\"k\")") && format!("{from_toml:?}").contains("Secret(***)"));
}

#[test]
fn invalid_configs_name_the_resource() {
    let err = |api: RestApi| api.resources().unwrap_err().to_string();
    let base = || RestApi::new("http://x");
    assert!(err(base().resource(RestResource::new("c").path("p/{resources.nope.id}"))).contains("resource `c`: unknown parent resource `nope`"));
    let e = err(base().resource(RestResource::new("a").path("{resources.b.id}")).resource(RestResource::new("b").path("{resources.a.id}")));
    assert!(e.contains("cycle: a -> b -> a"), "{e}");
    assert!(err(base().resource(RestResource::new("a").path("x/{id}"))).contains("placeholder `{id}`"));
    assert!(err(base().resource(RestResource::new("a").param("since", "{incremental.start_value}"))).contains("needs an `incremental` setting"));
    assert!(err(base().resource(RestResource::new("a").data_selector("$["))).contains("data_selector"));
    assert!(err(RestApi::new("not a url")).contains("base_url"));
    assert!(RestApi::from_toml_str("[client]\nbase_url = \"http://x\"\nauth = { type = \"magic\" }").unwrap_err().to_string().contains("magic"));
    assert!(RestApi::from_toml_str("[client]\nbase_url = \"http://x\"\ntimeout = 3").unwrap_err().to_string().contains("timeout"));
}

#[test]
fn retries_429_with_retry_after_and_500_then_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let server = HttpServer::start(move |_req| match c.fetch_add(1, Ordering::SeqCst) {
        0 => Response::json(429, &json!({"error": "slow down"})).header("Retry-After", "1"),
        1 => Response::text(500, "boom"),
        _ => Response::json(200, &json!([{"id": 1}])),
    });
    // A long backoff: only Retry-After (1 s) and the short retry could make this fast.
    let api = RestApi::new(server.url()).retries(3, Duration::from_millis(50)).paginator(Paginator::SinglePage).resource(RestResource::new("r"));
    let t = std::time::Instant::now();
    let got = rows(&mut one(&api), &ResourceContext::default()).unwrap();
    assert_eq!(got, vec![json!({"id": 1})]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(t.elapsed() >= Duration::from_millis(1000), "Retry-After honoured: {:?}", t.elapsed());
}

#[test]
fn persistent_errors_fail_naming_url_without_secrets() {
    let server = HttpServer::start(|req| {
        if req.path == "/bad-json" {
            return Response::text(200, "<html>not json</html>");
        }
        if req.path == "/missing" {
            return Response::json(404, &json!({"error": "no such thing"}));
        }
        Response::text(503, "down")
    });
    let api = fast(RestApi::new(server.url()))
        .auth(Auth::api_key_query("api_key", "very-secret-key"))
        .resource(RestResource::new("down").path("down"))
        .resource(RestResource::new("bad").path("bad-json"))
        .resource(RestResource::new("missing").path("missing"));
    let mut rs = api.resources().unwrap();
    let e = rows(&mut rs[0], &ResourceContext::default()).unwrap_err();
    assert!(e.contains("resource `down`") && e.contains("/down:") && e.contains("HTTP 503 after 4 attempt(s)"), "{e}");
    assert!(!e.contains("very-secret-key"), "{e}");
    let e = rows(&mut rs[1], &ResourceContext::default()).unwrap_err();
    assert!(e.contains("resource `bad`") && e.contains("/bad-json") && e.contains("not JSON") && e.contains("<html>"), "{e}");
    let e = rows(&mut rs[2], &ResourceContext::default()).unwrap_err();
    assert!(e.contains("HTTP 404 after 1 attempt(s)") && e.contains("no such thing"), "404 is not retried: {e}");
    assert_eq!(server.requests().iter().filter(|r| r.path == "/down").count(), 4);
}

#[test]
fn parent_child_and_include_from_parent() {
    let server = HttpServer::start(|req| match req.path.as_str() {
        "/users" => Response::json(200, &json!({"users": [{"id": 1, "name": "a b"}, {"id": 2, "name": "c"}]})),
        p if p.starts_with("/users/") => {
            let id: u64 = p.trim_start_matches("/users/").trim_end_matches("/posts").parse().unwrap();
            assert_eq!(req.param("who").unwrap(), if id == 1 { "a b" } else { "c" });
            Response::json(200, &json!([{"post": id * 100}]))
        }
        _ => Response::text(404, ""),
    });
    let api = fast(RestApi::new(server.url()))
        .paginator(Paginator::SinglePage)
        .resource(RestResource::new("users"))
        .resource(RestResource::new("posts").path("users/{resources.users.id}/posts").param("who", "{resources.users.name}").include_from_parent(["id"]));
    let mut rs = api.resources().unwrap();
    assert_eq!(rows(&mut rs[0], &ResourceContext::default()).unwrap().len(), 2);
    let posts = rows(&mut rs[1], &ResourceContext::default()).unwrap();
    assert_eq!(posts, vec![json!({"post": 100, "_users_id": 1}), json!({"post": 200, "_users_id": 2})]);

    // dlt's resolve form.
    let api = RestApi::from_json(json!({
        "client": {"base_url": server.url(), "paginator": "single_page"},
        "resources": ["users", {"name": "posts", "endpoint": {"path": "users/{uid}/posts", "params": {"uid": {"type": "resolve", "resource": "users", "field": "id"}, "who": "{resources.users.name}"}}}]
    }))
    .unwrap();
    assert_eq!(rows(&mut api.resources().unwrap()[1], &ResourceContext::default()).unwrap().len(), 2);
}

#[test]
fn incremental_window_goes_to_query_params() {
    let server = HttpServer::start(|req| {
        let since = req.param("since").unwrap_or("none").to_owned();
        Response::json(200, &json!({"data": [{"id": 1, "since": since, "until": req.param("until")}], "next_cursor": null}))
    });
    let api = fast(RestApi::new(server.url())).resource(
        RestResource::new("feed")
            .incremental(Incremental::new("updated_at").start_param("since").end_param("until").initial_value("2024-01-01"))
            .param("from", "{incremental.start_value}"),
    );
    let cx = ResourceContext { start_value: Some(json!("2024-05-01T00:00:00Z")), ..ResourceContext::default() };
    let got = rows(&mut one(&api), &cx).unwrap();
    assert_eq!(got[0]["since"], json!("2024-05-01T00:00:00Z"));
    assert_eq!(got[0]["until"], Json::Null);
    let req = &server.requests()[0];
    assert_eq!(req.param("from"), Some("2024-05-01T00:00:00Z"));
    assert_eq!(req.param("cursor"), None, "auto-detected cursor paginator stops on null");
}

#[test]
fn offset_and_auto_detected_cursor() {
    let server = HttpServer::start(|req| match req.path.as_str() {
        "/offset" => {
            let offset: usize = req.param("offset").unwrap().parse().unwrap();
            let limit: usize = req.param("limit").unwrap().parse().unwrap();
            let items: Vec<Json> = (offset..(offset + limit).min(5)).map(|i| json!({"i": i})).collect();
            Response::json(200, &json!({"results": items, "total": 5}))
        }
        _ => {
            let n: usize = req.param("cursor").map_or(0, |c| c.parse().unwrap());
            let next = if n < 2 { json!((n + 1).to_string()) } else { Json::Null };
            Response::json(200, &json!({"items": [{"n": n}], "next_cursor": next}))
        }
    });
    let api = fast(RestApi::new(server.url()))
        .resource(RestResource::new("offset").paginator(Paginator::offset(2)))
        .resource(RestResource::new("cursor"));
    let mut rs = api.resources().unwrap();
    assert_eq!(rows(&mut rs[0], &ResourceContext::default()).unwrap().len(), 5);
    assert_eq!(rows(&mut rs[1], &ResourceContext::default()).unwrap(), vec![json!({"n": 0}), json!({"n": 1}), json!({"n": 2})]);
    assert_eq!(server.requests().iter().filter(|r| r.path == "/offset").count(), 3);
}

#[test]
fn a_slow_consumer_holds_the_producer_back() {
    let server = HttpServer::start(|req| {
        let page: u64 = req.param("page").map_or(0, |p| p.parse().unwrap());
        Response::json(200, &json!({"data": [{"page": page}], "total_pages": 1000}))
    });
    let api = fast(RestApi::new(server.url())).resource(RestResource::new("many").paginator(Paginator::page_number(0, Some("total_pages"))));
    let mut r = one(&api);
    let mut items = r.take_items_with(&ResourceContext::default()).unwrap();
    assert!(items.next().unwrap().is_ok());
    std::thread::sleep(Duration::from_millis(300));
    let served = server.requests().len();
    assert!(served <= PAGES_IN_FLIGHT + 3, "{served} pages fetched ahead");
    drop(items);
}

#[test]
fn oauth2_client_credentials() {
    let server = HttpServer::start(|req| {
        if req.path == "/token" {
            assert_eq!(req.method, "POST");
            let body = String::from_utf8_lossy(&req.body).to_string();
            assert!(body.contains("grant_type=client_credentials"), "{body}");
            assert!(req.header("authorization").unwrap().starts_with("Basic "));
            return Response::json(200, &json!({"access_token": "at-1", "expires_in": 3600}));
        }
        if req.header("authorization") != Some("Bearer at-1") {
            return Response::json(401, &json!({}));
        }
        Response::json(200, &json!([{"ok": true}]))
    });
    let api = fast(RestApi::new(server.url()))
        .auth(Auth::oauth2_client_credentials(format!("{}/token", server.url()), "cid", "csecret"))
        .paginator(Paginator::SinglePage)
        .resource(RestResource::new("things"));
    assert_eq!(rows(&mut one(&api), &ResourceContext::default()).unwrap(), vec![json!({"ok": true})]);
    assert_eq!(server.requests().iter().filter(|r| r.path == "/token").count(), 1);
}

#[test]
fn auto_selector_finds_the_records() {
    assert_eq!(select_records(&json!({"meta": {}, "results": [{"a": 1}]}), None).unwrap(), vec![json!({"a": 1})]);
    assert_eq!(select_records(&json!({"meta": {}, "stuff": [{"a": 1}]}), None).unwrap(), vec![json!({"a": 1})]);
    assert_eq!(select_records(&json!({"a": 1}), None).unwrap(), vec![json!({"a": 1})]);
    assert_eq!(select_records(&json!([1, 2]), None).unwrap().len(), 2);
    let sel = JsonPath::parse("data").unwrap();
    assert!(select_records(&json!({"error": "x"}), Some(&sel)).unwrap_err().contains("matches nothing"));
    assert_eq!(select_records(&json!({"data": null}), Some(&sel)).unwrap(), Vec::<Json>::new());
}

#[test]
fn connection_errors_are_retried_and_explained() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let api = RestApi::new(format!("http://127.0.0.1:{port}")).retries(1, Duration::from_millis(10)).resource(RestResource::new("gone"));
    let e = rows(&mut one(&api), &ResourceContext::default()).unwrap_err();
    assert!(e.contains("resource `gone`") && e.contains("(after 2 attempt(s))") && e.to_lowercase().contains("refused"), "{e}");
}
