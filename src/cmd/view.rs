//! Looking at labs from outside a script: `nslab ls --json`, `nslab show`
//! and `nslab graph` (see lab::view for the model, graph.rs for drawing).

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;

use miette::Report;
use serde::Serialize;

use crate::cli::GraphFormat;
use crate::lab::view::{self, LabView};
use crate::lab::{LabError, journal};
use crate::{EXIT_ERROR, EXIT_USAGE, api, diag, engine, print_lab_error};

/// One row of `nslab ls --json`. Field names are documented in README.md
/// ("JSON") and stay stable.
#[derive(Serialize)]
struct LsRow {
    lab: String,
    /// "running", "kept", "left-behind", or "refused" (a journal nslab
    /// does not trust; `error` says why).
    state: String,
    pid: Option<u32>,
    script: Option<String>,
    /// Seconds since the epoch.
    started: Option<u64>,
    isolated: Option<bool>,
    /// Undo steps in its journal.
    steps: Option<usize>,
    error: Option<String>,
}

pub fn ls_json() -> ExitCode {
    let rows: Vec<LsRow> = journal::list()
        .into_iter()
        .map(|r| match r {
            Ok(r) => LsRow {
                lab: r.header.lab.clone(),
                state: match (r.alive(), r.kept) {
                    (true, _) => "running",
                    (false, true) => "kept",
                    (false, false) => "left-behind",
                }
                .into(),
                pid: Some(r.header.pid),
                script: Some(r.header.script.clone()),
                started: Some(r.header.started),
                isolated: Some(r.header.isolated),
                steps: Some(r.steps.len()),
                error: None,
            },
            Err((path, e)) => LsRow {
                lab: path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                state: "refused".into(),
                pid: None,
                script: None,
                started: None,
                isolated: None,
                steps: None,
                error: Some(e.message),
            },
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
    );
    ExitCode::SUCCESS
}

/// A kept or running lab, from its journal and the kernel.
fn lab_view(name: &str) -> Result<LabView, (LabError, u8)> {
    crate::lab::names::check_labname(name).map_err(|e| (e, EXIT_USAGE))?;
    let path = journal::path_for(name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err((
            LabError::new(
                format!("there is no lab named '{name}'"),
                "`nslab ls` lists the labs that are kept or running; a lab built in isolated mode is private to its process",
            ),
            EXIT_ERROR,
        ));
    }
    let rec = journal::read(&path).map_err(|e| (e, EXIT_ERROR))?;
    view::from_record(&rec).map_err(|e| (e, EXIT_ERROR))
}

pub fn show(name: &str, json: bool) -> ExitCode {
    match lab_view(name) {
        Ok(v) => {
            if json {
                println!("{}", v.json());
            } else {
                print!("{}", v.text());
            }
            ExitCode::SUCCESS
        }
        Err((e, code)) => {
            print_lab_error(e);
            ExitCode::from(code)
        }
    }
}

/// Is `target` a script (else a lab name)?
fn is_script(target: &str) -> bool {
    target.ends_with(".rhai") || target.contains('/') || Path::new(target).is_file()
}

pub fn graph(
    target: &str,
    format: GraphFormat,
    output: Option<&Path>,
    params: HashMap<String, String>,
) -> ExitCode {
    let v = if is_script(target) {
        match script_view(Path::new(target), params) {
            Ok(v) => v,
            Err(code) => return code,
        }
    } else {
        if !params.is_empty() {
            eprintln!("nslab: warning: --set is for scripts; lab '{target}' is drawn as it is");
        }
        match lab_view(target) {
            Ok(v) => v,
            Err((e, code)) => {
                print_lab_error(e);
                return ExitCode::from(code);
            }
        }
    };
    let text = match format {
        GraphFormat::Dot => crate::graph::dot(&v),
        GraphFormat::Mermaid => crate::graph::mermaid(&v),
        GraphFormat::Svg => match crate::graph::svg(&v) {
            Ok(s) => s,
            Err(why) => {
                print_lab_error(LabError::new(
                    why,
                    "draw it with Graphviz instead: nslab graph … --format dot | dot -Tsvg > lab.svg",
                ));
                return ExitCode::from(EXIT_ERROR);
            }
        },
    };
    match output {
        Some(p) => {
            if let Err(e) = crate::owner::write(p, &text) {
                print_lab_error(LabError::new(
                    format!("cannot write {}: {e}", p.display()),
                    "check the directory exists and is writable",
                ));
                return ExitCode::from(EXIT_ERROR);
            }
        }
        None => {
            crate::default_sigpipe();
            print!("{text}");
        }
    }
    ExitCode::SUCCESS
}

/// Runs the script for real in isolated mode (rootless when not root), as
/// `nslab run --isolated` does, with its own output (prints, programs it
/// runs) sent to /dev/null so that standard output is the picture; takes
/// the lab's view just before the teardown.
fn script_view(file: &Path, params: HashMap<String, String>) -> Result<LabView, ExitCode> {
    let (shown, text, dir) = crate::read_script(file)?;
    let mut sources = diag::Sources::new(&shown, &text, &dir);
    let cancel = crate::install_cancel().ok_or(ExitCode::from(EXIT_ERROR))?;
    let ctx = api::Ctx::new(None, params);
    let built = engine::build(&ctx, Some(cancel.clone()), &dir, engine::Limits::default());
    let ast = crate::compile_script(&built.engine, &text, &shown, &mut sources)
        .ok_or(ExitCode::from(EXIT_ERROR))?;
    let script = crate::script_path(file);
    let (lab, isolated) = crate::start_lab(crate::lab_name(file), script, true, false, &cancel)
        .ok_or(ExitCode::from(EXIT_ERROR))?;
    let lab_name = lab.name().to_string();
    let mut lab = lab;
    lab.watch_views();
    ctx.set_lab(lab);

    let quiet = Quiet::start();
    let result = built.engine.run_ast(&ast).and_then(|()| ctx.flush());
    drop(quiet);

    let mut code = 0u8;
    let mut v = None;
    if let Some(sig) = cancel.signal() {
        eprintln!(
            "nslab: interrupted by {}: tearing the lab down",
            crate::signal_name(sig)
        );
        code = 128 + sig as u8;
    } else if let Err(e) = &result {
        eprintln!(
            "{:?}",
            Report::new(diag::eval_error(&mut sources, &built.docs, e))
        );
        code = EXIT_ERROR;
    } else if let Some(mut lab) = ctx.take_lab() {
        match lab.fullest_view() {
            Ok(x) => v = Some(x),
            Err(e) => {
                print_lab_error(e);
                code = EXIT_ERROR;
            }
        }
        ctx.set_lab(lab);
    }
    crate::warn_unused_params(&ctx);
    crate::finish_lab(&ctx, &mut code, isolated, &lab_name);
    match v {
        Some(v) if code == 0 => Ok(v),
        _ => Err(ExitCode::from(code.max(1))),
    }
}

/// Standard output sent to /dev/null until dropped (at the descriptor, so
/// programs the script runs are quiet too).
struct Quiet {
    saved: Option<OwnedFd>,
}

impl Quiet {
    fn start() -> Quiet {
        let _ = std::io::stdout().flush();
        let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
            return Quiet { saved: None };
        };
        // SAFETY: dup of fd 1 gives a new descriptor that only this owns.
        let fd = unsafe { libc::dup(1) };
        if fd < 0 {
            return Quiet { saved: None };
        }
        // SAFETY: fd was just made by dup and is owned by nobody else.
        let saved = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: plain descriptor calls on descriptors this process holds.
        if unsafe { libc::dup2(null.as_raw_fd(), 1) } < 0 {
            return Quiet { saved: None };
        }
        Quiet { saved: Some(saved) }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        if let Some(saved) = &self.saved {
            // SAFETY: puts the saved descriptor back as fd 1.
            unsafe {
                libc::dup2(saved.as_raw_fd(), 1);
            }
        }
    }
}
