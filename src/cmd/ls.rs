//! `nslab ls`: the labs with a journal (kept, running, left behind).

use std::process::ExitCode;

use crate::lab::journal;
use crate::session::CmdResult;

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
                r.header.lab,
                r.status(),
                r.steps.len(),
                r.header.script
            ),
            Err((path, e)) => println!(
                "{:<20} {:<40} {:>5}  {}",
                path.file_stem()
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
                "refused: not a journal nslab trusts",
                "-",
                e.message
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
