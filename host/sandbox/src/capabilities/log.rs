//! `trace:operator/log`: structured log lines into the task's bounded log
//! buffer (shared with stdout/stderr).

use crate::bindings::trace::operator::log::{Host, Level};
use crate::task_state::TaskState;

impl Host for TaskState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let tag = match level {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        let line = format!("{tag} {message}\n");
        let appended = self.log.lock().expect("log buffer lock poisoned").append(line.as_bytes());
        appended.map_err(|e| self.fail(e))
    }
}
