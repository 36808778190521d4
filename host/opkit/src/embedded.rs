//! Files this crate carries so a project anywhere can be built: the WIT
//! contract and the JavaScript and Python kits, exactly as in this repository.

pub const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

pub const JS_KIT: (&str, &str) = ("trace_sdk.js", include_str!("../../../guest-sdk/js/trace_sdk.js"));

pub const PYTHON_KIT: (&str, &str) =
    ("trace_sdk/__init__.py", include_str!("../../../guest-sdk/python/trace_sdk/__init__.py"));

/// The Rust guest SDK's directory on the machine this was built on; a
/// scaffolded Rust operator depends on it by path.
pub const RUST_SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../guest-sdk");
