//! Generated JSON for the API fuzz tests: any shape, with the field names
//! an API reads (so handlers see near-valid bodies with wrong types), huge
//! numbers and a string past most bounds.

use proptest::prelude::*;
use serde_json::{json, Value};

/// JSON values up to 4 levels deep whose object keys are mostly `keys`.
pub fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        "\\PC{0,24}".prop_map(Value::from),
        Just(Value::from("x".repeat(70_000))),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        let key = prop_oneof![4 => proptest::sample::select(keys).prop_map(str::to_owned), 1 => "[a-z_]{1,10}"];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key, inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
