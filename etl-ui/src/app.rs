//! What every handler shares: the definitions and their graph (built once, in the working
//! directory), the instance storage, the run options, and the secrets of the security rules.

use std::sync::Arc;
use std::time::Duration;

use etl_runtime::execute::{materialize, new_run_id, RunOptions};
use etl_runtime::graph::AssetGraph;
use etl_runtime::history::{HistoryError, RunStore};
use etl_runtime::queue::submit::{submit, RunParams, Submission};
use etl_runtime::registry::Registry;

/// The server's state.
pub struct App {
    /// The binary's definitions.
    pub registry: Registry,
    /// Their graph, built once.
    pub graph: AssetGraph,
    /// The instance storage.
    pub store: RunStore,
    /// Options of the runs it launches.
    pub options: RunOptions,
    /// The token every request must carry, if any.
    pub token: Option<String>,
    /// The CSRF token of this server's forms (random per process).
    pub csrf: String,
    /// The binary's schedules.
    pub schedules: Vec<etl_runtime::schedule::Schedule>,
}

/// Why a launch was refused.
#[derive(Debug)]
pub struct LaunchError(pub String);

impl App {
    /// The state for `registry` run with `options` (its storage opened).
    pub fn new(registry: Registry, options: RunOptions, token: Option<String>, schedules: Vec<etl_runtime::schedule::Schedule>) -> Result<Arc<App>, String> {
        let graph = etl_core::resource::with_run_dir(&options.working_dir, || AssetGraph::build(&registry)).map_err(|e| e.to_string())?;
        let store = options.store().map_err(|e| e.to_string())?;
        let mut options = options;
        options.storage = Some(store.clone());
        options.bars = None;
        Ok(Arc::new(App { registry, graph, store, options, token, csrf: random_token(), schedules }))
    }

    /// Runs a storage read off the async executor (a file read, or a round trip to the server).
    pub async fn read<T: Send + 'static>(self: &Arc<Self>, f: impl FnOnce(&RunStore) -> Result<T, HistoryError> + Send + 'static) -> Result<T, HistoryError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store)).await.unwrap_or_else(|e| {
            Err(HistoryError::Damaged { path: "<ui>".into(), message: format!("a storage read panicked: {e}") })
        })
    }

    /// Launches a run of `selection`: queued for the workers when the storage has them, else
    /// started in this process. Returns its id once its record exists.
    pub async fn launch(self: &Arc<Self>, what: Submission, params: RunParams) -> Result<String, LaunchError> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || app.launch_blocking(what, params)).await.map_err(|e| LaunchError(format!("the launch panicked: {e}")))?
    }

    fn launch_blocking(&self, what: Submission, params: RunParams) -> Result<String, LaunchError> {
        let dir = &self.options.working_dir;
        if self.store.has_workers() {
            return submit(&self.registry, &self.store, dir, &what, params).map(|r| r.run_id).map_err(LaunchError);
        }
        // Checked here as the workers' submit checks it, then run on a thread of its own.
        let selection = match &what {
            Submission::Select(s) => {
                let keys = self.graph.select(s).map_err(|e| LaunchError(e.to_string()))?;
                let steps = self.graph.plan(&keys).map_err(|e| LaunchError(e.to_string()))?;
                etl_runtime::execute::check_run(&self.registry, &steps, params.partition.as_ref(), params.config.as_ref())
                    .map_err(|e| LaunchError(e.to_string()))?;
                s.clone()
            }
            Submission::FromFailure(_) => String::new(),
        };
        let run_id = new_run_id();
        let mut options = self.options.clone();
        options.run_id = Some(run_id.clone());
        options.tags = params.tags;
        options.partition = params.partition;
        options.config = params.config;
        let registry = self.registry.clone();
        let spawned = std::thread::Builder::new().name("ui-run".into()).spawn(move || {
            let result = match what {
                Submission::Select(_) => materialize(&registry, &selection, &options),
                Submission::FromFailure(parent) => etl_runtime::execute::materialize_from_failure(&registry, &parent, &options),
            };
            if let Err(e) = result {
                tracing::error!("a run launched from the UI did not start: {e}");
            }
        });
        spawned.map_err(|e| LaunchError(format!("cannot start a thread for the run: {e}")))?;
        // The page of the run reads its record: wait (briefly) until it is written.
        for _ in 0..100 {
            if self.store.record(&run_id).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(run_id)
    }
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS gives random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
