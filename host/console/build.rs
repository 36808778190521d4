//! The console links the prebuilt DuckDB library (through trace-query): its
//! tests find it through an rpath (DUCKDB_LIB_DIR, set by .cargo/config.toml),
//! with no LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
