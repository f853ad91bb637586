//! One file per subcommand (DESIGN.md §3). Each returns its exit code or
//! a `session::Failure`, which main prints.

pub mod agent;
pub mod check;
pub mod docs;
pub mod down;
pub mod kube;
pub mod ls;
pub mod plan;
pub mod run;
pub mod shell;
pub mod test;
pub mod view;

/// For listing commands: `nslab docs | head` should end quietly, as other
/// tools do, instead of failing to print. (`run` keeps SIGPIPE ignored so a
/// closed pipe can never skip the teardown.)
pub fn default_sigpipe() {
    // SAFETY: resetting a signal disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
