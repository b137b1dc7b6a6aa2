//! The end of a run: dlt's bookkeeping rows (schema version, state, the load) once every batch
//! is in, then the commit, or the rollback and what a failure keeps.

use chrono::Utc;

use super::{Accumulated, RunFacts};
use crate::destination::Session;
use crate::error::{PipelineError, Step};
use crate::pipeline::timestamp_text;

impl Accumulated {
    /// Writes the schema version, the state and the `_dlt_loads` row, on the loader's session
    /// after the loader stopped. Returns whether there is a load to commit: a run that wrote
    /// nothing and changed neither state nor schema has none, as in dlt.
    pub(super) fn write_bookkeeping(&mut self, db: &mut dyn Session, facts: &RunFacts, wrote_any: bool) -> Result<bool, PipelineError> {
        let schema = &mut self.schema.schema;
        let now = timestamp_text(Utc::now());
        let state_changed = self.state.bump_if_changed();
        if state_changed {
            if let Some(change) = schema.ensure_state_table() {
                self.schema.changes.push(change);
            }
        }
        let schema_changed = schema.bump_version();
        if !wrote_any && !state_changed && !schema_changed {
            // Nothing to load: no package and no _dlt_loads row, as dlt.
            return Ok(false);
        }
        db.ensure_dlt_tables(schema).map_err(PipelineError::load_from)?;
        if schema_changed {
            db.insert_version(schema, &now).map_err(PipelineError::load_from)?;
        }
        if state_changed {
            db.insert_state(&facts.pipeline, &self.state, &now, &facts.load_id, &self.schema.ids.root_id()).map_err(PipelineError::load_from)?;
            *self.row_counts.entry(etl_core::schema::STATE_TABLE.to_owned()).or_default() += 1;
        }
        db.insert_load(&facts.load_id, schema, &now).map_err(PipelineError::load_from)?;
        Ok(true)
    }

    /// Commits a run that has a load, rolls back one that has none or failed. The spool goes
    /// away, unless the run failed in normalize or load: then the items it holds (those of
    /// resources that are not replayable, and links to files) are kept as a pending package (a
    /// failing resource is run again instead, as dlt discards a failed extract).
    /// Returns whether the run loaded.
    pub(super) fn settle(&mut self, db: &mut dyn Session, outcome: Result<bool, PipelineError>) -> Result<bool, PipelineError> {
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
                if let Some(sp) = self.spool.take() {
                    if matches!(e.step, Step::Normalize | Step::Load) {
                        match sp.keep() {
                            Some(kept) => e.message.push_str(&format!(
                                "; the items pulled by this run are kept as a pending package in {} \
                                 (load them with `load-pending`, discard them with `drop-pending`)",
                                kept.display()
                            )),
                            None => e.message.push_str("; nothing of this run was loaded, and its resources are replayable: the next run pulls their items again"),
                        }
                    } else {
                        sp.discard();
                    }
                }
                self.progress.failed(&e);
                return Err(e);
            }
        };
        if let Some(sp) = self.spool.take() {
            sp.discard();
        }
        Ok(loaded)
    }
}
