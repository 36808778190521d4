//! The baseline: the same component run on bare wasmtime, the way a careful
//! embedder would without Trace (same pooling allocator and copy-on-write
//! settings, full WASI from wasmtime-wasi, no limits, no capture, no checks).

use std::time::{Duration, Instant};

use trace_sandbox::bindings::{Source, SourcePre, WitInputEvent, WitTaskContext};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub struct BareState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

pub struct Bare {
    engine: Engine,
    pre: SourcePre<BareState>,
}

impl Bare {
    /// Load the component at `path` with Trace's engine settings but none of
    /// its per-task machinery.
    pub fn load(path: &str) -> wasmtime::Result<Self> {
        let mut config = trace_sandbox::EngineConfig::default().wasmtime_config();
        config.epoch_interruption(false);
        let engine = Engine::new(&config)?;
        let component = Component::from_file(&engine, path)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        // Trace's own interfaces as traps: the no-op tasks measured never
        // call them, but JS and Python components import every one.
        linker.define_unknown_imports_as_traps(&component)?;
        let pre = SourcePre::new(linker.instantiate_pre(&component)?)?;
        Ok(Self { engine, pre })
    }

    /// A store with an empty WASI context, as each task gets.
    fn store(&self) -> Store<BareState> {
        Store::new(&self.engine, BareState { wasi: WasiCtx::builder().build(), table: ResourceTable::new() })
    }

    /// New store, instantiate, call `run`, drop.
    pub fn run_once(&self, ctx: &WitTaskContext, event: &WitInputEvent) -> wasmtime::Result<()> {
        let mut store = self.store();
        let instance = self.pre.instantiate(&mut store)?;
        call_run(&instance, &mut store, ctx, event)
    }

    /// Where a task's time goes: each phase of [`Self::run_once`] timed on
    /// its own, averaged over `tasks` tasks.
    pub fn phases(&self, ctx: &WitTaskContext, event: &WitInputEvent, tasks: u32) -> wasmtime::Result<Phases> {
        let mut total = Phases::default();
        for _ in 0..tasks {
            let started = Instant::now();
            let mut store = self.store();
            let stored = Instant::now();
            let instance = self.pre.instantiate(&mut store)?;
            let instantiated = Instant::now();
            call_run(&instance, &mut store, ctx, event)?;
            let ran = Instant::now();
            drop(store);
            total.store += stored - started;
            total.instantiate += instantiated - stored;
            total.run += ran - instantiated;
            total.drop += ran.elapsed();
        }
        let n = tasks.max(1);
        Ok(Phases { store: total.store / n, instantiate: total.instantiate / n, run: total.run / n, drop: total.drop / n })
    }
}

/// The operator's `run`, its own error (if any) turned into the call's.
fn call_run(instance: &Source, store: &mut Store<BareState>, ctx: &WitTaskContext, event: &WitInputEvent) -> wasmtime::Result<()> {
    instance.call_run(store, ctx, event)?.map_err(|e| wasmtime::Error::msg(format!("{e:?}")))
}

/// Mean time of each phase of a task on bare wasmtime.
#[derive(Debug, Default, Clone, Copy)]
pub struct Phases {
    pub store: Duration,
    pub instantiate: Duration,
    pub run: Duration,
    pub drop: Duration,
}
