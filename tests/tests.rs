//! All integration tests but kernel_limits in one binary (ripgrep's
//! habit): tests/common is compiled once and the binary linked once, and
//! the tests of every file share the test harness's threads. Each test is
//! parallel-safe: its own temp dir, its own isolated lab or private host,
//! sleep markers from `common::marker()`. kernel_limits fills the kernel's
//! shared neighbour table, so it stays a binary of its own: cargo runs
//! test binaries one at a time.

mod common;
mod suite;
