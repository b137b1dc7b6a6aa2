//! [`LoadRun`]: one run's value, carried through extract → normalize → load.
//!
//! It has two parts because open sinks keep borrowing from one while the run changes the other:
//! [`RunFacts`], what the run knows from its start and never changes (sinks hold its load id),
//! and [`Accumulated`], what the run builds up (schema, state, spool, counts). Both are made
//! before the loader thread starts and outlive it (the bookkeeping, a failure's spool); the
//! [`LoadRun`] that joins them to the loader's handle lives while the loader does.

use std::collections::BTreeMap;

use etl_core::normalize::IdGenerator;
use etl_core::{Schema, SchemaChange, SchemaContract};

use crate::jobs::JobLog;
use crate::loader::Loader;
use crate::pipeline::TableLoad;
use crate::progress::ProgressSink;
use crate::spool::Spool;
use crate::state::PipelineState;

/// What a run knows from its start and never changes.
pub(crate) struct RunFacts {
    /// The pipeline's name.
    pub pipeline: String,
    /// The load id (dlt's: Unix time with microseconds).
    pub load_id: String,
    /// The load jobs, recorded by the loader thread.
    pub jobs: JobLog,
    /// The source being loaded.
    pub source: SourceFacts,
    /// The pipeline's schema contract, over every source's and resource's.
    pub schema_contract: Option<SchemaContract>,
    /// The lineage columns arrow items get (`[normalize.parquet_normalizer]`).
    pub arrow_lineage: etl_core::arrow_items::ArrowLineage,
}

/// What a run takes from its source for every resource.
pub(crate) struct SourceFacts {
    /// The source's name (state is kept under it).
    pub name: String,
    /// The source's `max_table_nesting`.
    pub nesting: Option<u32>,
    /// The source's schema contract.
    pub contract: Option<SchemaContract>,
    /// Whether nested rows carry `_dlt_root_id`.
    pub root_key: bool,
}

impl SourceFacts {
    /// The facts of `source`.
    pub fn of(source: &etl_core::Source) -> Self {
        SourceFacts {
            name: source.name().to_owned(),
            nesting: source.max_table_nesting(),
            contract: source.schema_contract(),
            root_key: source.root_key(),
        }
    }
}

/// What every sink of a run writes into, item by item (several sinks may be open at once).
pub(crate) struct RunSchema {
    /// The schema (evolved by the general path).
    pub schema: Schema,
    /// Every schema change of the run, in order.
    pub changes: Vec<SchemaChange>,
    /// Root row ids.
    pub ids: IdGenerator,
}

/// What a run builds up.
pub(crate) struct Accumulated {
    /// Schema, schema changes and ids.
    pub schema: RunSchema,
    /// The pipeline state (resource state, incremental cursors).
    pub state: PipelineState,
    /// Progress lines and the orchestrator's observer.
    pub progress: ProgressSink,
    /// The spool of the items pulled, if the pipeline keeps one.
    pub spool: Option<Spool>,
    /// The next spool file index.
    pub spool_index: usize,
    /// Rows written per table.
    pub row_counts: BTreeMap<String, u64>,
    /// Each table's part of the load, in the order written.
    pub tables: Vec<TableLoad>,
}

/// One run while its loader runs: the run's facts, the loader's handle, what it builds up.
pub(crate) struct LoadRun<'a> {
    /// Borrowed for the run's length: a sink keeps its load id.
    pub facts: &'a RunFacts,
    /// Sends work to the loader thread.
    pub loader: &'a Loader,
    /// Schema, state, progress, spool and counts.
    pub acc: &'a mut Accumulated,
}
