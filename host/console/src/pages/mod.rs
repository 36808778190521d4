//! One module per page (or group of pages).

pub mod dags;
pub mod datasets;
pub mod deliveries;
pub mod overview;
pub mod query;
pub mod tasks;
pub mod usage;

use maud::{html, Markup};
use trace_store::TaskView;

use crate::format;
use crate::layout::status;

/// Tasks as a table, each linking to its page.
pub(crate) fn task_table(tasks: &[TaskView]) -> Markup {
    html! {
        table.tasks {
            thead { tr { th { "task" } th { "job" } th { "status" } th.num { "attempts" } th { "range" } th { "last error" } } }
            tbody {
                @for t in tasks {
                    tr {
                        td { a href={ "/console/tasks/" (t.id) } { (t.id) } }
                        td { (t.job_name) }
                        td { (status(t.state())) @if t.cancel_requested { " " span.muted { "(stop asked)" } } }
                        td.num { (t.attempts) }
                        td { (format::range(t.event_range)) }
                        td.error { (t.last_error.as_deref().unwrap_or("")) }
                    }
                }
                @if tasks.is_empty() { tr { td colspan="6" .muted { "none" } } }
            }
        }
    }
}
