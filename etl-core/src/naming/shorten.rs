//! dlt's shortening of identifiers longer than a destination's `max_identifier_length`
//! (PostgreSQL: 63), applied while names are made, before they reach the schema.
//!
//! dlt's rule (`NamingConvention.shorten_identifier`, dlt 1.31): a normalized name longer than
//! the limit keeps its first `⌈(limit − 6) / 2⌉` and its last `⌊(limit − 6) / 2⌋` characters with
//! a 6-character tag between them. The tag is the SHAKE-128 digest (4 bytes) of the name *before*
//! normalization, in base64 without padding, `/` and `+` replaced by `a` and `b`, lower-cased.
//! Lengths count characters (Python's `len`). Where the tag comes from depends on where the name
//! is made:
//!
//! * a key, resource or table name, a column hint: each `__` part is normalized and, if too
//!   long, shortened with the tag of the part itself (stripped); then the joined path is
//!   shortened with the tag of the whole raw name ([`normalize_path`], dlt's `normalize_path` and
//!   `normalize_tables_path`);
//! * a nested name (a flattened column `parent__child`, a nested table `table__list`, a variant
//!   `column__v_text`): the fragments, each already normalized (and shortened) on its own, are
//!   joined with `__` and shortened with the tag of the joined text ([`shorten_fragments`]). A
//!   nested table's fragments are those of its whole path from the root table, not its parent's
//!   shortened name. A shortened nested table name may so lose its `__`: dlt keeps the parent
//!   link in the schema (`parent`), never in the name.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine as _;
use sha3::digest::{ExtendableOutput, Update, XofReader};

use super::{break_path, normalize_identifier, PATH_SEPARATOR};

/// Bytes of SHAKE-128 output in a tag: dlt's `int(3 · log2(1 / 0.001) // 8) + 1` = 4 for its
/// default collision probability of 0.001.
const TAG_BYTES: usize = 4;
/// Characters of a tag: base64 of [`TAG_BYTES`] without padding.
const TAG_CHARS: usize = 6;

/// The 6-character tag dlt puts in a shortened name, computed from `identifier` (the name before
/// normalization).
pub fn identifier_tag(identifier: &str) -> String {
    let mut shake = sha3::Shake128::default();
    shake.update(identifier.as_bytes());
    let mut digest = [0u8; TAG_BYTES];
    shake.finalize_xof().read(&mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(digest)
        .chars()
        .map(|c| match c {
            '/' => 'a',
            '+' => 'b',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// `normalized` if it has at most `max_length` characters, else dlt's shortening of it with the
/// tag of `identifier` (see the module).
pub fn shorten_identifier(normalized: &str, identifier: &str, max_length: usize) -> String {
    let len = normalized.chars().count();
    if len <= max_length || max_length < TAG_CHARS {
        return normalized.to_owned();
    }
    let tag = identifier_tag(identifier);
    let remaining = max_length - tag.len();
    let head: String = normalized.chars().take(remaining / 2 + remaining % 2).collect();
    let tail: String = normalized.chars().skip(len - remaining / 2).collect();
    format!("{head}{tag}{tail}")
}

/// A key, resource, table or column name normalized by dlt's `snake_case` (as
/// [`normalize_identifier`]) and shortened to `max_length` as dlt's `normalize_path` does: each
/// `__` part on its own, then the whole.
pub fn normalize_path(path: &str, max_length: usize) -> String {
    let normalized = normalize_identifier(path);
    // A name within the limit has no part beyond it either: nothing to shorten (the common case,
    // without the work below). Characters never outnumber bytes.
    if normalized.len() <= max_length || normalized.chars().count() <= max_length {
        return normalized;
    }
    cached(Kind::Path, path, max_length, || {
        let parts: Vec<String> = break_path(path)
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .map(|part| shorten_identifier(&normalize_identifier(part), part.trim(), max_length))
            .collect();
        if parts.is_empty() {
            return normalized;
        }
        shorten_identifier(&parts.join(PATH_SEPARATOR), path, max_length)
    })
}

/// Already normalized fragments (`parent`, `child`) joined with `__` and shortened to
/// `max_length` with the tag of the joined text (dlt's `shorten_fragments`): the names of
/// flattened columns, nested tables and variant columns.
pub fn shorten_fragments<S: AsRef<str>>(fragments: &[S], max_length: usize) -> String {
    let joined = fragments.iter().map(AsRef::as_ref).filter(|f| !f.trim().is_empty()).collect::<Vec<_>>().join(PATH_SEPARATOR);
    shorten_joined(&joined, max_length).into_owned()
}

/// [`shorten_fragments`] of fragments already joined with `__` (`joined` borrowed back when it is
/// within the limit).
pub fn shorten_joined(joined: &str, max_length: usize) -> Cow<'_, str> {
    // Characters never outnumber bytes: a name within the limit in bytes is within it.
    if joined.len() <= max_length || joined.chars().count() <= max_length {
        return Cow::Borrowed(joined);
    }
    Cow::Owned(cached(Kind::Fragments, joined, max_length, || shorten_identifier(joined, joined, max_length)))
}

/// Which function a cached name came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Path,
    Fragments,
}

/// Shortened names, remembered per thread: a long key repeats in every row (dlt keeps an
/// `lru_cache` too). Bounded.
fn cached(kind: Kind, name: &str, max_length: usize, compute: impl FnOnce() -> String) -> String {
    type Cache = HashMap<(Kind, usize, String), String>;
    thread_local! {
        static CACHE: RefCell<Cache> = Default::default();
    }
    let key = (kind, max_length, name.to_owned());
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return hit;
    }
    let value = compute();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 16_384 {
            c.clear();
        }
        c.insert(key, value.clone());
    });
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PostgreSQL's limit, the one dlt's goldens were made with.
    const PG: usize = 63;

    /// The one long key of the conformance case `identifiers` (208 characters) and the column
    /// dlt 1.31 created for it in PostgreSQL (`identifiers.golden.json`).
    #[test]
    fn the_long_column_of_the_identifiers_case_is_shortened_as_dlt_did() {
        let key = format!("a_very_long_column_name_{}_end", "x".repeat(208 - 28));
        assert_eq!(key.len(), 208);
        let golden = golden_columns("identifiers", "my_table_name");
        let expected = golden.iter().find(|c| c.starts_with("a_very_long")).expect("the golden has the long column");
        assert_eq!(normalize_path(&key, PG), *expected);
        assert_eq!(expected.as_str(), "a_very_long_column_name_xxxxxcg50xwxxxxxxxxxxxxxxxxxxxxxxxx_end");
        assert_eq!(expected.len(), 63);
        // Every other column of the case is short and stays as normalized.
        for c in golden.iter().filter(|c| !c.starts_with("a_very_long")) {
            assert_eq!(normalize_path(c, PG), *c);
        }
    }

    pub(crate) fn golden_columns(case: &str, table: &str) -> Vec<String> {
        let path = format!("{}/../tests/data/conformance/postgres/{case}.golden.json", env!("CARGO_MANIFEST_DIR"));
        let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let tables = golden["runs"][0]["db"].as_object().unwrap().values().next().unwrap()["tables"].clone();
        tables[table]["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn tags_are_shake128_base64_lowered_with_a_and_b() {
        // SHAKE-128 of "" starts 7f 9c 2b a4: base64 "f5wrpA" → "f5wrpa".
        assert_eq!(identifier_tag(""), "f5wrpa");
        assert_eq!(identifier_tag("x").len(), 6);
        assert!(identifier_tag("anything at all").chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn short_names_are_untouched_and_long_ones_are_exactly_the_limit() {
        let name = "a".repeat(63);
        assert_eq!(shorten_identifier(&name, &name, 63), name);
        for len in [64, 65, 100, 1000] {
            let name: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let short = shorten_identifier(&name, &name, 63);
            assert_eq!(short.len(), 63);
            assert!(short.starts_with(&name[..29]) && short.ends_with(&name[len - 28..]), "{short}");
            assert_eq!(&short[29..35], identifier_tag(&name));
        }
    }

    #[test]
    fn nested_names_are_shortened_as_a_whole_and_may_lose_their_separator() {
        let parent = "t".repeat(40);
        let child = "c".repeat(40);
        let joined = format!("{parent}__{child}");
        let short = shorten_fragments(&[&parent, &child], 63);
        assert_eq!(short.len(), 63);
        assert_eq!(short, format!("{}{}{}", &joined[..29], identifier_tag(&joined), &joined[joined.len() - 28..]));
        assert!(!short.contains("__"));
        assert_eq!(shorten_fragments(&["a", "b"], 63), "a__b");
        assert_eq!(shorten_joined(&joined, 63), short);
        assert!(matches!(shorten_joined("a__b", 63), Cow::Borrowed("a__b")));
    }

    #[test]
    fn long_parts_of_a_path_are_shortened_with_their_own_tag_first() {
        let part = format!("Long{}", "Y".repeat(70));
        let path = format!("{part}__short");
        let first = shorten_identifier(&normalize_identifier(&part), &part, 63);
        let expected = shorten_identifier(&format!("{first}__short"), &path, 63);
        assert_eq!(normalize_path(&path, 63), expected);
        assert_eq!(expected.len(), 63);
        // Cached: the same again.
        assert_eq!(normalize_path(&path, 63), expected);
    }

    /// Lengths are characters, as Python's `len`: non-ASCII digits survive `snake_case`.
    #[test]
    fn lengths_count_characters() {
        let digits = "٣".repeat(40); // 80 bytes, 40 characters
        let name = format!("a{digits}");
        assert_eq!(normalize_path(&name, 63), normalize_identifier(&name));
        assert_eq!(shorten_joined(&name, 63), name.as_str());
    }
}
