//! Tests that disturb every network namespace on the machine (they fill or
//! flood what the kernel shares between them), apart from tests/tests.rs:
//! cargo runs test binaries one at a time, and each test here holds
//! `common::alone()`, so none of them overlaps another test of ours.

mod common;

#[path = "alone/big_star.rs"]
mod big_star;
#[path = "alone/kernel_limits.rs"]
mod kernel_limits;
