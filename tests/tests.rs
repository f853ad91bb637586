//! The integration tests in one binary (ripgrep's habit): tests/common is
//! compiled once and the binary linked once, and the tests of every file
//! share the test harness's threads, so any two may run at once. Each is
//! parallel-safe: its own temp dir, its own isolated lab or private host,
//! sleep markers from `common::marker()`. The few that disturb every
//! namespace on the machine (fill the neighbour table, flood the input
//! backlogs) are in tests/whole_machine.rs, a binary of their own: cargo
//! runs test binaries one at a time.

mod common;
mod suite;
