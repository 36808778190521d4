//! `alert_route`: reads alerts (every input is a writer of an
//! `alert_events` dataset) and writes delivery work items to output 0,
//! published `storage: buffered, schema: alert_deliveries`. The Delivery
//! Service sends them; this operator never sees a destination's URL or
//! secret, only its name.
//!
//! ```yaml
//! config:
//!   max_delivery_age: 1h          # older alerts are recorded as suppressed
//!   routes:
//!     - destination: ops          # a destination registered in the org
//!       min_severity: warning     # info < warning < critical (default info)
//!       key_prefix: "transfer:"   # optional
//!       detectors: [whales]       # optional: the writing jobs' names
//!       payload_equals: { token: "0x…" }   # optional: payload fields
//! ```
//!
//! Every alert that matches a route gives one row per matching route. If
//! its `event_time` is older than `max_delivery_age` (against the clock when
//! the task runs) the row is still written, with `suppressed_reason` set:
//! the record says it would have alerted.

use std::collections::BTreeMap;

use trace_guest::arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use trace_guest::prelude::*;

struct AlertRoute;

/// Most routes one job may declare.
const MAX_ROUTES: usize = 64;

struct Route {
    destination: String,
    min_severity: u8,
    key_prefix: Option<String>,
    detectors: Option<Vec<String>>,
    payload_equals: BTreeMap<String, serde_json::Value>,
}

fn severity_rank(s: &str) -> Option<u8> {
    match s {
        "info" => Some(0),
        "warning" => Some(1),
        "critical" => Some(2),
        _ => None,
    }
}

/// `30s`, `5m`, `1h`, `2d`, or a number of milliseconds.
fn duration_ms(v: &serde_json::Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return (n >= 0).then_some(n);
    }
    let s = v.as_str()?.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

fn parse(ctx: &TaskContext) -> Result<(Vec<Route>, Option<i64>), OperatorError> {
    let config = config::parse(ctx)?;
    let max_age = match config.get("max_delivery_age") {
        None => None,
        Some(v) => Some(duration_ms(v).ok_or_else(|| fatal(format!("config.max_delivery_age must be like 30s, 5m, 1h, 2d or milliseconds, got {v}")))?),
    };
    let routes = config.get("routes").and_then(|r| r.as_array()).ok_or_else(|| fatal("config.routes must be a list of routes"))?;
    if routes.is_empty() || routes.len() > MAX_ROUTES {
        return Err(fatal(format!("config.routes must have 1 to {MAX_ROUTES} routes, got {}", routes.len())));
    }
    let mut out = Vec::with_capacity(routes.len());
    for (i, r) in routes.iter().enumerate() {
        let at = |m: &str| fatal(format!("config.routes[{i}]: {m}"));
        let destination = r.get("destination").and_then(|d| d.as_str()).filter(|d| !d.is_empty()).ok_or_else(|| at("destination is required"))?;
        let min_severity = match r.get("min_severity") {
            None => 0,
            Some(s) => s.as_str().and_then(severity_rank).ok_or_else(|| at("min_severity must be info, warning or critical"))?,
        };
        let key_prefix = match r.get("key_prefix") {
            None => None,
            Some(p) => Some(p.as_str().ok_or_else(|| at("key_prefix must be text"))?.to_owned()),
        };
        let detectors = match r.get("detectors") {
            None => None,
            Some(d) => Some(
                d.as_array()
                    .ok_or_else(|| at("detectors must be a list of job names"))?
                    .iter()
                    .map(|j| j.as_str().map(str::to_owned).ok_or_else(|| at("detectors must be a list of job names")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let payload_equals = match r.get("payload_equals") {
            None => BTreeMap::new(),
            Some(p) => p.as_object().ok_or_else(|| at("payload_equals must be a map of payload fields to values"))?.clone().into_iter().collect(),
        };
        out.push(Route { destination: destination.to_owned(), min_severity, key_prefix, detectors, payload_equals });
    }
    Ok((out, max_age))
}

fn text<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, OperatorError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| fatal(format!("an alert_events input needs a text column `{name}`")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Rows of the `alert_deliveries` schema.
#[derive(Default)]
struct Deliveries {
    key: Vec<String>,
    destination: Vec<String>,
    severity: Vec<String>,
    event_time: Vec<i64>,
    payload: Vec<String>,
    suppressed: Vec<Option<String>>,
}

impl Deliveries {
    fn batch(self) -> Result<RecordBatch, OperatorError> {
        use std::sync::Arc;
        use trace_guest::arrow_schema::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("alert_key", DataType::Utf8, false),
            Field::new("destination", DataType::Utf8, false),
            Field::new("severity", DataType::Utf8, false),
            Field::new("event_time", DataType::Int64, false),
            Field::new("payload", DataType::Utf8, true),
            Field::new("suppressed_reason", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(self.key)),
                Arc::new(StringArray::from(self.destination)),
                Arc::new(StringArray::from(self.severity)),
                Arc::new(Int64Array::from(self.event_time)),
                Arc::new(StringArray::from(self.payload)),
                Arc::new(StringArray::from(self.suppressed)),
            ],
        )
        .map_err(|e| fatal(format!("building deliveries: {e}")))
    }
}

impl Operator for AlertRoute {
    fn run(ctx: &TaskContext, _event: &InputEvent) -> Result<(), OperatorError> {
        let (routes, max_age) = parse(ctx)?;
        let now = now_ms();
        let mut out = Deliveries::default();
        let (mut seen, mut suppressed) = (0usize, 0usize);
        // Every wired input is a writer of an alert_events dataset; only the
        // one whose commit started this task has rows.
        for index in 0..input::count() {
            for batch in input::batches(index) {
                let batch = batch?;
                let (key, severity, payload, writer) = (text(&batch, "alert_key")?, text(&batch, "severity")?, text(&batch, "payload")?, text(&batch, "_writer")?);
                let event_time = batch
                    .column_by_name("event_time")
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                    .ok_or_else(|| fatal("an alert_events input needs an int64 column `event_time`"))?;
                for row in 0..batch.num_rows() {
                    seen += 1;
                    let rank = severity_rank(severity.value(row)).unwrap_or(0);
                    let data: serde_json::Value = if payload.is_null(row) { serde_json::Value::Null } else { serde_json::from_str(payload.value(row)).unwrap_or(serde_json::Value::Null) };
                    for route in &routes {
                        let matches = rank >= route.min_severity
                            && route.key_prefix.as_ref().is_none_or(|p| key.value(row).starts_with(p.as_str()))
                            && route.detectors.as_ref().is_none_or(|d| d.iter().any(|j| j == writer.value(row)))
                            && route.payload_equals.iter().all(|(field, want)| data.get(field) == Some(want));
                        if !matches {
                            continue;
                        }
                        let age = now - event_time.value(row);
                        let reason = max_age.filter(|max| age > *max).map(|max| format!("stale: event_time is {age} ms old, max_delivery_age is {max} ms"));
                        suppressed += usize::from(reason.is_some());
                        out.key.push(key.value(row).to_owned());
                        out.destination.push(route.destination.clone());
                        out.severity.push(severity.value(row).to_owned());
                        out.event_time.push(event_time.value(row));
                        out.payload.push(serde_json::json!({ "detector": writer.value(row), "alert": data }).to_string());
                        out.suppressed.push(reason);
                    }
                }
            }
        }
        let routed = out.key.len();
        log::info(&format!("{seen} alert(s) in, {routed} delivery row(s) out, {suppressed} suppressed as stale"));
        if routed > 0 {
            output::write(0, &out.batch()?)?;
        }
        Ok(())
    }
}

trace_guest::export_operator!(AlertRoute);
