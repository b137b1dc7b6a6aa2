//! Config values and secrets in dlt's layout, for sources, resources and destinations.
//!
//! A value `key` of section `["sources", "api_source"]` is looked up, in this order (the first
//! hit wins):
//!
//! 1. environment variables, most specific first: `SOURCES__API_SOURCE__KEY`, then
//!    `SOURCES__KEY` (section and key names upper-cased, joined by `__`);
//! 2. the secrets files: `[sources.api_source] key = ...`, then `[sources] key = ...`, each
//!    path in `.etl/secrets.toml`, then dlt's project `.dlt/secrets.toml`, then dlt's global
//!    `~/.dlt/secrets.toml` (see [`DltDirs`]);
//! 3. the config files (`config.toml`), the same way.
//!
//! As in dlt, the provider decides first and the section path second: an environment variable
//! at a short path wins over a secrets file at a longer one. A dlt project's `.dlt/` therefore
//! works unchanged, and `.etl/` overrides it key by key.
//!
//! A resource-level section (`["sources", "api_source", "feed"]`) adds
//! `SOURCES__API_SOURCE__FEED__KEY` / `[sources.api_source.feed]` in front. Unlike dlt, a bare
//! key (`KEY` with no section) is never read, so that a value named `path` or `home` cannot be
//! taken from the shell's `PATH` or `HOME`. The `.etl` directory is relative to the working
//! directory ([`Config::load`]) or given ([`Config::load_from`]).
//!
//! ```no_run
//! use etl_config::{Config, Secret};
//!
//! #[derive(serde::Deserialize)]
//! struct Api { base_url: String, token: Secret, page_size: Option<u32> }
//!
//! let api: Api = Config::load()?.resolve(&["sources", "api_source"], &["base_url", "token"])?;
//! # Ok::<(), etl_config::ConfigError>(())
//! ```
//!
//! A missing value is one error that names every missing key and every place it was looked for.

#![warn(missing_docs)]

mod secret;

pub use secret::{scrub, Secret};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value as Json;

/// Errors of config resolution, naming the key and where it came from (never a secret value).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file exists but cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A config file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Required values were found nowhere.
    #[error("{}", missing_message(.missing))]
    Missing {
        /// Each missing key with every place it was looked for.
        missing: Vec<MissingValue>,
    },
    /// A value was found but has the wrong shape.
    #[error("config value `{key}` from {place} is invalid: {message}")]
    Invalid {
        /// The key (with its path inside the value, if nested).
        key: String,
        /// Where the value came from.
        place: String,
        /// What is wrong.
        message: String,
    },
}

/// The `#[config]` / `#[secret]` parameters of a `#[etl::source]` or `#[etl::resource]`
/// function could not be resolved ([`resolve_args`]).
#[derive(Debug, thiserror::Error)]
#[error("the config of `{name}` cannot be resolved: {source}")]
pub struct ArgsError {
    /// The source or resource (its section is `sources.<name>`).
    pub name: String,
    /// What is missing or wrong, with every place looked.
    #[source]
    pub source: ConfigError,
}

/// Resolves the config parameters of the function `name` (section `sources.<name>`) from the
/// run directory's providers: every missing required value is named in one error.
pub fn resolve_args<T: DeserializeOwned>(name: &str, required: &[&str]) -> Result<T, ArgsError> {
    Config::load().and_then(|c| c.resolve::<T>(&["sources", name], required)).map_err(|source| ArgsError { name: name.to_owned(), source })
}

/// A required value that was not found.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingValue {
    /// The key.
    pub key: String,
    /// Every place it was looked for, in lookup order.
    pub looked_in: Vec<String>,
}

fn missing_message(missing: &[MissingValue]) -> String {
    let mut s = format!("{} missing config value(s):", missing.len());
    for m in missing {
        s.push_str(&format!("\n  `{}`, looked for in: {}", m.key, m.looked_in.join(", ")));
    }
    s
}

/// Where a value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    Env,
    Secrets,
    Config,
}

/// One TOML file of a provider.
#[derive(Clone)]
struct TomlFile {
    path: PathBuf,
    table: toml::Table,
}

/// Where dlt's own configuration lives, besides `.etl/`: the project's `.dlt/` and the global
/// one (`~/.dlt/`), as dlt finds them.
#[derive(Debug, Clone, PartialEq)]
pub struct DltDirs {
    /// The project's folder: `$DLT_PROJECT_DIR` (else the run directory) joined with
    /// `$DLT_CONFIG_FOLDER` (else `.dlt`).
    pub project: PathBuf,
    /// The global folder: `$DLT_DATA_DIR`, else `/var/dlt` for root, else `~/.dlt` (or
    /// `$XDG_DATA_HOME/dlt` when that is set and `~/.dlt` does not exist); `None` without a home.
    pub global: Option<PathBuf>,
}

impl DltDirs {
    /// dlt's folders for a run directory, from the environment.
    pub fn from_env(run_dir: &Path) -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let project_dir = var("DLT_PROJECT_DIR").map(PathBuf::from).unwrap_or_else(|| run_dir.to_owned());
        let folder = var("DLT_CONFIG_FOLDER").unwrap_or_else(|| ".dlt".into());
        let global = var("DLT_DATA_DIR").map(PathBuf::from).or_else(|| {
            if is_root() {
                return Some(PathBuf::from("/var/dlt"));
            }
            let home = PathBuf::from(var("HOME")?).join(".dlt");
            match var("XDG_DATA_HOME") {
                Some(xdg) if !home.exists() => Some(PathBuf::from(xdg).join("dlt")),
                _ => Some(home),
            }
        });
        DltDirs { project: project_dir.join(folder), global }
    }
}

#[cfg(unix)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(not(unix))]
fn is_root() -> bool {
    false
}

/// The loaded providers: environment, then the secrets files, then the config files. Each kind
/// is `.etl/<kind>.toml`, then dlt's project `.dlt/<kind>.toml`, then its global
/// `~/.dlt/<kind>.toml` (the first that has the key at a section path wins, as dlt merges its
/// project and global files), so a dlt project's configuration works unchanged.
#[derive(Clone)]
pub struct Config {
    secrets: Vec<TomlFile>,
    config: Vec<TomlFile>,
    env: Option<BTreeMap<String, String>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the values: secrets.toml and the environment hold secrets.
        let paths = |files: &[TomlFile]| files.iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>();
        f.debug_struct("Config").field("secrets", &paths(&self.secrets)).field("config", &paths(&self.config)).finish_non_exhaustive()
    }
}

impl Config {
    /// Loads the config of the run's directory (an asset run's `--workdir`, else the process's
    /// working directory; see [`Config::load_from`]) and reads the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let dir = etl_core::resource::run_dir().or_else(|| std::env::current_dir().ok()).unwrap_or_else(|| PathBuf::from("."));
        Config::load_from(dir)
    }

    /// Loads `<dir>/.etl/{secrets,config}.toml` (missing files are empty), and dlt's
    /// `.dlt/{secrets,config}.toml` of the project and of the global folder where they exist
    /// ([`DltDirs::from_env`]).
    pub fn load_from(dir: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let dirs = DltDirs::from_env(dir.as_ref());
        Config::load_with(dir, &dirs)
    }

    /// [`Config::load_from`] with dlt's folders given.
    pub fn load_with(dir: impl AsRef<Path>, dirs: &DltDirs) -> Result<Self, ConfigError> {
        let base = dir.as_ref().join(".etl");
        let files = |name: &str| -> Result<Vec<TomlFile>, ConfigError> {
            let mut out = vec![TomlFile { table: read_toml(&base.join(name))?, path: base.join(name) }];
            for folder in std::iter::once(&dirs.project).chain(dirs.global.as_ref()) {
                let path = folder.join(name);
                if path.is_file() && !out.iter().any(|f| f.path == path) {
                    out.push(TomlFile { table: read_toml(&path)?, path });
                }
            }
            Ok(out)
        };
        Ok(Config { secrets: files("secrets.toml")?, config: files("config.toml")?, env: None })
    }

    /// Providers from strings (tests, embedding): TOML text of `config.toml` and `secrets.toml`.
    pub fn from_toml(config: &str, secrets: &str) -> Result<Self, ConfigError> {
        let parse = |text: &str, name: &str| {
            text.parse::<toml::Table>().map_err(|e| ConfigError::Parse { path: PathBuf::from(name), message: e.message().to_owned() })
        };
        Ok(Config {
            config: vec![TomlFile { table: parse(config, "config.toml")?, path: PathBuf::from("config.toml") }],
            secrets: vec![TomlFile { table: parse(secrets, "secrets.toml")?, path: PathBuf::from("secrets.toml") }],
            env: None,
        })
    }

    /// Uses these variables instead of the process environment.
    pub fn with_env<K: Into<String>, V: Into<String>>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self {
        self.env = Some(vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect());
        self
    }

    fn env_var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// The section paths tried for `section`, most specific first (at least one section kept).
    fn paths<'s>(section: &'s [&'s str]) -> Vec<&'s [&'s str]> {
        let min = section.len().min(1);
        (min..=section.len()).rev().map(|n| &section[..n]).collect()
    }

    /// The files of a provider (none for the environment).
    fn files(&self, provider: Provider) -> &[TomlFile] {
        match provider {
            Provider::Env => &[],
            Provider::Secrets => &self.secrets,
            Provider::Config => &self.config,
        }
    }

    /// Every place `key` of `section` is looked for, in order.
    pub fn places(&self, section: &[&str], key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for provider in [Provider::Env, Provider::Secrets, Provider::Config] {
            for path in Config::paths(section) {
                if provider == Provider::Env {
                    out.push(format!("env {}", env_name(path, key)));
                }
                for file in self.files(provider) {
                    out.push(place(file, path, key));
                }
            }
        }
        out
    }

    /// Finds the raw value of `key` and where it came from.
    fn find(&self, section: &[&str], key: &str) -> Option<(Found, String, bool)> {
        for provider in [Provider::Env, Provider::Secrets, Provider::Config] {
            for path in Config::paths(section) {
                if provider == Provider::Env {
                    if let Some(v) = self.env_var(&env_name(path, key)) {
                        return Some((Found::Env(v), format!("env {}", env_name(path, key)), true));
                    }
                }
                for file in self.files(provider) {
                    if let Some(v) = toml_get(&file.table, path, key) {
                        return Some((Found::Json(v), place(file, path, key), provider != Provider::Config));
                    }
                }
            }
        }
        None
    }

    /// One value, or `None` if it is set nowhere.
    pub fn get<T: DeserializeOwned>(&self, section: &[&str], key: &str) -> Result<Option<T>, ConfigError> {
        let Some((found, place, secret)) = self.find(section, key) else { return Ok(None) };
        let raw = found.raw_text();
        serde_path_to_error::deserialize(found)
            .map(Some)
            .map_err(|e| invalid(key, &e.path().to_string(), place, e.inner().to_string(), secret.then_some(raw.as_str())))
    }

    /// One value and where it was found (`env DESTINATION_TYPE`, `<file> [section] key`), or
    /// `None` if it is set nowhere.
    pub fn get_found<T: DeserializeOwned>(&self, section: &[&str], key: &str) -> Result<Option<(T, String)>, ConfigError> {
        let Some((_, place, _)) = self.find(section, key) else { return Ok(None) };
        Ok(self.get(section, key)?.map(|v| (v, place)))
    }

    /// One value that must be set.
    pub fn require<T: DeserializeOwned>(&self, section: &[&str], key: &str) -> Result<T, ConfigError> {
        self.get(section, key)?.ok_or_else(|| ConfigError::Missing {
            missing: vec![MissingValue { key: key.to_owned(), looked_in: self.places(section, key) }],
        })
    }

    /// A struct of values: each field of `T` is looked up as a key of `section`. Every key in
    /// `required` must be set somewhere; all that are not are reported in one error. Other
    /// fields are passed when set (use `Option` or `#[serde(default)]` for them).
    pub fn resolve<T: DeserializeOwned>(&self, section: &[&str], required: &[&str]) -> Result<T, ConfigError> {
        let mut fields: Vec<&str> = struct_fields::<T>().to_vec();
        for r in required {
            if !fields.contains(r) {
                fields.push(r);
            }
        }
        let mut found = Vec::new();
        let mut places = BTreeMap::new();
        let mut missing = Vec::new();
        for field in &fields {
            match self.find(section, field) {
                Some((value, place, secret)) => {
                    places.insert(field.to_string(), (place, secret.then(|| value.raw_text())));
                    found.push((field.to_string(), value));
                }
                None if required.contains(field) => {
                    missing.push(MissingValue { key: field.to_string(), looked_in: self.places(section, field) })
                }
                None => {}
            }
        }
        if !missing.is_empty() {
            return Err(ConfigError::Missing { missing });
        }
        let map = de::value::MapDeserializer::<_, serde_json::Error>::new(found.into_iter());
        serde_path_to_error::deserialize(map).map_err(|e| {
            let path = e.path().to_string();
            let field = path.split(['.', '[']).next().unwrap_or_default().to_owned();
            match places.get(&field) {
                Some((place, raw)) => invalid(&field, &path, place.clone(), e.inner().to_string(), raw.as_deref()),
                None => {
                    let message = e.inner().to_string();
                    // A field serde requires that is neither found nor declared required.
                    let key = message.split('`').nth(1).unwrap_or(&field).to_owned();
                    if message.starts_with("missing field") {
                        let looked_in = self.places(section, &key);
                        ConfigError::Missing { missing: vec![MissingValue { key, looked_in }] }
                    } else {
                        ConfigError::Invalid { key, place: format!("section {}", section.join(".")), message }
                    }
                }
            }
        })
    }
}

fn place(file: &TomlFile, path: &[&str], key: &str) -> String {
    format!("{} [{}] {key}", file.path.display(), path.join("."))
}

fn invalid(key: &str, path: &str, place: String, message: String, secret: Option<&str>) -> ConfigError {
    let message = match secret {
        Some(raw) if !raw.is_empty() => message.replace(raw, "***"),
        _ => message,
    };
    let key = if path.is_empty() || path == "." || path == key { key.to_owned() } else if path.starts_with(key) { path.to_owned() } else { format!("{key}.{path}") };
    ConfigError::Invalid { key, place, message }
}

/// dlt's environment variable name: sections and key upper-cased, joined by `__`.
pub fn env_name(section: &[&str], key: &str) -> String {
    section.iter().chain(std::iter::once(&key)).map(|s| s.to_uppercase()).collect::<Vec<_>>().join("__")
}

fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse::<toml::Table>().map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.message().to_owned() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(source) => Err(ConfigError::Read { path: path.to_owned(), source }),
    }
}

fn toml_get(table: &toml::Table, path: &[&str], key: &str) -> Option<Json> {
    let mut t = table;
    for s in path {
        t = t.get(*s)?.as_table()?;
    }
    let v = t.get(key)?;
    Some(match v {
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        other => serde_json::to_value(other).ok()?,
    })
}

/// A found value: typed (TOML) or text (env; parsed as the target type asks).
enum Found {
    Json(Json),
    Env(String),
}

impl Found {
    fn raw_text(&self) -> String {
        match self {
            Found::Json(Json::String(s)) | Found::Env(s) => s.clone(),
            Found::Json(j) => j.to_string(),
        }
    }
}

impl<'de> IntoDeserializer<'de, serde_json::Error> for Found {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for Found {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Found::Json(j) => j.deserialize_any(visitor),
            Found::Env(s) => match serde_json::from_str::<Json>(&s) {
                Ok(j) => j.deserialize_any(visitor),
                Err(_) => visitor.visit_string(s),
            },
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Found::Json(j) => j.deserialize_string(visitor),
            Found::Env(s) => visitor.visit_string(s),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Found::Json(Json::Null) => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self {
            Found::Json(j) => j.deserialize_enum(name, variants, visitor),
            Found::Env(s) => match serde_json::from_str::<Json>(&s) {
                Ok(j @ Json::Object(_)) => j.deserialize_enum(name, variants, visitor),
                _ => Json::String(s).deserialize_enum(name, variants, visitor),
            },
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The field names of a struct type (empty for other types), read from its `Deserialize` impl.
fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], _: V) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn resolve_args_names_the_function_and_every_place_looked() {
        #[derive(Debug, serde::Deserialize)]
        struct Args {
            url: String,
            limit: Option<u32>,
        }
        let dir = tempfile::tempdir().unwrap();
        let err = etl_core::resource::with_run_dir(dir.path(), || resolve_args::<Args>("args_probe", &["url"])).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("the config of `args_probe` cannot be resolved: 1 missing config value(s):"), "{text}");
        for place in ["env SOURCES__ARGS_PROBE__URL", "secrets.toml [sources.args_probe] url", "config.toml [sources.args_probe] url"] {
            assert!(text.contains(place), "{place} in {text}");
        }
        assert!(!text.contains("limit"), "optional values are not required: {text}");
        assert!(matches!(std::error::Error::source(&err).and_then(|e| e.downcast_ref::<ConfigError>()), Some(ConfigError::Missing { .. })));
        std::fs::create_dir_all(dir.path().join(".etl")).unwrap();
        std::fs::write(dir.path().join(".etl/config.toml"), "[sources.args_probe]\nurl = \"http://x\"\n").unwrap();
        let args = etl_core::resource::with_run_dir(dir.path(), || resolve_args::<Args>("args_probe", &["url"])).unwrap();
        assert_eq!((args.url.as_str(), args.limit), ("http://x", None));
    }

    #[test]
    fn dlts_project_and_global_files_are_read_after_etls_own_in_dlts_order() {
        let run = tempfile::tempdir().unwrap();
        let global = tempfile::tempdir().unwrap();
        let write = |dir: &Path, name: &str, text: &str| {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(name), text).unwrap();
        };
        let (etl, dlt) = (run.path().join(".etl"), run.path().join(".dlt"));
        // Each key is set in the files that should lose too.
        write(&etl, "secrets.toml", "[sources.api]\na = \"etl secrets\"\n");
        write(&dlt, "secrets.toml", "[sources.api]\na = \"dlt secrets\"\nb = \"dlt secrets\"\n[sources]\nd = \"dlt secrets, short path\"\n");
        write(global.path(), "secrets.toml", "[sources.api]\nb = \"global secrets\"\nc = \"global secrets\"\n");
        write(&etl, "config.toml", "[sources.api]\nc = \"etl config\"\ne = \"etl config\"\n");
        write(&dlt, "config.toml", "[sources.api]\nd = \"dlt config, long path\"\ne = \"dlt config\"\nf = \"dlt config\"\n");
        write(global.path(), "config.toml", "[sources.api]\nf = \"global config\"\ng = \"global config\"\n");
        let dirs = DltDirs { project: dlt.clone(), global: Some(global.path().to_owned()) };
        let config = Config::load_with(run.path(), &dirs).unwrap().with_env([("SOURCES__G", "env, short path")]);
        let got = |k: &str| config.get_found::<String>(&["sources", "api"], k).unwrap().unwrap();
        assert_eq!(got("a").0, "etl secrets", ".etl before .dlt");
        assert_eq!(got("b").0, "dlt secrets", "the project before the global folder");
        assert_eq!(got("c").0, "global secrets", "any secrets file before any config file");
        assert_eq!(got("d").0, "dlt secrets, short path", "the provider first, the section path second (dlt's rule)");
        assert_eq!(got("e").0, "etl config");
        assert_eq!(got("f"), ("dlt config".to_owned(), format!("{} [sources.api] f", dlt.join("config.toml").display())));
        assert_eq!(got("g").0, "env, short path");
        let places = config.places(&["sources", "api"], "nope");
        assert_eq!(places.len(), 2 + 2 * 3 * 2, "env and every file at both paths: {places:?}");
        // Without dlt's files, messages name only `.etl`'s.
        let plain = Config::load_with(tempfile::tempdir().unwrap().path(), &DltDirs { project: "/nonexistent/.dlt".into(), global: None }).unwrap();
        assert_eq!(plain.places(&["sources", "api"], "x").len(), 6);
    }

    #[test]
    fn dlts_folders_follow_its_environment_variables() {
        let dirs = DltDirs::from_env(Path::new("/work/project"));
        if std::env::var_os("DLT_PROJECT_DIR").is_none() && std::env::var_os("DLT_CONFIG_FOLDER").is_none() {
            assert_eq!(dirs.project, Path::new("/work/project/.dlt"));
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Api {
        base_url: String,
        token: Secret,
        page_size: Option<u32>,
        #[serde(default)]
        verbose: bool,
    }

    const CONFIG: &str = "[sources]\npage_size = 50\n[sources.api_source]\nbase_url = \"http://config\"\n[sources.api_source.feed]\nbase_url = \"http://feed\"\n";
    const SECRETS: &str = "[sources.api_source]\ntoken = \"from-secrets\"\n";

    #[test]
    fn env_wins_over_secrets_over_config_and_specific_over_general() {
        let cfg = Config::from_toml(CONFIG, SECRETS).unwrap().with_env([("SOURCES__API_SOURCE__TOKEN", "from-env")]);
        let api: Api = cfg.resolve(&["sources", "api_source"], &["base_url", "token"]).unwrap();
        assert_eq!(api.base_url, "http://config");
        assert_eq!(api.token.expose(), "from-env");
        assert_eq!(api.page_size, Some(50), "[sources] page_size is the general fallback");
        assert!(!api.verbose);
        // Resource level first.
        let feed: Api = cfg.resolve(&["sources", "api_source", "feed"], &["base_url"]).unwrap();
        assert_eq!(feed.base_url, "http://feed");
        // Env typed by the target: a number, a string that looks like a number.
        let cfg = cfg.with_env([("SOURCES__PAGE_SIZE", "7"), ("SOURCES__API_SOURCE__BASE_URL", "123")]);
        assert_eq!(cfg.get::<u32>(&["sources", "api_source"], "page_size").unwrap(), Some(7));
        assert_eq!(cfg.get::<String>(&["sources", "api_source"], "base_url").unwrap().as_deref(), Some("123"));
        assert_eq!(cfg.get::<Secret>(&["sources", "api_source"], "token").unwrap().unwrap().expose(), "from-secrets");
        assert_eq!(cfg.get::<String>(&["sources", "api_source"], "nope").unwrap(), None);
    }

    #[test]
    fn one_error_names_every_missing_value_and_place() {
        let cfg = Config::from_toml("", "").unwrap().with_env(Vec::<(String, String)>::new());
        let err = cfg.resolve::<Api>(&["sources", "api_source"], &["base_url", "token"]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("2 missing config value(s):"), "{text}");
        for needle in [
            "`base_url`",
            "`token`",
            "env SOURCES__API_SOURCE__BASE_URL",
            "env SOURCES__BASE_URL",
            "secrets.toml [sources.api_source] token",
            "config.toml [sources] base_url",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
        assert!(!text.contains("env BASE_URL"), "bare keys are never read: {text}");
        // A field serde needs that was not declared required is reported the same way.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            dir: String,
        }
        let err = cfg.resolve::<Needs>(&["sources", "csv"], &[]).unwrap_err();
        assert!(err.to_string().contains("env SOURCES__CSV__DIR"), "{err}");
    }

    #[test]
    fn invalid_values_name_key_and_place_but_not_secrets() {
        let cfg = Config::from_toml("", "").unwrap().with_env([("SOURCES__S__PAGE_SIZE", "many-secret-pages")]);
        let err = cfg.get::<u32>(&["sources", "s"], "page_size").unwrap_err().to_string();
        assert!(err.contains("page_size") && err.contains("env SOURCES__S__PAGE_SIZE"), "{err}");
        assert!(!err.contains("many-secret-pages"), "{err}");
        let err = Config::from_toml("x = [", "").unwrap_err().to_string();
        assert!(err.contains("config.toml"), "{err}");
    }
}
