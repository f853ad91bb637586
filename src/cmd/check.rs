//! `nslab check FILE`: parse the script and name every function it calls
//! that does not exist, without building anything (no privileges needed).

use std::path::Path;
use std::process::ExitCode;

use miette::Report;
use rhai::AST;

use crate::diag;
use crate::session::{self, CmdResult, Failure, Script};

pub fn run(file: &Path) -> CmdResult {
    let script = Script::load(file)?;
    script_ok(&script)?;
    println!("{}: ok", script.shown);
    Ok(ExitCode::SUCCESS)
}

/// What `nslab check` finds wrong in a script (a syntax error, unknown
/// functions and variables), as the reports it prints; `nslab kube` refuses
/// a script this way too. Returns the compiled script.
pub fn script_ok(script: &Script) -> Result<AST, Failure> {
    let mut sources = script.sources();
    let (_ctx, built) = session::api_only(&script.dir);
    let ast = built
        .engine
        .compile(&script.text)
        .map_err(|e| Failure::from(Box::new(diag::parse_error(&mut sources, &e))))?;
    let mut unknown = crate::check::unknown_calls(&built.engine, &ast, &script.dir);
    unknown.extend(crate::check::undefined_variables(&ast, &script.text));
    if unknown.is_empty() {
        return Ok(ast);
    }
    let mut f = Failure::reported(session::EXIT_ERROR);
    for u in &unknown {
        let e = diag::problem(&mut sources, &u.name, u.pos, &u.problem);
        f.reports.push(Report::new(e));
    }
    let problems: Vec<_> = unknown.iter().map(|u| &u.problem).collect();
    f.lines.push(format!(
        "{}: {}",
        script.shown,
        diag::problems_line(&problems)
    ));
    Err(f)
}
