//! The selection language: tokens, the parse tree (precedence, traversals, legacy clauses),
//! errors with their column and token, and evaluation of every operator over a small graph.

use std::sync::LazyLock;

use etl_core::{Resource, Source};

use super::parse::{tokenize, Kind};
use super::{wildcard_match, Selection, SelectionError};
use crate::asset::{Location, Materializations};
use crate::context::InvokeContext;
use crate::graph::AssetGraph;
use crate::registry::{AssetDef, DltAssetsDef, Registry, Requirement};
use crate::translator::{DltResourceInfo, DltTranslator};

// ---- the graph --------------------------------------------------------------------------
//
//   dlt_shop_users ─▶ clean/users ─▶ report ─▶ summary        lonely
//   dlt_shop_orders ───────────────▶ report

fn invoke(_: &InvokeContext<'_>) -> Materializations {
    Ok(Vec::new())
}
fn no_requirements() -> Vec<Option<Requirement>> {
    Vec::new()
}
fn location(line: u32) -> Location {
    Location { module_path: "m", file: "src/m.rs", line, column: 1 }
}

struct Owners;
impl DltTranslator for Owners {
    fn owners(&self, info: &DltResourceInfo) -> Vec<String> {
        vec![if info.resource_name == "users" { "data@example.com".into() } else { "team:ops".into() }]
    }
}

static SHOP: LazyLock<DltAssetsDef> = LazyLock::new(|| DltAssetsDef {
    name: "shop_assets",
    location: location(1),
    source: || Source::with("shop", (Resource::from_values("users", Vec::new()), Resource::from_values("orders", Vec::new()))).unwrap(),
    pipeline: || etl_pipeline::pipeline::pipeline("shop"),
    invoke,
    group_name: Some("shop"),
    translator: Some(|| Box::new(Owners)),
    requirements: no_requirements,
    retry: None,
    pool: None,
    partitions: None,
    source_for: None,
    configs: Vec::new,
});

fn plain(
    key: &'static str,
    deps: &'static [&'static str],
    group: &'static str,
    kinds: &'static [&'static str],
    tags: &'static [&'static str],
) -> AssetDef {
    AssetDef {
        name: key,
        key,
        deps,
        group_name: Some(group),
        kinds,
        tags,
        description: None,
        pool: None,
        retry: None,
        location: location(2),
        invoke,
        requirements: no_requirements,
        partitions: None,
        configs: Vec::new,
    }
}

static CLEAN: LazyLock<AssetDef> = LazyLock::new(|| plain("clean/users", &["dlt_shop_users"], "staging", &["sql"], &["tier=1"]));
static REPORT: LazyLock<AssetDef> =
    LazyLock::new(|| plain("report", &["clean/users", "dlt_shop_orders"], "reports", &["sql", "duckdb"], &["team=data", "nightly"]));
static SUMMARY: LazyLock<AssetDef> = LazyLock::new(|| plain("summary", &["report"], "reports", &["sql"], &["team=data"]));
static LONELY: LazyLock<AssetDef> = LazyLock::new(|| plain("lonely", &[], "misc", &[], &["team=ops"]));

fn graph() -> AssetGraph {
    AssetGraph::build(&Registry { dlt: vec![&*SHOP], assets: vec![&*CLEAN, &*REPORT, &*SUMMARY, &*LONELY], ..Registry::default() }).unwrap()
}

/// The selected keys, comma-separated, in graph order.
fn keys(selection: &str) -> String {
    match graph().select(selection) {
        Ok(keys) => keys.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        Err(e) => panic!("{selection}: {e}"),
    }
}

fn syntax_error(selection: &str) -> (usize, String, String) {
    match Selection::parse(selection) {
        Err(SelectionError::Syntax { column, token, message, .. }) => (column, token, message),
        other => panic!("{selection}: expected a syntax error, got {other:?}"),
    }
}

// ---- tokens and the parse tree ------------------------------------------------------------

#[test]
fn tokens_carry_their_kind_and_position() {
    let tokens = tokenize(r#"2+key:"a b*"+ AND tag:k=v, <null>"#).unwrap();
    let kinds: Vec<(Kind, usize, &str)> = tokens.iter().map(|t| (t.kind, t.start, t.text.as_str())).collect();
    use Kind::*;
    assert_eq!(
        kinds,
        [
            (Digits, 0, "2"),
            (Plus, 1, "+"),
            (Word, 2, "key"),
            (Colon, 5, ":"),
            (Quoted, 6, "\"a b*\""),
            (Plus, 12, "+"),
            (Word, 14, "AND"),
            (Word, 18, "tag"),
            (Colon, 21, ":"),
            (Word, 22, "k"),
            (Equal, 23, "="),
            (Word, 24, "v"),
            (Comma, 25, ","),
            (Null, 27, "<null>"),
            (End, 33, ""),
        ]
    );
    assert_eq!(tokenize("*").unwrap()[0].kind, Star);
    assert_eq!(tokenize("*a*").unwrap()[0].kind, Word);
}

fn key(pattern: &str) -> Selection {
    Selection::Key { pattern: pattern.into(), must_exist: false, column: 0 }
}

/// The tree with the columns of keys zeroed, for comparisons.
fn tree(selection: &str) -> Selection {
    fn strip(s: Selection) -> Selection {
        let b = |x: Box<Selection>| Box::new(strip(*x));
        match s {
            Selection::Key { pattern, must_exist, .. } => Selection::Key { pattern, must_exist, column: 0 },
            Selection::Upstream { of, depth } => Selection::Upstream { of: b(of), depth },
            Selection::Downstream { of, depth } => Selection::Downstream { of: b(of), depth },
            Selection::Not(x) => Selection::Not(b(x)),
            Selection::And(x, y) => Selection::And(b(x), b(y)),
            Selection::Or(x, y) => Selection::Or(b(x), b(y)),
            Selection::Roots(x) => Selection::Roots(b(x)),
            Selection::Sinks(x) => Selection::Sinks(b(x)),
            other => other,
        }
    }
    strip(Selection::parse(selection).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn not_binds_tighter_than_and_and_and_tighter_than_or() {
    use Selection::*;
    let (a, b, c) = (|| key("a"), || key("b"), || key("c"));
    assert_eq!(tree("key:a or key:b and not key:c"), Or(Box::new(a()), Box::new(And(Box::new(b()), Box::new(Not(Box::new(c())))))));
    assert_eq!(tree("not key:a and key:b"), And(Box::new(Not(Box::new(a()))), Box::new(b())));
    assert_eq!(tree("(key:a or key:b) and key:c"), And(Box::new(Or(Box::new(a()), Box::new(b()))), Box::new(c())));
    assert_eq!(tree("NOT key:a AND key:b OR key:c"), tree("((not key:a) and key:b) or key:c"));
    assert_eq!(tree("not not key:a"), Not(Box::new(Not(Box::new(a())))));
    // The comma (a legacy list) is a union below `or`.
    assert_eq!(tree("key:a and key:b, key:c"), Or(Box::new(And(Box::new(a()), Box::new(b()))), Box::new(c())));
    assert_eq!(tree("*"), All);
    assert_eq!(tree("roots(key:a) or sinks(*)"), Or(Box::new(Roots(Box::new(a()))), Box::new(Sinks(Box::new(All)))));
}

#[test]
fn traversals_take_depths_and_bind_to_their_atom() {
    use Selection::*;
    let up = |of: Selection, depth| Upstream { of: Box::new(of), depth };
    let down = |of: Selection, depth| Downstream { of: Box::new(of), depth };
    assert_eq!(tree("+key:a"), up(key("a"), None));
    assert_eq!(tree("2+key:a"), up(key("a"), Some(2)));
    assert_eq!(tree("key:a+"), down(key("a"), None));
    assert_eq!(tree("key:a+3"), down(key("a"), Some(3)));
    assert_eq!(tree("1+key:a+"), Or(Box::new(up(key("a"), Some(1))), Box::new(down(key("a"), None))));
    assert_eq!(tree("+(key:a or key:b)"), up(Or(Box::new(key("a")), Box::new(key("b"))), None));
    assert_eq!(tree("+sinks(key:a)+2"), tree("+sinks(key:a) or sinks(key:a)+2"));
    assert_eq!(tree("not +key:a"), Not(Box::new(up(key("a"), None))));
    assert_eq!(tree(r#"key:"a/b*""#), key("a/b*"));
    assert_eq!(tree("tag:team"), Tag { key: "team".into(), value: String::new() });
    assert_eq!(tree(r#"tag:"team"="data ops""#), Tag { key: "team".into(), value: "data ops".into() });
    assert_eq!(tree("kind:<null>"), Kind(None));
    assert_eq!(tree("owner:alice@example.com"), Owner(Some("alice@example.com".into())));
}

#[test]
fn legacy_clauses_count_pluses_and_stars() {
    use Selection::*;
    let bare = |k: &str| Key { pattern: k.into(), must_exist: true, column: 0 };
    let up = |depth| Upstream { of: Box::new(bare("a/b")), depth };
    let down = |depth| Downstream { of: Box::new(bare("a/b")), depth };
    assert_eq!(tree("a/b"), bare("a/b"));
    assert_eq!(tree("+a/b"), up(Some(1)));
    assert_eq!(tree("++a/b"), up(Some(2)));
    assert_eq!(tree("a/b+"), down(Some(1)));
    assert_eq!(tree("a/b++"), down(Some(2)));
    assert_eq!(tree("*a/b"), up(None));
    assert_eq!(tree("a/b*"), down(None));
    assert_eq!(tree("*a/b*"), Or(Box::new(up(None)), Box::new(down(None))));
    assert_eq!(tree("2+a/b"), up(Some(2)));
    match Selection::parse("x, y").unwrap() {
        Or(x, y) => assert!(matches!((*x, *y), (Key { column: 1, .. }, Key { column: 4, .. }))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_point_at_the_offending_token() {
    let cases: &[(&str, usize, &str, &str)] = &[
        ("key:", 5, "", "expected a value"),
        ("key:a and", 10, "", "ends where an asset selection is expected"),
        ("not", 4, "", "ends where an asset selection is expected"),
        ("key:a And key:b", 7, "And", "expected `and`, `or`, `,` or the end"),
        ("group:sh*", 7, "sh*", "wildcards `*` are supported in `key:` values only"),
        ("++key:a", 2, "+", "write `2+` for two levels"),
        ("key:a++", 7, "+", "write `+2` for two levels"),
        ("2++key:a", 3, "+", "no further `+`"),
        ("status:ok", 1, "status", "not supported by etl"),
        ("colour:red", 1, "colour", "unknown attribute"),
        ("key:\"abc", 5, "\"abc", "unterminated quote"),
        ("key:a $ key:b", 7, "$", "unexpected character"),
        ("(key:a", 7, "", "expected `)`"),
        ("roots(key:a", 12, "", "expected `)`"),
        ("key:a)", 6, ")", "expected `and`, `or`"),
        ("a*b", 1, "a*b", "a `*` inside a bare key"),
        ("tag:k=", 7, "", "expected a value"),
        ("group:<null>", 7, "<null>", "`<null>` is a value of `kind:` and `owner:` only"),
        (",key:a", 1, ",", "expected an asset selection"),
        ("+*", 2, "*", "expected an asset selection"),
        ("é and )", 7, ")", "expected an asset selection"),
    ];
    for (selection, column, token, message) in cases {
        let (c, t, m) = syntax_error(selection);
        assert_eq!((c, t.as_str()), (*column, *token), "{selection}: {m}");
        assert!(m.contains(message), "{selection}: {m}");
    }
    let text = Selection::parse("group:a or or").unwrap_err().to_string();
    assert_eq!(
        text,
        "invalid selection `group:a or or`: expected an asset selection (`key:..`, `group:..`, `(`, `*`, a key, ...), at column 12: `or`\n    \
         group:a or or\n               ^"
    );
}

// ---- evaluation ---------------------------------------------------------------------------

#[test]
fn attributes_select_by_key_group_kind_tag_and_owner() {
    assert_eq!(keys("*"), "dlt_shop_users,dlt_shop_orders,clean/users,report,summary,lonely");
    assert_eq!(keys("key:dlt_shop_*"), "dlt_shop_users,dlt_shop_orders");
    assert_eq!(keys(r#"key:"*users""#), "dlt_shop_users,clean/users");
    assert_eq!(keys("key:clean/users"), "clean/users");
    assert_eq!(keys("key:*/*"), "clean/users");
    assert_eq!(keys("group:reports"), "report,summary");
    assert_eq!(keys("kind:duckdb"), "dlt_shop_users,dlt_shop_orders,report");
    assert_eq!(keys("kind:<null>"), "lonely");
    assert_eq!(keys("tag:team=data"), "report,summary");
    assert_eq!(keys("tag:nightly"), "report");
    assert_eq!(keys("tag:tier=1"), "clean/users");
    assert_eq!(keys(r#"owner:"data@example.com""#), "dlt_shop_users");
    assert_eq!(keys("owner:data@example.com"), "dlt_shop_users");
    assert_eq!(keys(r#"owner:"team:ops""#), "dlt_shop_orders");
    assert_eq!(keys("owner:<null>"), "clean/users,report,summary,lonely");
    // Dagster's rule: `tag:k` is a tag `k` without a value, not any value.
    assert_eq!(graph().select("tag:team").unwrap_err(), SelectionError::Empty { selection: "tag:team".into() });
    // `key:` matches patterns (no match is no asset); a bare key must exist.
    assert!(matches!(graph().select("key:nope").unwrap_err(), SelectionError::Empty { .. }));
    match graph().select("report or nope").unwrap_err() {
        SelectionError::UnknownKey { key, column, known } => {
            assert_eq!((key.as_str(), column, known.len()), ("nope", 11, 6));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn traversals_follow_dagster_depths() {
    assert_eq!(keys("+key:summary"), "dlt_shop_users,dlt_shop_orders,clean/users,report,summary");
    assert_eq!(keys("1+key:summary"), "report,summary");
    assert_eq!(keys("2+key:summary"), "dlt_shop_orders,clean/users,report,summary");
    assert_eq!(keys("key:dlt_shop_users+"), "dlt_shop_users,clean/users,report,summary");
    assert_eq!(keys("key:dlt_shop_users+2"), "dlt_shop_users,clean/users,report");
    assert_eq!(keys("1+key:report+1"), "dlt_shop_orders,clean/users,report,summary");
    assert_eq!(keys("+group:reports"), "dlt_shop_users,dlt_shop_orders,clean/users,report,summary");
    // Legacy clauses: one level per `+`, every level for `*`.
    assert_eq!(keys("+summary"), "report,summary");
    assert_eq!(keys("++summary"), "dlt_shop_orders,clean/users,report,summary");
    assert_eq!(keys("*summary"), "dlt_shop_users,dlt_shop_orders,clean/users,report,summary");
    assert_eq!(keys("dlt_shop_users+"), "dlt_shop_users,clean/users");
    assert_eq!(keys("dlt_shop_users++"), "dlt_shop_users,clean/users,report");
    assert_eq!(keys("dlt_shop_users*"), "dlt_shop_users,clean/users,report,summary");
    assert_eq!(keys("*report*"), "dlt_shop_users,dlt_shop_orders,clean/users,report,summary");
}

#[test]
fn boolean_operators_with_their_precedence() {
    assert_eq!(keys("not group:reports"), "dlt_shop_users,dlt_shop_orders,clean/users,lonely");
    assert_eq!(keys("not group:reports and kind:sql"), "clean/users");
    assert_eq!(keys("not (group:reports and kind:sql)"), "dlt_shop_users,dlt_shop_orders,clean/users,lonely");
    assert_eq!(keys("group:misc or group:reports and tag:nightly"), "report,lonely");
    assert_eq!(keys("(group:misc or group:reports) and tag:nightly"), "report");
    assert_eq!(keys("NOT group:misc AND kind:sql OR group:shop"), "dlt_shop_users,dlt_shop_orders,clean/users,report,summary");
    assert_eq!(keys("key:dlt_shop_users+ and +key:report"), "dlt_shop_users,clean/users,report");
    assert_eq!(keys("summary, dlt_shop_users"), "dlt_shop_users,summary");
    assert_eq!(keys("group:shop,group:misc"), "dlt_shop_users,dlt_shop_orders,lonely");
}

#[test]
fn roots_and_sinks_are_taken_within_the_selection() {
    assert_eq!(keys("roots(*)"), "dlt_shop_users,dlt_shop_orders,lonely");
    assert_eq!(keys("sinks(*)"), "summary,lonely");
    assert_eq!(keys("roots(group:reports or key:clean/users)"), "clean/users");
    assert_eq!(keys("sinks(kind:dlt)"), "dlt_shop_users,dlt_shop_orders");
    assert_eq!(keys("sinks(+key:report)"), "report");
    assert_eq!(keys("+sinks(key:clean/users or key:report)"), "dlt_shop_users,dlt_shop_orders,clean/users,report");
}

#[test]
fn wildcards_match_any_text_between_literal_parts() {
    assert!(wildcard_match("a*", "a") && wildcard_match("a*", "abc") && !wildcard_match("a*", "ba"));
    assert!(wildcard_match("*c", "abc") && wildcard_match("a*c", "ac") && !wildcard_match("a*c", "acb"));
    assert!(wildcard_match("a*b*c", "aXbYc") && !wildcard_match("a*b*c", "aXcYb") && !wildcard_match("ab*ba", "aba"));
    assert!(wildcard_match("*", "") && wildcard_match("x", "x") && !wildcard_match("x", "xy"));
}
