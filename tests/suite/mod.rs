//! The integration tests, a module a concern.

mod api;
mod attach;
mod bridges;
mod capture;
mod checks;
mod crash;
mod docs;
mod errors;
mod explain;
mod firewall;
mod limits;
mod links;
mod nat;
mod plan;
mod processes;
mod reach;
mod recipes;
mod repl;
mod routing;
mod scripts;
mod shell;
mod teardown;
mod trust;
mod view;
