//! Per-task cost of a no-op operator: new store + instantiate + run + drop,
//! through Trace's runtime and on bare wasmtime.

use std::time::Duration;

use trace_core::{InputEvent, TaskContext};
use trace_sandbox::bindings::{WitInputEvent, WitTaskContext};
use trace_sandbox::{Runtime, RuntimeConfig, Task, World};

use crate::bare::{Bare, Phases};
use crate::report::best_of;

pub struct PerTask {
    pub trace: Duration,
    pub bare: Duration,
    /// The bare task split into store, instantiate, run and drop.
    pub bare_phases: Phases,
}

impl PerTask {
    pub fn ratio(&self) -> f64 {
        self.trace.as_secs_f64() / self.bare.as_secs_f64()
    }
}

/// Mean per-task time over `tasks` tasks, best of `rounds` rounds.
pub fn measure(component: &str, tasks: u32, rounds: usize) -> PerTask {
    measure_with(component, serde_json::json!({}), tasks, rounds)
}

/// [`measure`] with the job config each task gets.
pub fn measure_with(component: &str, config: serde_json::Value, tasks: u32, rounds: usize) -> PerTask {
    let context = TaskContext::local("bench", config);
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let op = runtime.load_file(component.as_ref(), World::Transform).expect("load");
    let (trace, _) = best_of(rounds, || {
        for _ in 0..tasks {
            op.run(Task::new(context.clone(), InputEvent::default())).expect("task succeeds");
        }
    });

    let bare = Bare::load(component).expect("bare load");
    let ctx = WitTaskContext::from(&context);
    let event = WitInputEvent::from(&InputEvent::default());
    let (bare_time, _) = best_of(rounds, || {
        for _ in 0..tasks {
            bare.run_once(&ctx, &event).expect("bare task succeeds");
        }
    });
    let bare_phases = bare.phases(&ctx, &event, tasks).expect("bare task succeeds");
    PerTask { trace: trace / tasks, bare: bare_time / tasks, bare_phases }
}
