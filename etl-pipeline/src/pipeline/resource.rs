//! One resource of a run: its sink (hints applied, `replace` emptied, merge or not), its
//! window, its items, and its end (last rows, merge).

use super::*;

impl<'a> LoadRun<'a> {
    /// Makes the sink of a selected resource: applies its hints to the schema, empties its
    /// tables for `replace`, and decides where and how its rows go.
    pub(crate) fn prepare_sink(&mut self, hints: &etl_core::ResourceHints) -> Result<Prepared<'a>, PipelineError> {
        let facts = self.facts;
        let loader = self.loader;
        let sh = &mut self.acc.schema;
        let setup = setup_table(facts, loader, sh, hints)?;
        let TableSetup { node, contract, target, merging, scd2 } = setup;
        let sink = RowSink::new(loader, facts, hints, node, contract, target, sh.changes.len());
        Ok(Prepared { sink, hints: hints.clone(), merging, scd2 })
    }

    /// Extracts, normalizes and loads one resource that feeds no transformer (`ahead`: started
    /// ahead of its turn). Returns rows written per table.
    pub(crate) fn load_resource(&mut self, resource: &mut Resource, ahead: Option<Started>) -> Result<BTreeMap<String, u64>, PipelineError> {
        let name = resource.name().to_owned();
        let hints = resource.hints().clone();
        let mut prepared = self.prepare_sink(&hints)?;
        let (filter, context, mut started_items) = match ahead {
            Some(Started { filter, context, items }) => (filter, context, Some(items)),
            None => {
                let (filter, context) = self.window(&hints, true)?;
                (filter, context, None)
            }
        };
        let facts = self.facts;
        let source_name = facts.source.name.as_str();
        let kept = crate::spool::keep_of(resource).is_some();
        let Accumulated { schema: sh, state, progress, spool, .. } = &mut *self.acc;
        // Only what a failed run keeps goes to the spool (`spool::keep_of`).
        let mut spool = spool.as_mut().filter(|_| kept);
        let sink = &mut prepared.sink;
        sink.filter = filter;
        sink.router = resource.router();
        if sink.filter.is_some() || sink.router.is_some() {
            // Incremental rows are filtered, and routed rows routed, as values first.
            sink.writer.disable_fast_path();
        }
        // Typed items go through the fast path from their `Serialize` implementation where it
        // applies (a parallelized resource already hands values over).
        let typed = if sink.writer.fast_path_enabled() && started_items.is_none() {
            catch_unwind(AssertUnwindSafe(|| resource.take_typed_items_with(&context))).unwrap_or_else(|p| Some(Err(panic_message(p))))
        } else {
            None
        };
        // Record batches load column by column when appended (or replaced); a merging resource's
        // rows take the value path, which makes the row ids its merge needs.
        let arrow = if started_items.is_none() && sink.router.is_none() && !prepared.merging {
            catch_unwind(AssertUnwindSafe(|| resource.take_arrow_batches_with(&context))).unwrap_or_else(|p| Some(Err(panic_message(p))))
        } else {
            None
        };
        if let Some(batches) = arrow {
            // Record batches go column by column into the buffers (no row values); they are not
            // spooled: an Arrow resource is pulled again by the next run.
            let mut batches = batches.map_err(|e| PipelineError::extract(&name, None, e))?;
            let lineage = facts.arrow_lineage;
            while let Some(batch) = next_item(&mut batches).map_err(|e| PipelineError::extract(&name, Some(sink.item_no), e))? {
                let stop = sink.arrow_batch(sh, batch, lineage)?;
                progress.extracted(&name, sink.item_no);
                if stop {
                    break;
                }
            }
        } else if let Some(reader) = resource.take_json_lines() {
            // JSON lines stream straight into the column buffers; the spool keeps them verbatim.
            let reader = reader.map_err(|e| PipelineError::extract(&name, None, e))?;
            // Read (and decompressed, ...) on a thread of its own, beside the normalizer.
            let mut reader: etl_core::resource::JsonLines = match crate::readahead::ReadAhead::new(reader) {
                Ok(ahead) => Box::new(ahead),
                Err(reader) => reader,
            };
            let mut line = Vec::with_capacity(1 << 12);
            let mut line_no: u64 = 0;
            loop {
                // A line that is whole in the reader's buffer is parsed where it is; one that
                // crosses the buffer's end is copied out first. The buffer is filled under
                // `catch_unwind` (a reader may panic), then asked again for the slice, which a
                // filled buffer returns without reading.
                let fail = |e| PipelineError::extract(&name, Some(sink.item_no), e);
                let filled = read_guarded(|| reader.fill_buf().map(|b| b.len())).map_err(fail)?;
                if filled == 0 {
                    break;
                }
                let buf = reader.fill_buf().map_err(|e| fail(Box::new(e)))?;
                let (text, whole) = match memchr::memchr(b'\n', buf) {
                    Some(end) => (&buf[..=end], true),
                    None => {
                        line.clear();
                        read_guarded(|| reader.read_until(b'\n', &mut line)).map_err(fail)?;
                        (line.as_slice(), false)
                    }
                };
                let consumed = text.len();
                line_no += 1;
                if let Some(sp) = spool.as_deref_mut() {
                    sp.write_raw(text)?;
                }
                let trimmed = text.trim_ascii();
                let item = !trimmed.is_empty();
                let stop = item && sink.json_line(sh, trimmed, line_no)?;
                if whole {
                    reader.consume(consumed);
                }
                if item {
                    progress.extracted(&name, sink.item_no);
                }
                if stop {
                    break;
                }
            }
        } else if let Some(taken) = typed {
            let mut items = taken.map_err(|e| PipelineError::extract(&name, None, e))?;
            while let Some(item) = next_item(&mut items).map_err(|e| PipelineError::extract(&name, Some(sink.item_no), e))? {
                let stop = sink.typed_item(sh, item, spool.as_deref_mut())?;
                progress.extracted(&name, sink.item_no);
                if stop {
                    break;
                }
            }
        } else {
            let taken = match started_items.take() {
                Some(items) => items,
                None => catch_unwind(AssertUnwindSafe(|| resource.take_items_with(&context))).unwrap_or_else(|p| Err(panic_message(p))),
            };
            let mut items = taken.map_err(|e| PipelineError::extract(&name, None, e))?;
            while let Some(value) = next_item(&mut items).map_err(|e| PipelineError::extract(&name, Some(sink.item_no), e))? {
                let stop = match spool.as_deref_mut() {
                    // Normalized from the spool's batch: the spool thread serializes and frees it.
                    Some(sp) => sink.item(sh, sp.keep_value(value)?)?,
                    None => sink.item(sh, &value)?,
                };
                progress.extracted(&name, sink.item_no);
                if stop {
                    // Ordered rows past the window: stop pulling from the source.
                    break;
                }
            }
        }
        // The items are done (or stopped): what the resource wrote into its state is stored
        // with its rows.
        state.set_resource_state(source_name, &name, context.state.snapshot());
        if let (Some(f), Some(inc)) = (prepared.sink.filter.take(), hints.incremental.as_ref()) {
            if let Some(cursor) = f.finish() {
                state.set_cursor(source_name, &name, &inc.cursor_path, &cursor);
            }
        }
        self.finish_sink(prepared)
    }

    /// Flushes a resource's last rows and merges them from staging. Returns rows written per
    /// table.
    pub(crate) fn finish_sink(&mut self, prepared: Prepared<'_>) -> Result<BTreeMap<String, u64>, PipelineError> {
        let sh = &mut self.acc.schema;
        let Prepared { mut sink, hints, merging, scd2 } = prepared;
        sink.flush(sh, true)?;
        let written = std::mem::take(&mut sink.written);
        // The resource's own table, then each table its items were routed to.
        let mut merges = Vec::new();
        if merging {
            merges.push((sink.node.root.clone(), hints, scd2));
        }
        for route in std::mem::take(&mut sink.routes).into_values().filter(|r| r.setup.merging) {
            merges.push((route.setup.node.root, route.hints, route.setup.scd2));
        }
        for (root, hints, scd2) in merges {
            let mut tables = vec![root.clone()];
            tables.extend(sh.schema.descendants(&root).into_iter().map(|t| t.name.clone()));
            let merge = merge_of(sh, &root, &hints, scd2);
            self.loader.run(Job::Merge { schema: Box::new(sh.schema.clone()), root, merge, tables, jobs: self.facts.jobs.clone() })?;
        }
        Ok(written)
    }

    /// A resource's incremental window and context, from the run's state (a selected `replace`
    /// resource starts from empty state). A bounded window (`end_value`) neither reads nor moves
    /// the stored cursor.
    pub(crate) fn window(
        &mut self,
        hints: &etl_core::ResourceHints,
        selected: bool,
    ) -> Result<(Option<etl_core::incremental::IncrementalFilter>, etl_core::ResourceContext), PipelineError> {
        let facts = self.facts;
        let source_name = facts.source.name.as_str();
        let state = &mut self.acc.state;
        let name = &hints.name;
        if selected && hints.write_disposition == WriteDisposition::Replace {
            state.reset_resource(source_name, name);
        }
        let filter = match hints.incremental.clone() {
            Some(mut inc) => {
                inc.validate().map_err(|e| PipelineError::config(format!("resource `{name}`: {e}")))?;
                // Boundary rows are identified by the resource's primary key unless the cursor has its own.
                if inc.primary_key.is_none() && !hints.primary_key.is_empty() {
                    inc.primary_key = Some(hints.primary_key.clone());
                }
                let prior = if inc.is_bounded() { None } else { state.cursor(source_name, name, &inc.cursor_path) };
                Some(etl_core::incremental::IncrementalFilter::new(inc, prior))
            }
            None => None,
        };
        let context = etl_core::ResourceContext {
            start_value: filter.as_ref().and_then(|f| f.start_value().cloned()),
            last_value: filter.as_ref().and_then(|f| f.last_value().cloned()),
            end_value: filter.as_ref().and_then(|f| f.end_value().cloned()),
            state: etl_core::ResourceState::from_map(state.resource_state(source_name, name)),
        };
        Ok((filter, context))
    }
}

/// How one root table of a resource is loaded.
pub(crate) struct TableSetup {
    /// How its rows are normalized.
    pub node: NodeCtx,
    /// The schema contract that applies.
    pub contract: etl_core::SchemaContract,
    /// Where its rows go (staging when merging).
    pub target: Target,
    /// Whether it merges from staging.
    pub merging: bool,
    /// Whether it merges as scd2.
    pub scd2: bool,
}

/// Applies a resource's hints to its root table (`hints.table()`), empties it for `replace`
/// (in the run's transaction), and decides where and how its rows go. A resource's own table
/// and each table its items are routed to are set up so.
#[cfg(loads)]
pub(crate) fn setup_table(
    facts: &RunFacts,
    loader: &crate::loader::Loader,
    sh: &mut RunSchema,
    hints: &etl_core::ResourceHints,
) -> Result<TableSetup, PipelineError> {
    let name = &hints.name;
    let root = sh.schema.table_name(hints.table());
    let changes = sh.schema.apply_resource_hints(hints, &root).map_err(|e| PipelineError::normalize(name, None, e.to_string()))?;
    sh.changes.extend(changes);
    if hints.write_disposition == WriteDisposition::Replace {
        // Replace: the root table and all its nested tables lose their rows, inside the run's
        // transaction, so readers never see them empty.
        let mut doomed = vec![root.clone()];
        doomed.extend(sh.schema.descendants(&root).into_iter().map(|t| t.name.clone()));
        let then_sync = sh.schema.table(&root).cloned();
        loader.run(Job::Truncate { tables: doomed, then_sync })?;
    }
    // Merge with a primary or merge key loads into staging, then merges (delete-insert);
    // merge without keys appends, as in dlt.
    let scd2 = hints.write_disposition == WriteDisposition::Merge && hints.merge_strategy == etl_core::hints::MergeStrategy::Scd2;
    let merging = scd2
        || hints.write_disposition == WriteDisposition::Merge && sh.schema.table(&root).is_some_and(|t| t.columns.iter().any(|c| c.primary_key || c.merge_key));
    let target = if merging { Target::Staging } else { Target::Main };
    let contract = facts.schema_contract.or(hints.schema_contract).or(facts.source.contract).unwrap_or_default();
    let primary_key: Vec<String> =
        sh.schema.table(&root).map(|t| t.columns.iter().filter(|c| c.primary_key).map(|c| c.name.clone()).collect()).unwrap_or_default();
    let upsert = merging && hints.merge_strategy == etl_core::hints::MergeStrategy::Upsert;
    if upsert && primary_key.is_empty() {
        return Err(PipelineError::config(format!("resource `{name}`: merge strategy `upsert` needs a `primary_key`")));
    }
    let node = NodeCtx {
        root,
        primary_key,
        max_nesting: hints.max_table_nesting.or(facts.source.nesting).unwrap_or(DEFAULT_MAX_NESTING),
        propagate_root_id: merging || facts.source.root_key,
        upsert,
        scd2,
    };
    Ok(TableSetup { node, contract, target, merging, scd2 })
}

/// The merge of a root table's staged rows, as its hints ask.
pub(crate) fn merge_of(sh: &mut RunSchema, root: &str, hints: &etl_core::ResourceHints, scd2: bool) -> Merge {
    if scd2 {
        sh.schema.set_row_key_unique(root, false);
        // The validity columns as the schema names them.
        let naming = sh.schema.naming();
        let columns = etl_core::hints::Scd2Columns {
            valid_from: naming.normalize_path(&hints.scd2_columns.valid_from),
            valid_to: naming.normalize_path(&hints.scd2_columns.valid_to),
        };
        Merge::Scd2 { columns, boundary: timestamp_text(Utc::now()) }
    } else if hints.merge_strategy == etl_core::hints::MergeStrategy::Upsert {
        Merge::Upsert
    } else {
        Merge::DeleteInsert
    }
}

/// A selected resource's sink and what its end needs.
#[cfg(loads)]
pub(crate) struct Prepared<'a> {
    pub sink: RowSink<'a>,
    hints: etl_core::ResourceHints,
    merging: bool,
    scd2: bool,
}

/// How many resources ahead of the one being loaded a parallelized resource may start: the
/// bound on producers (and their requests) in flight besides the current one.
#[cfg(loads)]
pub(super) const PARALLEL_RESOURCES: usize = 4;

/// A parallelized resource started ahead of its turn: its window and its running producer.
#[cfg(loads)]
pub(crate) struct Started {
    pub filter: Option<etl_core::incremental::IncrementalFilter>,
    pub context: etl_core::ResourceContext,
    pub items: Result<etl_core::Items, BoxError>,
}
