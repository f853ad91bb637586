//! `nslab ls`: the labs with a journal (kept, running, left behind).

use std::process::ExitCode;

use crate::lab::journal;
use crate::lab::plan::comment_text as shown;
use crate::session::CmdResult;

/// A journal's file name or lab name can hold control bytes (a journal
/// planted in /run/nslab, say): the text table shows them escaped, as
/// `nslab plan` does, so they cannot rewrite the terminal. `--json` keeps
/// them, escaped by JSON itself.
pub fn run(json: bool) -> CmdResult {
    if json {
        return super::view::ls_json();
    }
    let labs = journal::list();
    if labs.is_empty() {
        println!("no labs");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<20} {:<40} {:>5}  SCRIPT", "LAB", "STATUS", "STEPS");
    for r in labs {
        match r {
            Ok(r) => println!(
                "{:<20} {:<40} {:>5}  {}",
                shown(&r.header.lab),
                r.status(),
                r.steps.len(),
                shown(&r.header.script)
            ),
            Err((path, e)) => println!(
                "{:<20} {:<40} {:>5}  {}",
                shown(
                    &path
                        .file_stem()
                        .map(|s| s.to_string_lossy())
                        .unwrap_or_default()
                ),
                "refused: not a journal nslab trusts",
                "-",
                shown(&e.message)
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
