//! Pipeline state in dlt's layout: a JSON document stored in `_dlt_pipeline_state.state` as
//! base64 of zlib (level 9) of compact JSON, with a content hash that decides whether a new row is
//! written.

use std::io::{Read, Write};

use base64::Engine as _;
use serde_json::{json, Map, Value as Json};
use sha3::Digest;

/// dlt's state engine version (`_state_engine_version`, `_dlt_pipeline_state.engine_version`).
pub const STATE_ENGINE_VERSION: i64 = 4;

/// The pipeline state document.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineState {
    /// The JSON document without `_local`.
    pub doc: Map<String, Json>,
}

impl PipelineState {
    /// A fresh state for a pipeline.
    pub fn new(pipeline_name: &str, dataset_name: &str, schema_name: &str, destination_type: &str) -> Self {
        // dlt's key order for SQL destinations.
        let mut doc = Map::new();
        doc.insert("_state_version".into(), json!(0));
        doc.insert("_state_engine_version".into(), json!(STATE_ENGINE_VERSION));
        doc.insert("pipeline_name".into(), json!(pipeline_name));
        doc.insert("dataset_name".into(), json!(dataset_name));
        doc.insert("default_schema_name".into(), json!(schema_name));
        doc.insert("schema_names".into(), json!([schema_name]));
        doc.insert("destination_type".into(), json!(destination_type));
        doc.insert("destination_name".into(), Json::Null);
        doc.insert("_version_hash".into(), json!(""));
        PipelineState { doc }
    }

    /// The state version (`_state_version`).
    pub fn version(&self) -> i64 {
        self.doc.get("_state_version").and_then(Json::as_i64).unwrap_or(0)
    }

    /// The stored content hash (`_version_hash`).
    pub fn version_hash(&self) -> &str {
        self.doc.get("_version_hash").and_then(Json::as_str).unwrap_or("")
    }

    /// Makes sure `schema_name` is listed.
    pub fn add_schema(&mut self, schema_name: &str) {
        let names = self.doc.entry("schema_names").or_insert_with(|| json!([]));
        if let Some(list) = names.as_array_mut() {
            if !list.iter().any(|n| n.as_str() == Some(schema_name)) {
                list.push(json!(schema_name));
            }
        }
    }

    /// The stored state of an incremental cursor (dlt's
    /// `sources.<source>.resources.<resource>.incremental.<cursor_path>`).
    pub fn cursor(&self, source: &str, resource: &str, cursor_path: &str) -> Option<etl_core::incremental::CursorState> {
        self.doc
            .get("sources")?
            .get(source)?
            .get("resources")?
            .get(resource)?
            .get("incremental")?
            .get(cursor_path)
            .map(etl_core::incremental::CursorState::from_json)
    }

    /// A resource's user state (its section without the `incremental` cursors).
    pub fn resource_state(&self, source: &str, resource: &str) -> Map<String, Json> {
        let mut map = self
            .doc
            .get("sources")
            .and_then(|s| s.get(source))
            .and_then(|s| s.get("resources"))
            .and_then(|r| r.get(resource))
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        map.remove("incremental");
        map
    }

    /// Stores a resource's user state, keeping its incremental cursors.
    pub fn set_resource_state(&mut self, source: &str, resource: &str, user: Map<String, Json>) {
        let existing = self.resource_state(source, resource);
        if existing == user {
            return;
        }
        let section = self.section_mut(&["sources", source, "resources", resource]);
        section.retain(|k, _| k == "incremental");
        section.extend(user);
    }

    /// Forgets a resource's state, keeping its source's section (dlt does this for `replace`
    /// resources before they run: a full reload starts from scratch).
    pub fn reset_resource(&mut self, source: &str, resource: &str) {
        let section = self.section_mut(&["sources", source]);
        if let Some(resources) = section.get_mut("resources").and_then(Json::as_object_mut) {
            resources.remove(resource);
        }
    }

    /// Stores the state of an incremental cursor.
    pub fn set_cursor(&mut self, source: &str, resource: &str, cursor_path: &str, cursor: &etl_core::incremental::CursorState) {
        self.section_mut(&["sources", source, "resources", resource, "incremental"]).insert(cursor_path.to_owned(), cursor.to_json());
    }

    /// The object at a path of keys, created (or replaced if not an object) along the way.
    fn section_mut(&mut self, path: &[&str]) -> &mut Map<String, Json> {
        let mut node = &mut self.doc;
        for key in path {
            let child = node.entry(*key).or_insert_with(|| json!({}));
            if !child.is_object() {
                *child = json!({});
            }
            node = child.as_object_mut().expect("made an object above");
        }
        node
    }

    /// Hash of the content: base64 of SHA3-256 of the key-sorted JSON without the version fields.
    pub fn content_hash(&self) -> String {
        let mut content = self.doc.clone();
        content.remove("_state_version");
        content.remove("_state_engine_version");
        content.remove("_version_hash");
        content.remove("_local");
        let text = etl_core::value::sorted_json(&Json::Object(content)).to_string();
        base64::engine::general_purpose::STANDARD.encode(sha3::Sha3_256::digest(text.as_bytes()))
    }

    /// If the content changed since the last stored version, bumps the version and hash and
    /// returns true: a new state row must be written.
    pub fn bump_if_changed(&mut self) -> bool {
        let hash = self.content_hash();
        if hash == self.version_hash() {
            return false;
        }
        let next = self.version() + 1;
        self.doc.insert("_state_version".into(), json!(next));
        self.doc.insert("_version_hash".into(), json!(hash));
        true
    }

    /// The value stored in `_dlt_pipeline_state.state`.
    pub fn encode(&self) -> String {
        let text = Json::Object(self.doc.clone()).to_string();
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(9));
        enc.write_all(text.as_bytes()).expect("writing to a Vec cannot fail");
        let compressed = enc.finish().expect("writing to a Vec cannot fail");
        base64::engine::general_purpose::STANDARD.encode(compressed)
    }

    /// Decodes a stored `state` value.
    pub fn decode(encoded: &str) -> Result<Self, String> {
        let compressed = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|e| format!("state is not base64: {e}"))?;
        let mut text = String::new();
        flate2::read::ZlibDecoder::new(&compressed[..]).read_to_string(&mut text).map_err(|e| format!("state is not zlib: {e}"))?;
        match serde_json::from_str(&text).map_err(|e| format!("state is not JSON: {e}"))? {
            Json::Object(doc) => Ok(PipelineState { doc }),
            _ => Err("state is not a JSON object".into()),
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_round_trip_and_bumps_once() {
        let mut s = PipelineState::new("p", "d", "s", "dlt.destinations.duckdb");
        assert!(s.bump_if_changed());
        assert_eq!(s.version(), 1);
        assert!(!s.bump_if_changed());
        let back = PipelineState::decode(&s.encode()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.version_hash().len(), 44);
    }
}
