//! `nslab down LAB|--all`: undo what a kept or left-behind lab made, from
//! its journal, without the script.

use std::process::ExitCode;

use super::ls::Holder;
use crate::lab::plan::comment_text as shown;
use crate::lab::{self, LabError, journal};
use crate::session::{self, CmdResult, EXIT_ERROR, Failure, print_lab_error, print_left_alone};

/// Each lab is taken down on its own: one that fails is reported as it
/// goes and the others still come down; the exit code says if any failed.
pub fn run(name: Option<String>, all: bool) -> CmdResult {
    let records = match (&name, all) {
        (Some(n), _) => {
            lab::names::check_labname(n).map_err(Failure::usage)?;
            let path = journal::path_for(n);
            if std::fs::symlink_metadata(&path).is_err() {
                return Err(LabError::new(
                    format!("there is no lab named '{n}'"),
                    "`nslab ls` lists the labs that can be taken down",
                )
                .into());
            }
            vec![journal::read(&path).map_err(|e| (path, e))]
        }
        (None, _) => journal::list(),
    };
    let mut code = 0;
    for rec in records {
        // A refused journal's error names its file, whatever bytes it holds:
        // shown escaped, as `nslab plan` does.
        let done = rec
            .map_err(|(_, e)| {
                Some(LabError {
                    message: shown(&e.message),
                    help: e.help.as_deref().map(shown),
                    ..e
                })
            })
            .and_then(|rec| down_one(&rec, name.is_some()));
        if let Err(e) = done {
            if let Some(e) = e {
                print_lab_error(e);
            }
            code = EXIT_ERROR;
        }
    }
    match code {
        0 => Ok(ExitCode::SUCCESS),
        c => session::exit(c),
    }
}

/// Takes one lab down. Err(None): failed, and reported already.
fn down_one(rec: &journal::Record, named: bool) -> Result<(), Option<LabError>> {
    let n = rec.header.lab.clone();
    // Held while the lab's process lives (and while another `down` works).
    let Some(lock) = rec.claim()? else {
        if !named {
            return Ok(());
        }
        return Err(Some(match rec.attached_by() {
            Some(pid) if rec.kept => LabError::new(
                format!("lab '{n}' is attached by an `nslab repl --attach` session (pid {pid})"),
                format!(
                    "end that session (Ctrl-D or `exit` in it, or `kill {pid}`): the lab stays kept, then `nslab down {n}` removes it"
                ),
            ),
            _ => match super::ls::holder(rec) {
                Holder::Pid(pid) => LabError::new(
                    format!("lab '{n}' is still running (pid {pid})"),
                    format!("stop it with Ctrl-C or `kill {pid}`: it tears itself down"),
                ),
                Holder::Elsewhere => LabError::new(
                    format!(
                        "lab '{n}' is still running, in another PID namespace (pid {} there)",
                        rec.header.pid
                    ),
                    format!(
                        "stop it where it runs, with Ctrl-C or `kill {}` inside that PID namespace: it tears itself down",
                        rec.header.pid
                    ),
                ),
            },
        }));
    };
    let Some(rec) = rec.reread(&lock)? else {
        return Ok(());
    };
    let report = lab::down(&rec)?;
    print_left_alone(&report.left_alone);
    if report.errors.is_empty() {
        println!("lab '{}' is down", shown(&n));
        return Ok(());
    }
    crate::session::say!(
        "nslab: lab '{}': {} step(s) could not be undone:",
        shown(&n),
        report.errors.len()
    );
    for e in report.errors {
        print_lab_error(e);
    }
    Err(None)
}
