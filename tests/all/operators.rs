//! The built-in operators produce the right rows and events.

use arrow_array::RecordBatch;
use serde_json::json;
use trace_core::{Event, Range};
use trace_sandbox::{MemoryState, TaskError};

use crate::support::*;

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow_select::concat::concat_batches(&erc20_logic::transfers_schema(), batches).unwrap()
}

#[test]
fn erc20_udf_matches_the_native_filter_row_for_row() {
    let logs = erc20_logic::synthetic_logs(1_000, 20_000, 42);
    let min_value = 5_000_000u128;
    let expected = erc20_logic::filter_transfers(&logs, min_value).unwrap();

    let op = load(trace_artifacts::ERC20_TRANSFERS);
    let mut t = task(json!({ "min_value": min_value.to_string() })).with_input(ipc_source(&logs, 4096));
    t.event = range_event(1_000, 3_000);
    let report = op.run(t).expect("UDF succeeds");

    let got = concat(&decode_output(&report.outputs[0]));
    assert!(expected.num_rows() > 100, "the fixture keeps some rows");
    assert_eq!(got, expected);
    assert_eq!(
        report.events,
        vec![Event { output: 0, partition_key: "1000_3000".into(), range: Some(Range { start: 1_000, end: 3_000 }), cursor: None }]
    );
    assert!(report.log.contains(&format!("kept {} of 20000 logs", expected.num_rows())), "{}", report.log);
}

#[test]
fn erc20_udf_rejects_a_bad_threshold_as_fatal() {
    let op = load(trace_artifacts::ERC20_TRANSFERS);
    let err = op.run(task(json!({ "min_value": "lots" }))).unwrap_err();
    match err.error {
        TaskError::Operator { retryable: false, message } => assert!(message.contains("min_value"), "{message}"),
        other => panic!("expected a fatal operator error, got {other:?}"),
    }
}

fn split(start: u64, end: u64, size: u64) -> Vec<(u64, u64)> {
    let op = load(trace_artifacts::RANGE_SPLITTER);
    let mut t = task(json!({ "range_size": size }));
    t.event = range_event(start, end);
    let report = op.run(t).expect("splitter succeeds");
    report.events.iter().map(|e| {
        let r = e.range.unwrap();
        assert_eq!(e.partition_key, format!("{}_{}", r.start, r.end));
        (r.start, r.end)
    }).collect()
}

#[test]
fn range_splitter_cuts_at_multiples_of_the_range_size() {
    assert_eq!(split(0, 25_000, 10_000), vec![(0, 10_000), (10_000, 20_000), (20_000, 25_000)]);
    assert_eq!(split(5, 12, 5), vec![(5, 10), (10, 12)]);
    assert_eq!(split(7, 7, 5), vec![]);
}

/// Feed `ranges` to the aggregator in order, carrying its state between tasks
/// as the platform does; returns the windows each task emitted.
fn aggregate(ranges: &[(u64, u64)], size: u64) -> Vec<Result<Vec<(u64, u64)>, TaskError>> {
    let op = load(trace_artifacts::RANGE_AGGREGATOR);
    let mut state = MemoryState::default();
    ranges
        .iter()
        .map(|&(s, e)| {
            let mut t = task(json!({ "range_size": size })).with_state(state.clone());
            t.event = range_event(s, e);
            match op.run(t) {
                Ok(report) => {
                    state.apply(report.state_writes);
                    Ok(report.events.iter().map(|e| (e.range.unwrap().start, e.range.unwrap().end)).collect())
                }
                Err(f) => Err(f.error),
            }
        })
        .collect()
}

#[test]
fn range_aggregator_emits_each_window_once_it_is_complete() {
    let out = aggregate(&[(0, 3_000), (3_000, 12_000), (12_000, 31_000)], 10_000);
    let windows: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(windows, vec![vec![], vec![(0, 10_000)], vec![(10_000, 20_000), (20_000, 30_000)]]);
}

#[test]
fn range_aggregator_never_emits_a_window_it_only_partly_saw() {
    let windows: Vec<_> = aggregate(&[(5, 15), (15, 30)], 10).into_iter().map(Result::unwrap).collect();
    assert_eq!(windows, vec![vec![], vec![(10, 20), (20, 30)]]);
}

#[test]
fn range_aggregator_ignores_redelivered_ranges_waits_out_gaps_and_rejects_conflicts() {
    let out = aggregate(&[(0, 10), (0, 10), (25, 30), (10, 25), (5, 15), (20, 35)], 10);
    assert_eq!(out[0].as_ref().unwrap(), &vec![(0, 10)]);
    assert_eq!(out[1].as_ref().unwrap(), &vec![], "a duplicate emits nothing");
    assert_eq!(out[2].as_ref().unwrap(), &vec![], "a range after a gap waits in the state");
    assert_eq!(out[3].as_ref().unwrap(), &vec![(10, 20), (20, 30)], "filling the gap completes both windows");
    assert_eq!(out[4].as_ref().unwrap(), &vec![], "a range inside what is covered is a duplicate");
    match &out[5] {
        Err(TaskError::Operator { retryable: false, message }) => {
            assert!(message.contains("input range [20, 35) overlaps the already aggregated [0, 30) without matching it"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn udf_reads_and_writes_parquet_through_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("logs.parquet");
    let logs = erc20_logic::synthetic_logs(0, 10_000, 3);
    trace_batches::write_parquet(&input, &[trace_batches::encode_ipc(std::slice::from_ref(&logs)).unwrap()]).unwrap();

    let source = trace_batches::ParquetSource::open(&input, 1024).unwrap();
    let report = load(trace_artifacts::ERC20_TRANSFERS).run(task(json!({})).with_input(source)).unwrap();
    let out = dir.path().join("transfers.parquet");
    let rows = trace_batches::write_parquet(&out, &report.outputs[0]).unwrap();
    assert_eq!(rows as usize, erc20_logic::filter_transfers(&logs, 0).unwrap().num_rows());
    assert!(out.exists());
}

/// `alert_route`'s fatal message for `config`.
fn route_refusal(config: serde_json::Value) -> String {
    match load(trace_artifacts::ALERT_ROUTE).run(task(config)).unwrap_err().error {
        TaskError::Operator { retryable: false, message } => message,
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

#[test]
fn alert_route_refuses_configs_outside_its_bounds_by_name() {
    let route = json!({ "destination": "ops" });
    assert!(route_refusal(json!({})).contains("config.routes must be a list of routes"));
    assert!(route_refusal(json!({ "routes": [] })).contains("config.routes must have 1 to 64 routes, got 0"));
    let many: Vec<_> = (0..65).map(|_| route.clone()).collect();
    assert!(route_refusal(json!({ "routes": many })).contains("config.routes must have 1 to 64 routes, got 65"));
    assert!(route_refusal(json!({ "routes": [{ "min_severity": "info" }] })).contains("config.routes[0]: destination is required"));
    assert!(route_refusal(json!({ "routes": [{ "destination": "ops", "min_severity": "loud" }] })).contains("min_severity must be info, warning or critical"));
    let stale = route_refusal(json!({ "routes": [route], "max_delivery_age": "soon" }));
    assert!(stale.contains("config.max_delivery_age must be like 30s, 5m, 1h, 2d or milliseconds"), "{stale}");
    // Within the bounds it runs (no input rows: nothing routed).
    let report = load(trace_artifacts::ALERT_ROUTE).run(task(json!({ "routes": vec![route; 64], "max_delivery_age": "1h" }))).unwrap();
    assert!(report.outputs.iter().all(Vec::is_empty) && report.log.contains("0 alert(s) in, 0 delivery row(s) out"), "{}", report.log);
}
