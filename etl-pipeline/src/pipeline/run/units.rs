//! The units of a run, loaded in source order; parallelized resources started ahead of their
//! turn.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use etl_core::WriteDisposition;

use super::LoadRun;
use crate::error::PipelineError;
use crate::pipe::{Loaded, Unit};
use crate::pipeline::{Started, TableLoad, PARALLEL_RESOURCES};
use crate::sink::panic_message;

impl LoadRun<'_> {
    /// Loads the planned units in order. Returns whether anything was written (or replaced).
    pub(super) fn load_units(&mut self, units: Vec<Unit>) -> Result<bool, PipelineError> {
        let mut wrote_any = false;
        let mut units: Vec<Option<Unit>> = units.into_iter().map(Some).collect();
        // Parallelized resources start ahead of their turn, at most PARALLEL_RESOURCES
        // positions ahead, each behind its bounded channel; they are consumed in order.
        let mut ahead: Vec<Option<Started>> = (0..units.len()).map(|_| None).collect();
        for index in 0..units.len() {
            for j in index..(index + PARALLEL_RESOURCES).min(units.len()) {
                let Some(unit) = units[j].as_mut() else { continue };
                let loads = unit.root_loads();
                let r = unit.root_mut();
                if ahead[j].is_none() && r.hints().parallelized {
                    let (filter, context) = self.window(r.hints(), loads)?;
                    let items = catch_unwind(AssertUnwindSafe(|| r.take_items_with(&context))).unwrap_or_else(|p| Err(panic_message(p)));
                    ahead[j] = Some(Started { filter, context, items });
                }
            }
            let loaded: Vec<Loaded> = match units[index].take().expect("each unit is loaded once") {
                Unit::Single(mut resource) => {
                    let started = Instant::now();
                    if let (Some(sp), Some(keep)) = (self.acc.spool.as_mut(), crate::spool::keep_of(&resource)) {
                        sp.begin_resource(self.acc.spool_index, resource.hints(), keep)?;
                        self.acc.spool_index += 1;
                    }
                    let written = self.load_resource(&mut resource, ahead[index].take())?;
                    vec![Loaded { hints: resource.hints().clone(), written, took: started.elapsed() }]
                }
                Unit::Group(node) => crate::pipe::load_group(self, node, ahead[index].take())?,
            };
            for one in loaded {
                wrote_any |= self.record(one);
            }
        }
        Ok(wrote_any)
    }

    /// Counts what one resource loaded and reports it. Returns whether it wrote (or replaced)
    /// anything.
    fn record(&mut self, Loaded { hints, written, took }: Loaded) -> bool {
        let acc = &mut *self.acc;
        let schema = &acc.schema.schema;
        let root = schema.table_name(hints.table());
        for (table, rows) in &written {
            *acc.row_counts.entry(table.clone()).or_default() += rows;
            let parent = schema.table(table).and_then(|t| t.parent.clone());
            acc.tables.push(TableLoad { table: table.clone(), parent, resource: hints.name.clone(), rows: *rows, job: None });
        }
        let root_rows = written.get(&root).copied().unwrap_or(0);
        acc.progress.resource_done(&hints.name, root_rows, written.values().sum(), took);
        !written.is_empty() || hints.write_disposition == WriteDisposition::Replace
    }
}
