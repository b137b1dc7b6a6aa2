//! Items routed to tables of their own (dlt's dynamic table names): a resource's `table_name`
//! as a function of each item ([`Resource::with_table_name_fn`]), or an item marked with its
//! table ([`with_table_name`], dlt's `dlt.mark.with_table_name`) and that table's own hints
//! ([`with_hints`], dlt's `with_hints(..., create_table_variant=True)`). A routed table takes
//! the resource's hints (write disposition, keys, columns) with its own name, or the hints it
//! was marked with, and gets its own nested tables; its disposition (replace, merge) applies to
//! it. A mark is an ordinary value, so a failed run's spool keeps it.

use std::sync::Arc;

use serde::Serialize;

use super::Resource;
use crate::hints::ResourceHints;
use crate::value::{to_value, Value};

/// The key of a marked item (not a column: it never reaches a table).
pub const ROUTE_KEY: &str = "__etl_route__";

/// A function giving each item's table.
pub type TableRouter = Arc<dyn Fn(&Value) -> String + Send + Sync>;

/// Where a marked item goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The table (as given; normalized by the schema).
    pub table: String,
    /// Hints of that table, if the item carries them.
    pub hints: Option<ResourceHints>,
}

fn marked(item: Value, table: String, hints: Option<&ResourceHints>) -> Value {
    let mut route = vec![("table".to_owned(), Value::Text(table))];
    if let Some(h) = hints {
        route.push(("hints".to_owned(), Value::from(h.to_json())));
    }
    Value::Object(vec![(ROUTE_KEY.to_owned(), Value::Object(route)), ("item".to_owned(), item)])
}

/// The item (a row, or a list of rows) routed to `table` (dlt's `dlt.mark.with_table_name`).
/// An item that cannot be made a value is kept as the error text in `item`.
pub fn with_table_name(item: impl Serialize, table: impl Into<String>) -> Value {
    let value = to_value(&item).unwrap_or_else(|e| Value::Text(e.to_string()));
    marked(value, table.into(), None)
}

/// The item routed to the table `hints` name (`hints.table()`), created and loaded with those
/// hints (write disposition, primary and merge keys, columns) instead of the resource's (dlt's
/// `dlt.mark.with_hints(item, hints, create_table_variant=True)`).
pub fn with_hints(item: impl Serialize, hints: &ResourceHints) -> Value {
    let value = to_value(&item).unwrap_or_else(|e| Value::Text(e.to_string()));
    marked(value, hints.table().to_owned(), Some(hints))
}

/// The route of a marked item and the item itself; `None` for an item that is not marked.
pub fn route_of(value: &Value) -> Option<(Route, &Value)> {
    let Value::Object(fields) = value else { return None };
    let [(key, Value::Object(route)), (item_key, item)] = fields.as_slice() else { return None };
    if key != ROUTE_KEY || item_key != "item" {
        return None;
    }
    let table = route.iter().find(|(k, _)| k == "table").and_then(|(_, v)| v.as_str())?.to_owned();
    let hints = route.iter().find(|(k, _)| k == "hints").and_then(|(_, v)| ResourceHints::from_json(&v.to_json()).ok());
    Some((Route { table, hints }, item))
}

impl Resource {
    /// Routes each item to the table `f` names for it (dlt's `table_name=lambda item: ...`).
    /// A routed resource's items are values (its fast paths are off).
    pub fn with_table_name_fn(mut self, f: impl Fn(&Value) -> String + Send + Sync + 'static) -> Self {
        self.router = Some(Arc::new(f));
        self
    }

    /// The function routing its items, if any.
    pub fn router(&self) -> Option<TableRouter> {
        self.router.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hints::WriteDisposition;
    use serde_json::json;

    #[test]
    fn a_mark_carries_its_table_and_hints_and_nothing_else_is_marked() {
        let v = with_table_name(json!({"id": 1}), "users");
        let (route, item) = route_of(&v).unwrap();
        assert_eq!(route, Route { table: "users".into(), hints: None });
        assert_eq!(item.to_json(), json!({"id": 1}));
        let mut hints = ResourceHints::new("events");
        hints.table_name = Some("clicks".into());
        hints.write_disposition = WriteDisposition::Merge;
        hints.primary_key = vec!["id".into()];
        let (route, _) = route_of(&with_hints(json!({"id": 2}), &hints)).map(|(r, i)| (r, i.clone())).unwrap();
        assert_eq!(route.table, "clicks");
        let h = route.hints.unwrap();
        assert_eq!((h.write_disposition, h.primary_key), (WriteDisposition::Merge, vec!["id".to_owned()]));
        assert!(route_of(&Value::from(json!({"item": 1, "__etl_route__": {}}))).is_none());
    }
}
