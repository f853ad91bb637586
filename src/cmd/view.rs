//! Looking at labs from outside a script: `nslab ls --json`, `nslab show`
//! and `nslab graph` (see lab::view for the model, graph.rs for drawing).

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::GraphFormat;
use crate::engine;
use crate::lab::view::{self, LabView};
use crate::lab::{LabError, journal};
use crate::session::{self, Aside, CmdResult, Failure, Mode, Script, Session};

/// One row of `nslab ls --json`. Field names are documented in docs/json.md
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
    /// A kept lab's programs (started with `spawn`) that still run.
    processes: Vec<LsProcess>,
}

/// A kept lab's program in `nslab ls --json`.
#[derive(Serialize)]
struct LsProcess {
    pid: u32,
    /// Its namespace (`"host"`: the one nslab started in).
    namespace: String,
    command: String,
}

/// The programs of `r` to list: a kept lab's that still run.
pub(super) fn kept_programs(r: &journal::Record) -> Vec<crate::lab::Program> {
    if r.kept {
        crate::lab::programs(r)
    } else {
        Vec::new()
    }
}

pub fn ls_json() -> CmdResult {
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
                processes: kept_programs(&r)
                    .into_iter()
                    .map(|p| LsProcess {
                        pid: p.pid,
                        namespace: p.ns,
                        command: p.command,
                    })
                    .collect(),
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
                processes: Vec::new(),
            },
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
    );
    Ok(ExitCode::SUCCESS)
}

/// A kept or running lab, from its journal and the kernel.
fn lab_view(name: &str) -> Result<LabView, Failure> {
    crate::lab::names::check_labname(name).map_err(Failure::usage)?;
    let path = journal::path_for(name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(LabError::new(
            format!("there is no lab named '{name}'"),
            "`nslab ls` lists the labs that are kept or running; a lab built in isolated mode is private to its process",
        )
        .into());
    }
    let rec = journal::read(&path)?;
    Ok(view::from_record(&rec)?)
}

pub fn show(name: &str, json: bool) -> CmdResult {
    let v = lab_view(name)?;
    if json {
        println!("{}", v.json());
    } else {
        print!("{}", v.text());
    }
    Ok(ExitCode::SUCCESS)
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
) -> CmdResult {
    let (v, failed) = if is_script(target) {
        script_view(Path::new(target), params)?
    } else {
        if !params.is_empty() {
            crate::session::say!(
                "nslab: warning: --set is for scripts; lab '{target}' is drawn as it is"
            );
        }
        (lab_view(target)?, None)
    };
    let note = failed.as_ref().map(|f| f.note.as_str());
    let text = match format {
        GraphFormat::Dot => crate::graph::dot(&v, note),
        GraphFormat::Mermaid => crate::graph::mermaid(&v, note),
        GraphFormat::Svg => crate::graph::svg(&v, note).map_err(|why| {
            LabError::new(
                why,
                "draw it with Graphviz instead: nslab graph … --format dot | dot -Tsvg > lab.svg",
            )
        })?,
    };
    match output {
        Some(p) => crate::owner::write(p, &text).map_err(|e| {
            LabError::new(
                format!("cannot write {}: {e}", p.display()),
                "check the directory exists and is writable",
            )
        })?,
        None => {
            super::default_sigpipe();
            print!("{text}");
        }
    }
    // The error was reported as the script stopped; the drawing is the
    // lab as it stood then, and the exit code still says it failed.
    match failed {
        Some(f) => Err(Failure::reported(f.code)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// A script that failed, drawn anyway.
struct Failed {
    /// "the script failed at line 12: …", for the drawing.
    note: String,
    code: u8,
}

/// Runs the script for real in isolated mode (rootless when not root), as
/// `nslab run --isolated` does, with its own output (prints, programs it
/// runs) sent to /dev/null so that standard output is the picture; takes
/// the lab's view just before the teardown. A script that fails (an error
/// or a failed check) is drawn as its lab stood then, with what failed.
fn script_view(
    file: &Path,
    params: HashMap<String, String>,
) -> Result<(LabView, Option<Failed>), Failure> {
    let script = Script::load(file)?;
    let cancel = session::install_cancel()?;
    let mut s = Session::new(
        script,
        params,
        engine::Limits::default(),
        Mode::Graph,
        cancel,
    );
    s.compile()?;
    s.start(None, true)?;
    s.with_lab(|lab| lab.watch_views());

    let quiet = Aside::to_null();
    let out = s.run();
    drop(quiet);

    // An error rhai gives no position has no line to name.
    let at = |line: usize| match line {
        0 => String::new(),
        n => format!(" at line {n}"),
    };
    let note = if let Some(e) = &out.error {
        Some(format!(
            "the script failed{}: {}",
            at(e.line),
            first_line(&e.message)
        ))
    } else if let Some(c) = out.checks.iter().find(|c| c.failure.is_some()) {
        let why = c.failure.as_ref().map(|(m, _)| first_line(m)).unwrap_or("");
        Some(format!("check '{}' failed{}: {why}", c.name, at(c.line)))
    } else {
        None
    };
    // A signal draws nothing: the user asked to stop.
    let view = match (out.code, &note) {
        (0, _) => s.with_lab(|lab| lab.fullest_view()),
        (_, Some(_)) if out.signal.is_none() => s.with_lab(|lab| lab.view()),
        _ => None,
    };
    let code = s.finish(out.code);
    match (view, note) {
        (Some(Ok(v)), None) if code == 0 => Ok((v, None)),
        (Some(Ok(v)), Some(note)) => Ok((
            v,
            Some(Failed {
                note,
                code: code.max(1),
            }),
        )),
        (Some(Err(e)), None) => Err(e.into()),
        _ => Err(Failure::reported(code.max(1))),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
