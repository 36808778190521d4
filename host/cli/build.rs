//! The `trace` binary finds the prebuilt DuckDB library (host/query's
//! fetch-duckdb.sh puts it where .cargo/config.toml's DUCKDB_LIB_DIR says)
//! through an rpath: no LD_LIBRARY_PATH needed.

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
