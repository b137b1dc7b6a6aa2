//! One resource's rows, normalized into its tables' column buffers (the fast path where it
//! applies, the general path otherwise) and handed to the loader thread a full batch at a time.
//!
//! Several sinks may be open at once (a parent and its transformers load in one pass): what they
//! share (schema, schema changes, id generator) is passed to each call as the run's
//! [`RunSchema`].

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use etl_core::fast::RowWriter;
use etl_core::normalize::{normalize_item, RowContext};
use etl_core::resource::BoxError;
use etl_core::Value;

use crate::destination::Target;
use crate::error::PipelineError;
use crate::jobs::JobLog;
use crate::loader::{InsertJob, Job, Recycled};
use crate::pipeline::RunSchema;

/// How a resource's rows are normalized: the owned parts of a [`RowContext`].
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeCtx {
    /// Normalized root table.
    pub root: String,
    /// Primary key columns of the root table (the id hash of `upsert`).
    pub primary_key: Vec<String>,
    /// Effective `max_table_nesting`.
    pub max_nesting: u32,
    /// `_dlt_root_id` on nested rows.
    pub propagate_root_id: bool,
    /// Root ids are key hashes (`upsert`).
    pub upsert: bool,
    /// Root ids are row hashes (`scd2`).
    pub scd2: bool,
}

impl NodeCtx {
    /// The normalizer's view.
    pub fn row_context<'a>(&'a self, load_id: &'a str) -> RowContext<'a> {
        RowContext {
            root_table: &self.root,
            load_id,
            max_nesting: self.max_nesting,
            propagate_root_id: self.propagate_root_id,
            key_hash_id: self.upsert.then_some(self.primary_key.as_slice()),
            row_hash_id: self.scd2,
        }
    }
}


/// A table a resource's items are routed to: how it is loaded, and its hints.
pub(crate) struct RoutedTable {
    /// Its setup (root, keys, target, merge).
    pub setup: crate::pipeline::TableSetup,
    /// Its hints: the resource's with the table's name, or those its items carried.
    pub hints: etl_core::ResourceHints,
}

/// Normalizes the rows of one resource and hands full buffers to the loader.
pub(crate) struct RowSink<'a> {
    pub loader: &'a crate::loader::Loader,
    facts: &'a crate::pipeline::RunFacts,
    pub load_id: &'a str,
    pub node: NodeCtx,
    pub contract: etl_core::SchemaContract,
    pub writer: RowWriter,
    /// The resource's incremental filter, when the sink judges rows itself.
    pub filter: Option<etl_core::incremental::IncrementalFilter>,
    flat: Vec<etl_core::normalize::FlatRow>,
    pub resource: String,
    pub target: Target,
    /// Rows pulled so far.
    pub item_no: u64,
    /// Rows handed to the loader, per table.
    pub written: BTreeMap<String, u64>,
    /// Buffers of loaded batches, coming back from the loader to be reused.
    recycled: (std::sync::mpsc::Sender<Recycled>, std::sync::mpsc::Receiver<Recycled>),
    /// Schema changes this sink's writer knows of (another sink may have evolved the schema).
    seen_changes: usize,
    jobs: JobLog,
    /// The resource's hints (a routed table's start from them).
    hints: etl_core::ResourceHints,
    /// Routes each item to a table (`table_name` as a function of the item).
    pub router: Option<etl_core::resource::TableRouter>,
    /// The tables items were routed to, by normalized name.
    pub routes: BTreeMap<String, RoutedTable>,
}

impl<'a> RowSink<'a> {
    /// A sink for one resource.
    pub fn new(
        loader: &'a crate::loader::Loader,
        facts: &'a crate::pipeline::RunFacts,
        hints: &etl_core::ResourceHints,
        node: NodeCtx,
        contract: etl_core::SchemaContract,
        target: Target,
        seen_changes: usize,
    ) -> Self {
        let load_id = facts.load_id.as_str();
        let mut writer = RowWriter::new(&node.row_context(load_id));
        // Child ids are hashed on the loader thread, a batch at a time, four at once (AVX2): half
        // the normalizer's cost for them, and the normalizer is the busier thread.
        writer.defer_child_ids(true);
        RowSink {
            loader,
            facts,
            load_id,
            node,
            contract,
            writer,
            filter: None,
            flat: Vec::new(),
            resource: hints.name.clone(),
            target,
            item_no: 0,
            written: BTreeMap::new(),
            recycled: std::sync::mpsc::channel(),
            seen_changes,
            jobs: facts.jobs.clone(),
            hints: hints.clone(),
            router: None,
            routes: BTreeMap::new(),
        }
    }

    /// Tells the writer of schema changes another sink made.
    fn sync(&mut self, sh: &RunSchema) {
        if sh.changes.len() != self.seen_changes {
            self.seen_changes = sh.changes.len();
            self.writer.schema_changed();
        }
    }

    /// One pulled item; a list is a batch of rows, as in dlt. A marked item, or any item of a
    /// routed resource, goes to its own table. Returns whether to stop pulling (ordered rows
    /// past the incremental window).
    pub fn item(&mut self, sh: &mut RunSchema, value: &Value) -> Result<bool, PipelineError> {
        self.sync(sh);
        let (route, value) = match etl_core::resource::routing::route_of(value) {
            Some((route, item)) => (Some(route), item),
            None => (None, value),
        };
        let rows = match value {
            Value::List(rows) => rows.as_slice(),
            other => std::slice::from_ref(other),
        };
        for row in rows {
            self.item_no += 1;
            if let Some(f) = self.filter.as_mut() {
                match f.check(row).map_err(|e| PipelineError::extract(&self.resource, Some(self.item_no - 1), Box::new(e)))? {
                    etl_core::incremental::Decision::Keep => {}
                    etl_core::incremental::Decision::Skip => continue,
                    etl_core::incremental::Decision::Stop => return Ok(true),
                }
            }
            let table = match (&route, &self.router) {
                (Some(r), _) => Some(r.table.clone()),
                (None, Some(f)) => Some(f(row)),
                (None, None) => None,
            };
            if let Some(table) = table.map(|t| sh.schema.table_name(&t)).filter(|t| *t != self.node.root) {
                self.routed(sh, table, route.as_ref().and_then(|r| r.hints.clone()), row)?;
                continue;
            }
            if !self.writer.value(&sh.schema, row, &mut sh.ids) {
                self.general(sh, row.clone())?;
            }
        }
        self.flush(sh, false)?;
        Ok(false)
    }

    /// A row routed to `table` (normalized): the table is set up on its first row (hints
    /// applied, emptied for `replace`, staged for merge), then the row is normalized with the
    /// table as its root, nested tables included.
    fn routed(&mut self, sh: &mut RunSchema, table: String, hints: Option<etl_core::ResourceHints>, row: &Value) -> Result<(), PipelineError> {
        if !self.routes.contains_key(&table) {
            let mut h = hints.unwrap_or_else(|| self.hints.clone());
            h.name = self.hints.name.clone();
            h.table_name = Some(table.clone());
            // The window is the resource's, judged before routing.
            h.incremental = None;
            let setup = crate::pipeline::setup_table(self.facts, self.loader, sh, &h)?;
            self.routes.insert(table.clone(), RoutedTable { setup, hints: h });
        }
        let route = self.routes.remove(&table).expect("set up above");
        let result = self.general_in(sh, row.clone(), &route.setup.node, &route.setup.contract);
        self.routes.insert(table, route);
        result
    }

    /// One typed item: through the fast path from its `Serialize` implementation (the spool
    /// thread makes its value), else as a value, as [`RowSink::item`].
    pub fn typed_item(&mut self, sh: &mut RunSchema, item: Box<dyn etl_core::TypedItem>, spool: Option<&mut crate::spool::Spool>) -> Result<bool, PipelineError> {
        self.sync(sh);
        let item_no = self.item_no;
        // Borrows only the name (no copy per item: this is the typed fast path).
        let extract_error = |e: BoxError| PipelineError::extract(&self.resource, Some(item_no), e);
        // A panicking `Serialize` implementation is the resource's failure, as in `to_value`.
        let fast = catch_unwind(AssertUnwindSafe(|| item.write_fast(&mut self.writer, &sh.schema, &mut sh.ids))).map_err(|p| extract_error(panic_message(p)))?;
        if fast {
            self.item_no += 1;
            if let Some(sp) = spool {
                sp.keep_typed(item)?;
            }
            self.flush(sh, false)?;
            return Ok(false);
        }
        let value = catch_unwind(AssertUnwindSafe(|| item.to_value()))
            .map_err(|p| extract_error(panic_message(p)))?
            .map_err(|e| extract_error(Box::new(e)))?;
        drop(item);
        match spool {
            Some(sp) => self.item(sh, sp.keep_value(value)?),
            None => self.item(sh, &value),
        }
    }

    /// One line of a JSON-lines resource (`line_no` counts from 1, for errors).
    pub fn json_line(&mut self, sh: &mut RunSchema, text: &[u8], line_no: u64) -> Result<bool, PipelineError> {
        self.sync(sh);
        if self.writer.json(&sh.schema, text, &mut sh.ids) {
            self.item_no += 1;
            self.flush(sh, false)?;
            return Ok(false);
        }
        let value: Value = serde_json::from_slice(text)
            .map_err(|e| PipelineError::extract(&self.resource, Some(self.item_no), format!("line {line_no}: {e}").into()))?;
        self.item(sh, &value)
    }

    /// The general path: normalize into rows, coerce each against the schema (evolving it),
    /// append to the buffers.
    fn general(&mut self, sh: &mut RunSchema, row: Value) -> Result<(), PipelineError> {
        // Lent out for the call (no copy per row).
        let node = std::mem::take(&mut self.node);
        let contract = self.contract;
        let result = self.general_in(sh, row, &node, &contract);
        self.node = node;
        result
    }

    /// The general path for a row of the table `node` roots.
    fn general_in(&mut self, sh: &mut RunSchema, row: Value, node: &NodeCtx, contract: &etl_core::SchemaContract) -> Result<(), PipelineError> {
        let before = sh.changes.len();
        self.flat.clear();
        let ctx = node.row_context(self.load_id);
        normalize_item(&sh.schema, &ctx, row, &mut sh.ids, &mut self.flat);
        let row_no = Some(self.item_no - 1);
        let result = (|| {
            for flat in self.flat.drain(..) {
                let table = flat.table.clone();
                let coerced = sh
                    .schema
                    .coerce_row_with(flat, contract, &mut sh.changes)
                    .map_err(|e| PipelineError::normalize(&self.resource, row_no, e.to_string()))?;
                let Some(coerced) = coerced else { continue };
                self.writer.push_row(&sh.schema, &table, &coerced).map_err(|e| PipelineError::normalize(&self.resource, row_no, e))?;
            }
            Ok(())
        })();
        if sh.changes.len() != before {
            self.writer.schema_changed();
            self.seen_changes = sh.changes.len();
        }
        result
    }

    /// One Arrow record batch: filtered by the incremental window (on its cursor column), the
    /// root table evolved from the batch's schema, and written column by column into one batch
    /// of the table's buffers. Returns whether to stop pulling (ordered rows past the window).
    pub fn arrow_batch(&mut self, sh: &mut RunSchema, batch: arrow::record_batch::RecordBatch, lineage: etl_core::arrow_items::ArrowLineage) -> Result<bool, PipelineError> {
        self.sync(sh);
        let first = self.item_no;
        let (batch, stop) = match self.filter.as_mut() {
            Some(f) => window_of_batch(f, batch).map_err(|e| PipelineError::extract(&self.resource, Some(first), e))?,
            None => (batch, false),
        };
        let root = self.node.root.clone();
        self.arrow_contract(sh, &root, &batch).map_err(|e| PipelineError::normalize(&self.resource, Some(first), e))?;
        // A table that has the lineage columns (made by an earlier load of rows, NOT NULL) gets
        // them filled, asked for or not.
        let has = |c: &str| sh.schema.table(&root).is_some_and(|t| t.column_index(c).is_some());
        let lineage = etl_core::arrow_items::ArrowLineage {
            load_id: lineage.load_id || has(etl_core::normalize::C_LOAD_ID),
            row_id: lineage.row_id || has(etl_core::normalize::C_ID),
        };
        let before = sh.changes.len();
        let evolved = etl_core::arrow_items::evolve(&mut sh.schema, &root, &batch, lineage, &mut sh.changes);
        if sh.changes.len() != before {
            self.writer.schema_changed();
            self.seen_changes = sh.changes.len();
        }
        let indexes = evolved.map_err(|e| PipelineError::normalize(&self.resource, Some(first), e))?;
        // In slices of the loader's batch size (zero-copy), so a large record batch is never
        // copied whole into the buffers at once.
        let rows = batch.num_rows();
        for offset in (0..rows).step_by(etl_core::columnar::BATCH_ROWS) {
            let part = batch.slice(offset, etl_core::columnar::BATCH_ROWS.min(rows - offset));
            let table = sh.schema.table(&root).expect("evolved above");
            let mut columns = etl_core::arrow_items::fill(table, &part, &indexes, lineage, self.load_id, &mut sh.ids)
                .map_err(|e| PipelineError::normalize(&self.resource, Some(first + offset as u64), e))?;
            let (len, buffers) = columns.take();
            if len > 0 {
                self.send(sh, root.clone(), len, buffers)?;
            }
        }
        self.item_no += rows as u64;
        Ok(stop)
    }

    /// A frozen schema contract for a record batch: a new table, or a new column of a table
    /// with data, is an error naming it (discarding modes are not applied to record batches).
    fn arrow_contract(&self, sh: &RunSchema, root: &str, batch: &arrow::record_batch::RecordBatch) -> Result<(), String> {
        use etl_core::hints::ContractMode::Freeze;
        let table = sh.schema.table(root).filter(|t| t.seen_data);
        match table {
            None if self.contract.tables == Freeze => Err(format!("schema contract `tables: freeze`: can't add table `{root}`")),
            Some(t) if self.contract.columns == Freeze => {
                let naming = sh.schema.naming();
                match batch.schema().fields().iter().map(|f| naming.normalize_path(f.name())).find(|n| t.column(n).is_none()) {
                    Some(new) => Err(format!("schema contract `columns: freeze`: can't add column `{new}` to table `{root}`")),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Hands the buffers that are full (`all`: every non-empty one) to the loader.
    pub fn flush(&mut self, sh: &RunSchema, all: bool) -> Result<(), PipelineError> {
        for (table, len, columns) in self.writer.drain(all) {
            self.send(sh, table, len, columns)?;
        }
        Ok(())
    }

    /// Hands one batch of a table's buffers to the loader, after taking back the buffers of the
    /// batches it loaded: the writer keeps one batch of them per table to refill, the rest are
    /// freed here, on the thread that made them (whatever filled the batch: left in the channel,
    /// the Arrow path's buffers held every batch of a run, 2.4 GB at 10 M events).
    fn send(&mut self, sh: &RunSchema, table: String, len: usize, mut columns: Vec<Option<etl_core::columnar::ColumnBuffer>>) -> Result<(), PipelineError> {
        while let Ok((table, buffers)) = self.recycled.1.try_recv() {
            self.writer.recycle(&table, buffers);
        }
        {
            // Parents first: a nested table's rows may arrive before its parent's batch is
            // flushed, but the parent table must exist for the schema to be consistent in the
            // destination.
            let mut chain = vec![sh.schema.table(&table).cloned().expect("rows only exist for known tables")];
            while let Some(parent) = chain.last().and_then(|t| t.parent.clone()) {
                match sh.schema.table(&parent) {
                    Some(p) => chain.push(p.clone()),
                    None => break,
                }
            }
            chain.reverse();
            // The insert runs on the loader thread, in order with everything else; the bytes of
            // the batch count against the loader's budget (values and validity, and text).
            let bytes = columns.iter().flatten().map(|c| c.len() * 9 + c.byte_len()).sum();
            // A routed table's rows go where its own setup says (staging when it merges).
            let root = sh.schema.root_of(&table).to_owned();
            let target = self.routes.get(&root).map_or(self.target, |r| r.setup.target);
            if self.loader.backlogged(bytes) {
                // The loader has jobs waiting: this thread is not what it waits for, so it
                // hashes the batch's child ids itself (the loader skips ids that are
                // filled). Whichever thread has time does the hashing.
                etl_core::columnar::fill_child_ids(chain.last().expect("a table"), &mut columns);
            }
            let job = InsertJob { chain, target, rows: len, columns, recycle: self.recycled.0.clone(), jobs: self.jobs.clone() };
            self.loader.run_sized(bytes, Job::Insert(job))?;
            *self.written.entry(table).or_default() += len as u64;
        }
        Ok(())
    }
}

/// The rows of an Arrow batch inside the incremental window (judged on the cursor column, a
/// top-level column of the batch), and whether ordered rows went past it.
fn window_of_batch(
    filter: &mut etl_core::incremental::IncrementalFilter,
    batch: arrow::record_batch::RecordBatch,
) -> Result<(arrow::record_batch::RecordBatch, bool), BoxError> {
    let path = filter.cursor_path().to_owned();
    let Some(index) = batch.schema().fields().iter().position(|f| f.name() == &path) else {
        return Err(format!("the incremental cursor `{path}` is not a column of the record batch").into());
    };
    // What the filter reads of a row: the cursor, and what identifies a row at the boundary
    // (its key columns, or the whole row).
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    let wanted: Vec<usize> = match filter.dedup_key() {
        None => (0..names.len()).collect(),
        Some(key) => std::iter::once(index).chain(key.iter().filter_map(|k| names.iter().position(|n| n == k))).collect(),
    };
    let mut keep = Vec::with_capacity(batch.num_rows());
    let mut stop = false;
    for row in 0..batch.num_rows() {
        let mut fields = Vec::with_capacity(wanted.len());
        for &i in &wanted {
            fields.push((names[i].clone(), etl_core::arrow_values::value_at(batch.column(i), row)?));
        }
        let row_value = Value::Object(fields);
        match filter.check(&row_value).map_err(|e| Box::new(e) as BoxError)? {
            etl_core::incremental::Decision::Keep => keep.push(true),
            etl_core::incremental::Decision::Skip => keep.push(false),
            etl_core::incremental::Decision::Stop => {
                keep.resize(batch.num_rows(), false);
                stop = true;
                break;
            }
        }
    }
    let mask = arrow::array::BooleanArray::from(keep);
    let kept = arrow::compute::filter_record_batch(&batch, &mask).map_err(|e| Box::new(e) as BoxError)?;
    Ok((kept, stop))
}

/// The next item of a resource: its error, or its panic, as the resource's error.
pub(crate) fn next_item<T>(items: &mut (impl Iterator<Item = Result<T, etl_core::BoxError>> + ?Sized)) -> Result<Option<T>, etl_core::BoxError> {
    match catch_unwind(AssertUnwindSafe(|| items.next())) {
        Ok(next) => next.transpose(),
        Err(panic) => Err(panic_message(panic)),
    }
}

/// Runs a read of a resource's reader: its error, or its panic, as the resource's error.
pub(crate) fn read_guarded<T>(read: impl FnOnce() -> std::io::Result<T>) -> Result<T, etl_core::BoxError> {
    match catch_unwind(AssertUnwindSafe(read)) {
        Ok(result) => result.map_err(|e| Box::new(e) as etl_core::BoxError),
        Err(panic) => Err(panic_message(panic)),
    }
}

/// A caught panic as an error.
pub(crate) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> BoxError {
    format!("panicked: {}", crate::error::panic_text(panic.as_ref())).into()
}
