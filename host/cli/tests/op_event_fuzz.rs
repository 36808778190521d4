//! `trace op run --event JSON` takes an event from the user and hands it to
//! operator code: generated events (any shape, wrong types, reversed or
//! huge ranges, long and odd partition keys, unknown fields) and arbitrary
//! text through the real binary and a real component never crash it (no
//! panic, no signal, no hang): it runs, or it says what is wrong. A fixed
//! number of cases (each is a process), so CI time is bounded.

mod support;

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;

fn event() -> impl Strategy<Value = String> {
    let number = prop_oneof![any::<u64>().prop_map(Value::from), any::<i64>().prop_map(Value::from), Just(json!(1e300)), Just(json!("7")), Just(Value::Null)];
    let text = prop_oneof!["\\PC{0,40}".prop_map(Value::from), Just(Value::from("k".repeat(20_000))), Just(json!(["a"]))];
    let range = prop_oneof![
        (any::<u64>(), any::<u64>()).prop_map(|(s, e)| json!({ "start": s, "end": e })),
        (0u64..1000, 0u64..1000).prop_map(|(s, e)| json!({ "start": s, "end": e })),
        (number.clone(), number.clone()).prop_map(|(s, e)| json!({ "start": s, "end": e })),
        Just(json!([1, 2])),
        Just(Value::Null),
    ];
    let object = (proptest::option::of(number), proptest::option::of(text.clone()), proptest::option::of(range), proptest::option::of(text), any::<bool>())
        .prop_map(|(input, key, range, cursor, extra)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [("input", input), ("partition_key", key), ("range", range), ("cursor", cursor)] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            if extra {
                m.insert("colour".into(), json!("red"));
            }
            Value::Object(m).to_string()
        });
    prop_oneof![6 => object, 1 => "\\PC{0,60}"]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_events_run_or_are_refused_never_a_crash(event in event()) {
        let dir = tempfile::tempdir().unwrap();
        let op = operators().join("op_range_aggregator.wasm");
        let (out, cache) = (dir.path().join("out"), dir.path().join("cache"));
        let event_arg = format!("--event={event}");
        let args = ["op", "run", op.to_str().unwrap(), &event_arg, "--config", r#"{"range_size": 10}"#, "--out-dir", out.to_str().unwrap(), "--timeout", "20s"];
        let started = Instant::now();
        let o = trace_cmd(&args, &[], &cache).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let shown: String = event.chars().take(200).collect();
        prop_assert!(started.elapsed() < Duration::from_secs(60), "{shown} took {:?}", started.elapsed());
        // 0: it ran; 1: an error, 2: a usage error, each said on stderr. A
        // panic is 101, a signal none.
        prop_assert!(matches!(o.status.code(), Some(0..=2)), "{shown}: {:?} {stderr}", o.status);
        if o.status.code() != Some(0) {
            // A bad argument is an `error:`; an event the operator refuses
            // is a failed task, with its reason.
            let stdout = String::from_utf8_lossy(&o.stdout);
            prop_assert!(stderr.contains("error") || stdout.contains("task failed: "), "{shown}: {stdout} {stderr}");
            prop_assert!(!stderr.contains("panicked"), "{shown}: {stderr}");
        }
    }
}
