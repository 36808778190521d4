//! One wasmtime engine configuration for every operator: pooling allocator,
//! copy-on-write memory images and epoch interruption, so that each task gets
//! a fresh instance cheaply and no guest can hold a thread forever.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Linear memories one component instance may have (pool slots and the
/// store limiter agree on it).
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 4;

/// Tables one component instance may have.
pub const MAX_TABLES_PER_COMPONENT: u32 = 16;

/// Core module instances one component may create: the hard ceiling on
/// `RuntimeConfig::max_core_instances`, matching the pooling allocator's slots.
pub const MAX_CORE_INSTANCES: usize = 64;

/// Engine-wide settings. Per-task budgets live in [`crate::Limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Count fuel so tasks can have deterministic CPU budgets (`Limits::fuel`).
    /// Costs some throughput, so it is off by default.
    pub fuel: bool,
    /// Native stack a guest may use before it traps with a stack overflow.
    pub max_wasm_stack: usize,
    /// Resolution of wall-time limits.
    pub epoch_tick: Duration,
    /// Concurrent instances the pooling allocator reserves slots for.
    pub pool_instances: u32,
    /// Largest linear memory any instance can reach (the per-task limit is
    /// `Limits::max_memory_bytes`, which must not exceed this).
    pub pool_max_memory_bytes: usize,
    /// Bytes of each linear memory kept resident when its slot is freed and
    /// reset in place (only the pages the task dirtied, found with Linux's
    /// `PAGEMAP_SCAN` where the kernel has it) rather than unmapped. A task
    /// of a big JS or Python runtime then starts without refaulting its heap.
    pub keep_resident_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            fuel: false,
            max_wasm_stack: 512 << 10,
            epoch_tick: Duration::from_millis(5),
            pool_instances: 64,
            pool_max_memory_bytes: 1 << 30,
            // Measured: 4 MiB takes a JS task from 290 to 145 µs and a Rust
            // one from 20 to 8 µs; more gained nothing.
            keep_resident_bytes: 4 << 20,
        }
    }
}

impl EngineConfig {
    pub fn with_fuel(mut self, fuel: bool) -> Self {
        self.fuel = fuel;
        self
    }

    /// The wasmtime configuration this stands for.
    pub fn wasmtime_config(&self) -> Config {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(self.pool_instances)
            // A Rust component is a handful of core instances (the module plus
            // adapter shims); leave room for bigger JS/Python runtimes.
            .total_core_instances(self.pool_instances * 16)
            .max_core_instances_per_component(MAX_CORE_INSTANCES as u32)
            .total_memories(self.pool_instances * 2)
            .total_tables(self.pool_instances * 4)
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_memory_size(self.pool_max_memory_bytes)
            // Keep recently used slots warm so copy-on-write resets are cheap.
            .max_unused_warm_slots(self.pool_instances)
            .linear_memory_keep_resident(self.keep_resident_bytes)
            .table_keep_resident(self.keep_resident_bytes.min(1 << 20))
            // Without PAGEMAP_SCAN (kernels before 6.7) the low addresses
            // are reset with memset, which is still cheaper than refaulting.
            .pagemap_scan(Enabled::Auto);

        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .epoch_interruption(true)
            .consume_fuel(self.fuel)
            .max_wasm_stack(self.max_wasm_stack)
            .wasm_component_model(true);
        config
    }

    /// Build the engine and start its epoch ticker.
    pub fn build(&self) -> wasmtime::Result<Engine> {
        let engine = Engine::new(&self.wasmtime_config())?;
        spawn_epoch_ticker(&engine, self.epoch_tick);
        Ok(engine)
    }
}

/// A fingerprint of everything that makes a compiled artifact valid: the
/// wasmtime version and the engine's compilation settings.
pub fn compatibility_key(engine: &Engine) -> String {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("wasmtime-{}-{:016x}", wasmtime_version(), h.finish())
}

/// The wasmtime version this host was built with.
pub fn wasmtime_version() -> &'static str {
    // Kept in step with the workspace's `wasmtime = "=…"` pin.
    "48.0.8"
}

/// Increments the engine's epoch every `tick` for as long as the engine lives;
/// holding only a weak reference lets the thread end when the engine drops.
fn spawn_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("trace-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("spawning the epoch ticker thread");
}
