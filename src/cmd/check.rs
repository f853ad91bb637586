//! `nslab check FILE`: parse the script and name every function it calls
//! that does not exist, without building anything (no privileges needed).

use std::path::Path;
use std::process::ExitCode;

use miette::Report;

use crate::diag;
use crate::session::{self, CmdResult, Failure, Script};

pub fn run(file: &Path) -> CmdResult {
    let script = Script::load(file)?;
    let mut sources = script.sources();
    let (_ctx, built) = session::api_only(&script.dir);
    let ast = built
        .engine
        .compile(&script.text)
        .map_err(|e| Failure::from(Box::new(diag::parse_error(&mut sources, &e))))?;
    let unknown = crate::check::unknown_calls(&built.engine, &ast, &script.dir);
    if unknown.is_empty() {
        println!("{}: ok", script.shown);
        return Ok(ExitCode::SUCCESS);
    }
    let mut f = Failure::reported(session::EXIT_ERROR);
    for u in &unknown {
        let e = diag::unknown_function(&mut sources, &u.name, u.pos, u.nearest.as_deref());
        f.reports.push(Report::new(e));
    }
    f.lines.push(format!(
        "{}: {} unknown function(s)",
        script.shown,
        unknown.len()
    ));
    Err(f)
}
