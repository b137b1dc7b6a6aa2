//! One run: extract → normalize → load, in one transaction.

use super::*;

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
        let dataset = normalize_identifier(&self.dataset());
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

        let dataset_display = self.dataset();
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

        let load_id = new_load_id();
        let mut ids = IdGenerator::new();
        let mut changes: Vec<SchemaChange> = Vec::new();
        let mut row_counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut tables: Vec<TableLoad> = Vec::new();

        let mut spool = match spool_dir {
            Some(dir) => {
                // Spools of killed runs: committed ones are garbage, the others become pending.
                for (old_id, old_dir) in crate::spool::leftovers(dir) {
                    if db.has_load(&old_id).map_err(PipelineError::load_from)? {
                        let _ = std::fs::remove_dir_all(&old_dir);
                    } else {
                        let _ = crate::spool::adopt(dir, &old_id, &old_dir);
                    }
                }
                let pending = crate::spool::pending(dir);
                if !pending.is_empty() {
                    progress.pending(pending.len(), dir);
                }
                Some(crate::spool::Spool::create(dir, &load_id, &source)?)
            }
            None => None,
        };

        let jobs = crate::jobs::JobLog::default();
        db.begin().map_err(PipelineError::load_from)?;
        let (mut db, work) = crate::loader::with_loader(db, |loader| -> Result<bool, PipelineError> {
            loader.run(Job::EnsureDataset)?;
            let (source_nesting, source_contract, source_root_key) = (source.max_table_nesting(), source.schema_contract(), source.root_key());
            let source_name = source.name().to_owned();
            let run = RunCtx { loader, load_id: &load_id, jobs: jobs.clone(), source_name: &source_name, source_nesting, source_contract, source_root_key };
            let mut sh = Shared { schema: &mut schema, changes: &mut changes, ids: &mut ids };
            let mut wrote_any = false;
            let (resources, parents) = source.into_pipes();
            let mut units: Vec<Option<crate::pipe::Unit>> = crate::pipe::plan(resources, parents)?.into_iter().map(Some).collect();
            // Parallelized resources start ahead of their turn, at most PARALLEL_RESOURCES
            // positions ahead, each behind its bounded channel; they are consumed in order.
            let mut ahead: Vec<Option<Started>> = (0..units.len()).map(|_| None).collect();
            let mut spool_index = 0;
            for index in 0..units.len() {
                for j in index..(index + PARALLEL_RESOURCES).min(units.len()) {
                    let Some(unit) = units[j].as_mut() else { continue };
                    let loads = unit.root_loads();
                    let r = unit.root_mut();
                    if ahead[j].is_none() && r.hints().parallelized {
                        let (filter, context) = resource_window(r.hints(), &source_name, &mut state, loads)?;
                        let items = catch_unwind(AssertUnwindSafe(|| r.take_items_with(&context))).unwrap_or_else(|p| Err(panic_message(p)));
                        ahead[j] = Some(Started { filter, context, items });
                    }
                }
                let loaded: Vec<crate::pipe::Loaded> = match units[index].take().expect("each unit is loaded once") {
                    crate::pipe::Unit::Single(mut resource) => {
                        let started = Instant::now();
                        if let Some(sp) = spool.as_mut() {
                            let keep = match resource.json_lines_file() {
                                Some(path) => crate::spool::Keep::LinesOf(path),
                                None if resource.is_json_lines() => crate::spool::Keep::Lines,
                                None => crate::spool::Keep::Values,
                            };
                            sp.begin_resource(spool_index, resource.hints(), keep)?;
                            spool_index += 1;
                        }
                        let written = self.load_resource(&run, &mut sh, (&mut resource, ahead[index].take()), &mut state, &mut progress, spool.as_mut())?;
                        vec![crate::pipe::Loaded { hints: resource.hints().clone(), written, took: started.elapsed() }]
                    }
                    crate::pipe::Unit::Group(node) => {
                        let mut io = crate::pipe::GroupIo { state: &mut state, progress: &mut progress, spool: spool.as_mut(), spool_index: &mut spool_index };
                        crate::pipe::load_group(self, &run, &mut sh, node, ahead[index].take(), &mut io)?
                    }
                };
                for crate::pipe::Loaded { hints, written, took } in loaded {
                    let root = sh.schema.table_name(hints.table());
                    for (table, rows) in &written {
                        *row_counts.entry(table.clone()).or_default() += rows;
                        let parent = sh.schema.table(table).and_then(|t| t.parent.clone());
                        tables.push(TableLoad { table: table.clone(), parent, resource: hints.name.clone(), rows: *rows, job: None });
                    }
                    let root_rows = written.get(&root).copied().unwrap_or(0);
                    progress.resource_done(&hints.name, root_rows, written.values().sum(), took);
                    wrote_any |= !written.is_empty() || hints.write_disposition == WriteDisposition::Replace;
                }
            }
            Ok(wrote_any)
        });
        // Bookkeeping on this thread, once every batch is in: schema version, state, the load.
        let outcome = work.and_then(|wrote_any| {
            let now = timestamp_text(Utc::now());
            let state_changed = state.bump_if_changed();
            if state_changed {
                if let Some(change) = schema.ensure_state_table() {
                    changes.push(change);
                }
            }
            let schema_changed = schema.bump_version();
            if !wrote_any && !state_changed && !schema_changed {
                // Nothing to load: no package and no _dlt_loads row, as dlt.
                return Ok(false);
            }
            db.ensure_dlt_tables(&schema).map_err(PipelineError::load_from)?;
            if schema_changed {
                db.insert_version(&schema, &now).map_err(PipelineError::load_from)?;
            }
            if state_changed {
                db.insert_state(&self.name, &state, &now, &load_id, &ids.root_id()).map_err(PipelineError::load_from)?;
                *row_counts.entry(etl_core::schema::STATE_TABLE.to_owned()).or_default() += 1;
            }
            db.insert_load(&load_id, &schema, &now).map_err(PipelineError::load_from)?;
            Ok(true)
        });
        let loaded = match outcome {
            Ok(true) => {
                db.commit().map_err(PipelineError::load_from)?;
                true
            }
            Ok(false) => {
                db.rollback();
                false
            }
            Err(mut e) => {
                db.rollback();
                // Items pulled before a normalize or load failure are kept (see `spool`); a
                // failing resource is run again instead, as dlt discards a failed extract.
                if let Some(sp) = spool.take() {
                    if matches!(e.step, crate::error::Step::Normalize | crate::error::Step::Load) {
                        if let Some(kept) = sp.keep() {
                            e.message.push_str(&format!(
                                "; the items pulled by this run are kept as a pending package in {} \
                                 (load them with `load-pending`, discard them with `drop-pending`)",
                                kept.display()
                            ));
                        }
                    } else {
                        sp.discard();
                    }
                }
                progress.failed(&e);
                return Err(e);
            }
        };
        if let Some(sp) = spool.take() {
            sp.discard();
        }
        for t in &mut tables {
            t.job = jobs.job(&t.table);
        }
        let finished_at = Utc::now();
        progress.finished(loaded, &row_counts, finished_at - started_at);
        Ok(LoadInfo {
            pipeline_name: self.name.clone(),
            dataset_name: dataset_display,
            dataset_schema: dataset,
            schema_name,
            destination_name: resolved.name().to_owned(),
            destination_type: resolved.destination_type().to_owned(),
            location: resolved.location(),
            database_path: resolved.file().map(Path::to_owned),
            load_id: loaded.then_some(load_id),
            first_run,
            started_at,
            finished_at,
            row_counts: if loaded { row_counts } else { BTreeMap::new() },
            tables: if loaded { tables } else { Vec::new() },
            schema_changes: changes,
            schema,
        })
    }

}
