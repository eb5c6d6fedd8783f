//! Records the compiler and target leakcheck is built with, for the run metadata of its reports
//! (a test binary cannot ask which rustc built it).

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    if let Ok(out) = Command::new(rustc).arg("-V").output() {
        let version = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && !version.trim().is_empty() {
            println!("cargo:rustc-env=LEAKCHECK_BUILD_RUSTC={}", version.trim());
        }
    }
    if let Ok(target) = std::env::var("TARGET") {
        println!("cargo:rustc-env=LEAKCHECK_BUILD_TARGET={target}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
