//! The `columns` interface's values are what JavaScript and Python guests
//! hand the host for every output batch: hostile. Generated columns (every
//! kind of values, offsets out of order or past the bytes, widths of zero,
//! null masks of the wrong length, Arrow types garbled or exotic, filtered
//! by the same check the host applies first) never panic the conversion to
//! a record batch; what converts has one row count, and converts back for
//! an input without panicking either. A fixed number of cases.

use proptest::prelude::*;

use super::{from_columns, to_columns};
use crate::bindings::trace::operator::columns::{BinaryValues, Column, FixedBinaryValues, Values};
use crate::capabilities::columns::arrow_type_is_plain;
use crate::limits::Limits;

const TYPES: [&str; 30] = [
    "", "Int64", "UInt64", "Int8", "UInt8", "Int32", "Float32", "Float64", "Boolean", "Utf8", "LargeUtf8", "Binary",
    "LargeBinary", "FixedSizeBinary(4)", "FixedSizeBinary(0)", "Decimal128(38, 0)", "Decimal128(1, 5)", "Decimal256(76, 0)",
    "Decimal256(76, 80)", "Date32", "Date64", "Timestamp(Nanosecond, None)", "Timestamp(Second, Some(\"+00:00\"))",
    "Timestamp(Millisecond, Some(\"Mars/Olympus\"))", "Time64(Nanosecond)", "Duration(Second)", "Interval(MonthDayNano)",
    "List(Int64)", "Dictionary(Int8, Utf8)", "Null",
];

fn values() -> impl Strategy<Value = Values> {
    let n = 0usize..12;
    prop_oneof![
        proptest::collection::vec(any::<i64>(), n.clone()).prop_map(Values::Int64),
        proptest::collection::vec(any::<u64>(), n.clone()).prop_map(Values::Uint64),
        proptest::collection::vec(any::<f64>(), n.clone()).prop_map(Values::Float64),
        proptest::collection::vec(any::<bool>(), n.clone()).prop_map(Values::Boolean),
        proptest::collection::vec("[ -~]{0,6}|[0-9.eE+-]{0,12}", n.clone()).prop_map(Values::Utf8),
        (proptest::collection::vec(any::<u32>().prop_map(|o| o % 40), 0..12), proptest::collection::vec(any::<u8>(), 0..32))
            .prop_map(|(offsets, bytes)| Values::Binary(BinaryValues { offsets, bytes })),
        (0u32..40, proptest::collection::vec(any::<u8>(), 0..80)).prop_map(|(width, bytes)| Values::FixedBinary(FixedBinaryValues { width, bytes })),
    ]
}

fn column() -> impl Strategy<Value = Column> {
    let arrow_type = prop_oneof![4 => proptest::sample::select(&TYPES[..]).prop_map(str::to_owned), 1 => "[ -~]{0,24}"];
    ("[a-z_]{0,5}", arrow_type, values(), proptest::option::of(proptest::collection::vec(any::<bool>(), 0..14)))
        .prop_map(|(name, arrow_type, values, nulls)| Column { name, arrow_type, values, nulls })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_columns_convert_or_are_refused(columns in proptest::collection::vec(column(), 0..4)) {
        let depth = Limits::default().max_type_depth;
        // What the host refuses before converting.
        prop_assume!(columns.iter().all(|c| arrow_type_is_plain(&c.arrow_type, depth)));
        if let Ok(batch) = from_columns(columns) {
            prop_assert!(batch.columns().iter().all(|c| c.len() == batch.num_rows()));
            let _ = to_columns(&batch);
        }
    }
}
