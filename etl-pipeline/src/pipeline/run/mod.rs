//! One run: extract → normalize → load, in one transaction.

use super::*;

#[cfg(loads)]
mod bookkeeping;
#[cfg(loads)]
mod load_run;
#[cfg(loads)]
mod units;

#[cfg(loads)]
pub(crate) use load_run::{Accumulated, LoadRun, RunFacts, RunSchema, SourceFacts};

impl Pipeline {
    /// Runs a source (or resources): extract, normalize and load in one transaction.
    pub fn run(&self, data: impl IntoSource) -> Result<LoadInfo, PipelineError> {
        let source = data.into_source(&default_schema_name(&self.name))?;
        self.run_source(source)
    }

    #[cfg(not(loads))]
    pub(super) fn run_source(&self, _source: Source) -> Result<LoadInfo, PipelineError> {
        Err(PipelineError::config("this build of etl has no destination (the `duckdb` and `postgres` features are off)"))
    }

    #[cfg(loads)]
    pub(super) fn run_source(&self, source: Source) -> Result<LoadInfo, PipelineError> {
        let started_at = Utc::now();
        let resolved = self.resolve_destination()?;
        let dataset = normalize_identifier(&self.dataset_name_or_default());
        let opening = crate::destination::open::Opening {
            pipeline: &self.name,
            dataset: &dataset,
            exclusive: true,
            create: true,
            compress_row_ids: self.compress_row_ids,
        };
        let opened = crate::destination::open::open(&resolved, opening)?.expect("a destination opened to create is there");
        let spool_dir = self.spool.then(|| crate::spool::pipeline_dir(&self.resolved_working_dir(), &self.name));
        let result = self.run_in_transaction(source, opened.session, &resolved, started_at, spool_dir.as_deref());
        if result.is_err() {
            // This run created the database: a failed run leaves no trace.
            opened.guard.discard_created();
        }
        result
    }

    #[cfg(loads)]
    fn run_in_transaction(
        &self,
        source: Source,
        mut db: Box<dyn Session>,
        resolved: &crate::destination::Resolved,
        started_at: DateTime<Utc>,
        spool_dir: Option<&Path>,
    ) -> Result<LoadInfo, PipelineError> {
        use crate::state::PipelineState;

        let dataset_display = self.dataset_name_or_default();
        let dataset = normalize_identifier(&dataset_display);
        let schema_name = normalize_identifier(source.name());
        let mut progress = ProgressSink::new(self.progress, &self.name, self.observer.as_ref().map(|o| o.0.clone()));

        let mut schema = db.stored_schema(&schema_name).map_err(PipelineError::load_from)?.unwrap_or_else(|| Schema::new(&schema_name));
        // Names longer than the destination takes are shortened as dlt does (PostgreSQL: 63).
        schema.set_max_identifier_length(Some(db.capabilities().max_identifier_length));
        let stored_state = db.stored_state(&self.name).map_err(PipelineError::load_from)?;
        let first_run = stored_state.is_none();
        let mut state =
            stored_state.unwrap_or_else(|| PipelineState::new(&self.name, &dataset_display, &schema_name, resolved.destination_type()));
        state.add_schema(&schema_name);

        let facts = RunFacts {
            pipeline: self.name.clone(),
            load_id: new_load_id(),
            jobs: crate::jobs::JobLog::default(),
            source: SourceFacts::of(&source),
            schema_contract: self.schema_contract,
            arrow_lineage: arrow_lineage(&self.resolved_working_dir())?,
        };
        let spool = match spool_dir {
            Some(dir) => {
                settle_leftover_spools(db.as_mut(), dir)?;
                let pending = crate::spool::pending(dir);
                if !pending.is_empty() {
                    progress.pending(pending.len(), dir);
                }
                Some(crate::spool::Spool::create(dir, &facts.load_id, &source)?)
            }
            None => None,
        };
        let mut acc = Accumulated {
            schema: RunSchema { schema, changes: Vec::new(), ids: IdGenerator::new() },
            state,
            progress,
            spool,
            spool_index: 0,
            row_counts: BTreeMap::new(),
            tables: Vec::new(),
        };

        db.begin().map_err(PipelineError::load_from)?;
        let (mut db, work) = crate::loader::with_loader(db, |loader| -> Result<bool, PipelineError> {
            loader.run(Job::EnsureDataset)?;
            let (resources, parents) = source.into_pipes();
            let units = crate::pipe::plan(resources, parents)?;
            LoadRun { facts: &facts, loader, acc: &mut acc }.load_units(units)
        });
        // Bookkeeping on this thread, once every batch is in: schema version, state, the load.
        let outcome = work.and_then(|wrote_any| acc.write_bookkeeping(db.as_mut(), &facts, wrote_any));
        let loaded = acc.settle(db.as_mut(), outcome)?;
        let Accumulated { schema: RunSchema { schema, changes, .. }, mut progress, mut row_counts, mut tables, .. } = acc;
        for t in &mut tables {
            t.job = facts.jobs.job(&t.table);
        }
        let finished_at = Utc::now();
        progress.finished(loaded, &row_counts, finished_at - started_at);
        if !loaded {
            row_counts = BTreeMap::new();
            tables = Vec::new();
        }
        Ok(LoadInfo {
            pipeline_name: self.name.clone(),
            dataset_name: dataset_display,
            dataset_schema: dataset,
            schema_name,
            destination_name: resolved.name().to_owned(),
            destination_type: resolved.destination_type().to_owned(),
            location: resolved.location(),
            database_path: resolved.file().map(Path::to_owned),
            load_id: loaded.then_some(facts.load_id),
            first_run,
            started_at,
            finished_at,
            row_counts,
            tables,
            schema_changes: changes,
            schema,
        })
    }
}

/// Spools of killed runs: those whose load was committed are garbage, the others become
/// pending packages.
#[cfg(loads)]
fn settle_leftover_spools(db: &mut dyn Session, dir: &Path) -> Result<(), PipelineError> {
    for (old_id, old_dir) in crate::spool::leftovers(dir) {
        if db.has_load(&old_id).map_err(PipelineError::load_from)? {
            let _ = std::fs::remove_dir_all(&old_dir);
        } else {
            let _ = crate::spool::adopt(dir, &old_id, &old_dir);
        }
    }
    Ok(())
}

/// dlt's `[normalize.parquet_normalizer] add_dlt_load_id` and `add_dlt_id` (both off by
/// default, as in dlt): the lineage columns arrow items get.
#[cfg(loads)]
fn arrow_lineage(dir: &std::path::Path) -> Result<etl_core::arrow_items::ArrowLineage, PipelineError> {
    let config = etl_config::Config::load_from(dir).map_err(|e| PipelineError::config(e.to_string()))?;
    let section = ["normalize", "parquet_normalizer"];
    let flag = |key: &str| config.get::<bool>(&section, key).map(Option::unwrap_or_default).map_err(|e| PipelineError::config(e.to_string()));
    Ok(etl_core::arrow_items::ArrowLineage { load_id: flag("add_dlt_load_id")?, row_id: flag("add_dlt_id")? })
}
