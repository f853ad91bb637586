//! What a command returns: its exit code, or a `Failure` carrying the
//! code and the reports `main` prints.

use std::process::ExitCode;

use miette::Report;

use crate::diag::ScriptError;
use crate::lab::LabError;

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

/// Why a command ends unsuccessfully: its exit code, and the reports still
/// to print (none when they were printed as the script ran).
pub struct Failure {
    pub code: u8,
    pub reports: Vec<Report>,
    /// Plain lines printed after the reports (a summary).
    pub lines: Vec<String>,
}

impl Failure {
    pub fn new(code: u8, e: LabError) -> Failure {
        Failure {
            code,
            reports: vec![lab_report(e)],
            lines: Vec::new(),
        }
    }

    /// A mistake on the command line (exit code 2).
    pub fn usage(e: LabError) -> Failure {
        Failure::new(EXIT_USAGE, e)
    }

    /// Only the exit code: whatever went wrong was reported already.
    pub fn reported(code: u8) -> Failure {
        Failure {
            code,
            reports: Vec::new(),
            lines: Vec::new(),
        }
    }

    pub fn print(&self) {
        for r in &self.reports {
            super::say!("{r:?}");
        }
        for l in &self.lines {
            super::say!("{l}");
        }
    }
}

impl From<LabError> for Failure {
    fn from(e: LabError) -> Failure {
        Failure::new(EXIT_ERROR, e)
    }
}

impl From<Box<ScriptError>> for Failure {
    fn from(e: Box<ScriptError>) -> Failure {
        Failure {
            code: EXIT_ERROR,
            reports: vec![Report::new_boxed(e)],
            lines: Vec::new(),
        }
    }
}

/// What each command returns; `main` turns it into the exit code.
pub type CmdResult = Result<ExitCode, Failure>;

/// The exit code of a session that reported its own errors.
pub fn exit(code: u8) -> CmdResult {
    match code {
        0 => Ok(ExitCode::SUCCESS),
        c => Err(Failure::reported(c)),
    }
}

fn lab_report(e: LabError) -> Report {
    match e.help {
        Some(h) => miette::miette!(help = h, "{}", e.message),
        None => miette::miette!("{}", e.message),
    }
}

/// A lab error met while a script runs or its lab is torn down.
pub fn print_lab_error(e: LabError) {
    super::say!("{:?}", lab_report(e));
}
