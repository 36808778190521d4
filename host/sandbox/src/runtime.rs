//! The runtime: admits components, compiles them once, and runs each task in
//! a fresh store from a pre-linked `InstancePre`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use trace_core::Digest;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};

use crate::admission::{self, World};
use crate::bindings::{SourcePre, WitInputEvent, WitTaskContext};
use crate::cache::ComponentCache;
use crate::engine::{EngineConfig, MAX_CORE_INSTANCES};
use crate::error::LoadError;
use crate::outcome::{classify_failure, TaskFailure, TaskReport, Usage};
use crate::task::Task;
use crate::task_state::TaskState;

/// Settings of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub engine: EngineConfig,
    /// Where compiled components are kept across restarts (`None`: memory only).
    pub cache_dir: Option<PathBuf>,
    /// Largest component accepted for loading.
    pub max_component_bytes: usize,
    /// Core module instances a component may create (a Rust operator needs
    /// a handful; JS and Python runtimes more). At most [`MAX_CORE_INSTANCES`].
    pub max_core_instances: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { engine: EngineConfig::default(), cache_dir: None, max_component_bytes: 64 << 20, max_core_instances: MAX_CORE_INSTANCES }
    }
}

/// One per process: the engine, a linker per world and the compiled cache.
pub struct Runtime {
    engine: Engine,
    config: RuntimeConfig,
    transform: Linker<TaskState>,
    source: Linker<TaskState>,
    cache: ComponentCache,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> wasmtime::Result<Self> {
        let engine = config.engine.build()?;
        let transform = crate::linker::build(&engine, World::Transform)?;
        let source = crate::linker::build(&engine, World::Source)?;
        let cache = ComponentCache::new(&engine, config.cache_dir.clone());
        Ok(Self { engine, config, transform, source, cache })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Whether this runtime's engine counts fuel (every task then reports
    /// what it burned and may be given a budget).
    pub fn meters_fuel(&self) -> bool {
        self.config.engine.fuel
    }

    /// Load the component at `path` for `world`.
    pub fn load_file(&self, path: &Path, world: World) -> Result<Operator, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
        self.load(&bytes, world)
    }

    /// Admit, compile (or fetch from cache) and pre-link a component.
    pub fn load(&self, bytes: &[u8], world: World) -> Result<Operator, LoadError> {
        let limit = self.config.max_component_bytes;
        if bytes.len() > limit {
            return Err(LoadError::TooLarge { got: bytes.len(), limit });
        }
        let digest = Digest::of(bytes);
        let got = admission::count_core_instances(bytes);
        let limit = self.config.max_core_instances.min(MAX_CORE_INSTANCES);
        if got > limit {
            return Err(LoadError::TooManyInstances { digest, got, limit });
        }
        let component = self.cache.get_or_compile(&self.engine, digest, bytes)?;
        admission::check_imports(&self.engine, &component, world, digest)?;
        let linker = match world {
            World::Transform => &self.transform,
            World::Source => &self.source,
        };
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|source| LoadError::Link { digest, world: world.name(), source })?;
        let pre = SourcePre::new(pre).map_err(|source| LoadError::MissingExport { digest, source })?;
        Ok(Operator { digest, world, pre: Arc::new(pre), engine: self.engine.clone(), settings: self.config.engine.clone() })
    }
}

/// A loaded operator: cheap to clone, safe to run from many threads.
#[derive(Clone)]
pub struct Operator {
    digest: Digest,
    world: World,
    pre: Arc<SourcePre<TaskState>>,
    engine: Engine,
    settings: EngineConfig,
}

impl Operator {
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn world(&self) -> World {
        self.world
    }

    /// Run one task in a fresh store. The store, and everything the guest
    /// did in it, is dropped when this returns.
    #[allow(clippy::result_large_err, reason = "a failure carries the task's log and usage; one per task, never on a hot path")]
    pub fn run(&self, task: Task) -> Result<TaskReport, TaskFailure> {
        let started = Instant::now();
        let Task { context, event, inputs, output_count, state, rpc, event_sink, limits } = task;
        let mut state = TaskState::new(started, limits.clone(), inputs, output_count, state, rpc);
        state.event_sink = event_sink;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s);
        store.set_hostcall_fuel(limits.max_call_bytes);
        let tick = self.settings.epoch_tick.as_micros().max(1);
        // The next tick may come at once; one extra tick makes the limit a
        // floor, so a guest always gets at least its full time.
        let ticks = limits.timeout.as_micros().div_ceil(tick) as u64 + 1;
        store.set_epoch_deadline(ticks);
        if self.settings.fuel {
            let fuel = limits.fuel.unwrap_or(u64::MAX);
            if let Err(e) = store.set_fuel(fuel) {
                return Err(TaskFailure::setup(e, started));
            }
        }

        let ctx = WitTaskContext::from(&context);
        let event = WitInputEvent::from(&event);
        // Spans of the task's trace (the task and attempt on each: a log
        // line names the span it is in, not its parents).
        let (task_id, attempt) = (context.task_id.as_str(), context.attempt);
        let result = tracing::debug_span!("instantiate", task = task_id, attempt)
            .in_scope(|| self.pre.instantiate(&mut store))
            .and_then(|instance| tracing::debug_span!("run", task = task_id, attempt).in_scope(|| instance.call_run(&mut store, &ctx, &event)));
        let fuel_consumed = self.settings.fuel.then(|| {
            let left = store.get_fuel().unwrap_or(0);
            limits.fuel.unwrap_or(u64::MAX) - left
        });
        let state = store.into_data();
        let usage = Usage::measure(&state, started.elapsed(), fuel_consumed);
        match result {
            Ok(Ok(())) => Ok(TaskReport::from_state(state, usage)),
            Ok(Err(op_err)) => Err(TaskFailure::operator(op_err, state, usage)),
            Err(trap) => Err(classify_failure(trap, state, usage, &limits, &self.settings)),
        }
    }
}
