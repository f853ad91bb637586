//! Lays out the release binary's code so that what a run executes sits
//! together: the linker places the functions link/symbol-order.txt names
//! (those a typical run executed, `bench/order` writes the list) first, in
//! that order. A run touches ~1.5 of the binary's 7.5 MB of code; spread
//! over all of it, each first call faulted in its own 64 KB of the file and
//! the process mapped (and at exit unmapped) most of the text: star-10's
//! peak RSS 10.8 -> 6.5 MiB, `nslab run` of an empty script -0.2 ms,
//! star-10 -0.6 ms (bench/README.md, "Ninth round").
//!
//! Only where the linker is lld, which reads the list: rustc's own default
//! for x86_64-unknown-linux-gnu since 1.90 (rust-lld), unless a linker is
//! configured. Anywhere else the build is as it would be without this file.

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link/symbol-order.txt");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=NSLAB_NO_SYMBOL_ORDER");
    if env::var("PROFILE").as_deref() != Ok("release")
        || env::var_os("NSLAB_NO_SYMBOL_ORDER").is_some()
        || !uses_rust_lld()
    {
        return;
    }
    let Ok(dir) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let order = Path::new(&dir).join("link").join("symbol-order.txt");
    let Some(path) = order.to_str() else { return };
    // Passed through the C compiler that drives the link, where a comma
    // splits -Wl's arguments.
    if !order.is_file() || path.contains(',') {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={path}");
    // A name the code no longer has (the list is from an older build) is
    // skipped; lld would warn of each.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// Whether rustc links this target with its bundled lld: the target is
/// x86_64-unknown-linux-gnu, rustc is 1.90 or later, and neither a linker
/// nor linker flags are configured (Cargo passes a configured linker to
/// build scripts as RUSTC_LINKER, the flags as CARGO_ENCODED_RUSTFLAGS).
fn uses_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu")
        || env::var_os("RUSTC_LINKER").is_some()
    {
        return false;
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(release) = text.lines().find_map(|l| l.strip_prefix("release: ")) else {
        return false;
    };
    let mut parts = release.split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (1, 90)
}
