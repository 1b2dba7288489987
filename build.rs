//! With `--features tch`, torch-sys (whose `links` key is `tch`) reports the directory of
//! libtorch's shared libraries; recording it as the run path of every binary this package links
//! (resdash, the tests, benches and examples) lets `--backend tch` start without
//! `LD_LIBRARY_PATH`. Without the feature this prints nothing but its own rerun conditions.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
