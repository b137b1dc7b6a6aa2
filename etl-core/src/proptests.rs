//! Property tests: the normalizer and the schema accept any JSON without panicking, and every
//! identifier they produce is a valid snake_case name that SQL quoting keeps intact.

use proptest::prelude::*;

use crate::naming::{normalize_identifier, quote_ident, Naming};
use crate::normalize::{normalize_item, IdGenerator, RowContext};
use crate::schema::Schema;
use crate::value::Value;

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-1e12f64..1e12).prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::String),
        Just(serde_json::Value::String("2024-01-15T10:30:00Z".into())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::vec((".{0,8}", inner), 0..5)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn is_snake(name: &str) -> bool {
    name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (!c.is_ascii() && c.is_numeric()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn normalizer_and_schema_never_panic(items in prop::collection::vec(arb_json(), 1..6), nesting in 0u32..4) {
        let mut schema = Schema::new("s");
        let mut ids = IdGenerator::new();
        let mut changes = Vec::new();
        for item in items {
            let ctx = RowContext { root_table: "t", load_id: "1.0", max_nesting: if nesting == 3 { 1000 } else { nesting }, propagate_root_id: nesting == 2, key_hash_id: None, row_hash_id: nesting == 1 };
            let mut rows = Vec::new();
            normalize_item(&schema, &ctx, Value::from(item), &mut ids, &mut rows);
            for row in rows {
                prop_assert!(is_snake(&row.table), "table {:?}", row.table);
                for (name, _) in &row.cells {
                    prop_assert!(is_snake(name), "column {:?}", name);
                }
                // Coercion may reject a value with an error, never with a panic.
                let _ = schema.coerce_row(row, &mut changes);
            }
        }
        // Every column the schema holds is a valid name, and quoting it round-trips.
        for table in &schema.tables {
            for column in &table.columns {
                let quoted = quote_ident(&column.name);
                prop_assert_eq!(quoted[1..quoted.len() - 1].replace("\"\"", "\""), column.name.clone());
            }
        }
    }

    #[test]
    fn identifiers_are_snake_case_and_stable(raw in ".{0,24}") {
        let once = normalize_identifier(&raw);
        // A name made only of separators (`__`) normalizes to nothing, as in dlt.
        prop_assume!(!once.is_empty());
        prop_assert!(is_snake(&once), "{:?} -> {:?}", raw, once);
        prop_assert_eq!(normalize_identifier(&once), once.clone());
        prop_assert!(!once.chars().next().is_some_and(|c| c.is_ascii_digit()), "{:?} starts with a digit", once);
    }

    /// With a limit, every name fits it and one that fit already is unchanged.
    #[test]
    fn shortened_names_fit_the_limit(raw in "[a-zA-Z _-]{0,100}", limit in 6usize..70) {
        let unlimited = normalize_identifier(&raw);
        let short = Naming::new(Some(limit)).normalize_path(&raw);
        prop_assert!(short.chars().count() <= limit, "{:?} -> {:?}", raw, short);
        if unlimited.chars().count() <= limit {
            prop_assert_eq!(&short, &unlimited);
        }
        let nested = Naming::new(Some(limit)).shorten_fragments(&[unlimited.as_str(), "child"]);
        prop_assert!(nested.chars().count() <= limit);
    }
}
