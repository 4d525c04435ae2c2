//! Links with cortex-m-rt's `link.x`, and puts `memory.x` and `device.x`
//! where it finds them. The link argument lives here rather than in
//! `.cargo/config.toml`: a `RUSTFLAGS` in the environment would replace
//! that and silently link an image without a vector table.

use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for script in ["memory.x", "device.x"] {
        fs::copy(script, out.join(script)).expect("copy a linker script to OUT_DIR");
        println!("cargo:rerun-if-changed={script}");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
}
