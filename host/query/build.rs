//! Let this crate's tests find the prebuilt DuckDB library at run time (an
//! rpath to DUCKDB_LIB_DIR, which .cargo/config.toml sets), so nobody needs
//! LD_LIBRARY_PATH. The `trace` binary does the same in its own build.rs.

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        return;
    }
    let Ok(dir) = std::env::var("DUCKDB_LIB_DIR") else { return };
    let lib = std::path::Path::new(&dir).join("libduckdb.so");
    println!("cargo:rerun-if-changed={}", lib.display());
    if !lib.exists() {
        panic!("{} is missing: run `bash host/query/fetch-duckdb.sh` once (it fetches DuckDB's prebuilt library), then build again", lib.display());
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
}
