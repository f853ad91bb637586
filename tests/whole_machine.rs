//! Tests that disturb every network namespace on the machine (they fill or
//! flood what the kernel shares between them), apart from tests/tests.rs:
//! cargo runs test binaries one at a time (this one after `tests`, by
//! name, so that the kernel's slow cleanup of its namespaces slows no other
//! test), and each test here holds `common::alone()`, so none of them
//! overlaps another test of ours.

mod common;

#[path = "whole_machine/big_star.rs"]
mod big_star;
#[path = "whole_machine/kernel_limits.rs"]
mod kernel_limits;
