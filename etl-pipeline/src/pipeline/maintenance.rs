//! Maintenance of a pipeline's destination: `info`, pending packages, dropping resources,
//! row counts.

use super::*;

impl Pipeline {
    /// Opens the destination if it has this pipeline's database (DuckDB) or dataset
    /// (PostgreSQL); `exclusive` takes the pipeline's lock.
    #[cfg(loads)]
    pub(crate) fn open_existing(
        &self,
        resolved: &crate::destination::Resolved,
        dataset: &str,
        exclusive: bool,
    ) -> Result<Option<crate::destination::open::Opened>, PipelineError> {
        let opening = crate::destination::open::Opening { pipeline: &self.name, dataset, exclusive, create: false, compress_row_ids: false };
        crate::destination::open::open(resolved, opening)
    }

    /// The stored schema, state, tables and loads of this pipeline's dataset.
    #[cfg(loads)]
    pub fn info(&self) -> Result<PipelineInfo, PipelineError> {
        let resolved = self.resolve_destination()?;
        let dataset = normalize_identifier(&self.dataset_name_or_default());
        let opened = self.open_existing(&resolved, &dataset, false)?;
        let mut info = PipelineInfo {
            pipeline_name: self.name.clone(),
            destination_name: resolved.name().to_owned(),
            location: resolved.location(),
            database_path: resolved.file().map(Path::to_owned),
            exists: opened.is_some(),
            dataset: dataset.clone(),
            schema: None,
            tables: Vec::new(),
            loads: 0,
            last_load_id: None,
            state: None,
            pending: Vec::new(),
            schema_tables: Vec::new(),
        };
        let Some(opened) = opened else { return Ok(info) };
        let mut db = opened.session;
        let state = db.stored_state(&self.name).map_err(PipelineError::load_from)?;
        let schema_name = state
            .as_ref()
            .and_then(|s| s.doc.get("default_schema_name").and_then(serde_json::Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| default_schema_name(&self.name));
        if let Some(schema) = db.stored_schema(&schema_name).map_err(PipelineError::load_from)? {
            info.schema = Some((schema.name.clone(), schema.version, schema.version_hash.clone()));
            info.schema_tables = schema
                .data_tables()
                .map(|t| super::info::SchemaTable {
                    name: t.name.clone(),
                    parent: t.parent.clone(),
                    resource: t.resource.clone(),
                    columns: t.columns.iter().map(|c| (c.name.clone(), c.data_type.map(|d| d.to_string()).unwrap_or_default(), c.nullable)).collect(),
                })
                .collect();
        }
        for t in db.tables() {
            let n = db.row_count(&t).map_err(PipelineError::load_from)?;
            info.tables.push((t, n));
        }
        (info.loads, info.last_load_id) = db.loads().map_err(PipelineError::load_from)?;
        info.state = state.map(|s| (s.version(), serde_json::Value::Object(s.doc)));
        info.pending = db.staging_tables();
        info.pending.extend(self.pending_packages().into_iter().map(|p| format!("pending package {}", p.dir.display())));
        Ok(info)
    }

    /// Rows in each of `tables` of the dataset now (`count(*)`; a table that does not exist has
    /// 0 rows). For dagster-dlt's opt-in `dagster/row_count`.
    #[cfg(loads)]
    pub fn row_counts(&self, tables: &[String]) -> Result<BTreeMap<String, u64>, PipelineError> {
        let resolved = self.resolve_destination()?;
        let mut out = BTreeMap::new();
        let Some(opened) = self.open_existing(&resolved, &normalize_identifier(&self.dataset_name_or_default()), false)? else {
            out.extend(tables.iter().map(|t| (t.clone(), 0)));
            return Ok(out);
        };
        let mut db = opened.session;
        for t in tables {
            let n = db.row_count(t).map_err(PipelineError::load_from)?;
            out.insert(t.clone(), u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// Pending packages: items pulled by failed or killed runs, kept on disk (see README,
    /// "Failed runs").
    #[cfg(loads)]
    pub fn pending_packages(&self) -> Vec<crate::spool::PendingPackage> {
        crate::spool::pending(&crate::spool::pipeline_dir(&self.resolved_working_dir(), &self.name))
    }

    /// Loads every pending package, oldest first, each in its own transaction and load id.
    /// A package that loads is deleted; one that fails again is kept and its error returned in
    /// the list (the others still load).
    #[cfg(loads)]
    pub fn load_pending(&self) -> Vec<(String, Result<LoadInfo, PipelineError>)> {
        let mut quiet = self.clone();
        quiet.spool = false;
        self.pending_packages()
            .into_iter()
            .map(|pkg| {
                let result = pkg.source().and_then(|source| quiet.run_source(source));
                if result.is_ok() {
                    let _ = pkg.remove();
                }
                (pkg.load_id.clone(), result)
            })
            .collect()
    }

    /// Discards every pending package; returns how many there were.
    #[cfg(loads)]
    pub fn drop_pending(&self) -> usize {
        let pending = self.pending_packages();
        pending.iter().filter(|p| p.remove().is_ok()).count()
    }

    /// Drops the tables of resources (their root tables and all nested tables) and their state,
    /// in one transaction that also stores the new schema version and state. Returns the dropped
    /// tables. The next run of those resources starts from scratch (incremental cursors too).
    #[cfg(loads)]
    pub fn drop_resources(&self, resources: &[&str]) -> Result<Vec<String>, PipelineError> {
        let resolved = self.resolve_destination()?;
        let dataset = normalize_identifier(&self.dataset_name_or_default());
        let Some(opened) = self.open_existing(&resolved, &dataset, true)? else {
            return Err(PipelineError::config(format!("pipeline `{}` has no dataset `{dataset}` at {}", self.name, resolved.location())));
        };
        let mut db = opened.session;
        let mut state = db.stored_state(&self.name).map_err(PipelineError::load_from)?.ok_or_else(|| {
            PipelineError::config(format!("pipeline `{}` has no stored state in {}", self.name, resolved.location()))
        })?;
        let schema_name = state
            .doc
            .get("default_schema_name")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| default_schema_name(&self.name));
        let mut schema = db
            .stored_schema(&schema_name)
            .map_err(PipelineError::load_from)?
            .ok_or_else(|| PipelineError::config(format!("no stored schema `{schema_name}`")))?;
        let mut doomed: Vec<String> = Vec::new();
        let mut unknown = Vec::new();
        for r in resources {
            let roots: Vec<String> = schema.tables.iter().filter(|t| t.resource.as_deref() == Some(*r)).map(|t| t.name.clone()).collect();
            if roots.is_empty() {
                unknown.push((*r).to_owned());
            }
            for root in roots {
                doomed.extend(schema.descendants(&root).into_iter().map(|t| t.name.clone()).rev());
                doomed.push(root);
            }
        }
        if !unknown.is_empty() {
            let known: Vec<&str> = schema.data_tables().filter_map(|t| t.resource.as_deref()).collect();
            return Err(PipelineError::config(format!("schema `{schema_name}` has no resource {unknown:?}; it has {known:?}")));
        }
        let load_id = new_load_id();
        let now = timestamp_text(Utc::now());
        db.begin().map_err(PipelineError::load_from)?;
        let result = (|| -> Result<(), PipelineError> {
            for t in &doomed {
                db.drop_table(t).map_err(PipelineError::load_from)?;
            }
            schema.tables.retain(|t| !doomed.contains(&t.name));
            if let Some(sources) = state.doc.get_mut("sources").and_then(serde_json::Value::as_object_mut) {
                for section in sources.values_mut() {
                    if let Some(res) = section.get_mut("resources").and_then(serde_json::Value::as_object_mut) {
                        for r in resources {
                            res.remove(*r);
                        }
                    }
                }
            }
            if schema.bump_version() {
                db.insert_version(&schema, &now).map_err(PipelineError::load_from)?;
            }
            if state.bump_if_changed() {
                db.insert_state(&self.name, &state, &now, &load_id, &IdGenerator::new().root_id()).map_err(PipelineError::load_from)?;
            }
            db.insert_load(&load_id, &schema, &now).map_err(PipelineError::load_from)?;
            Ok(())
        })();
        match result {
            Ok(()) => db.commit().map_err(PipelineError::load_from)?,
            Err(e) => {
                db.rollback();
                return Err(e);
            }
        }
        Ok(doomed)
    }

}
