//! Subcommands that are more than dispatch (DESIGN.md §3).

pub mod plan;
pub mod run;
pub mod shell;
pub mod test;
pub mod view;
