//! `nslab test FILE…`: each file's lab is built, its `test()` checks run
//! where they stand, and the lab is torn down; then one line per check, a
//! summary, and JUnit XML or JSON for CI. A file without checks is one check
//! itself: its script must run to the end.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use miette::Report;

use crate::api::{self, Doc};
use crate::diag;
use crate::engine;

pub struct Args {
    pub files: Vec<PathBuf>,
    pub params: HashMap<String, String>,
    pub filter: Option<String>,
    pub junit: Option<PathBuf>,
    pub json: bool,
    pub isolated: bool,
    pub limits: engine::Limits,
}

/// One check's result, as reported.
struct Check {
    name: String,
    line: usize,
    secs: f64,
    /// (message, help) when it failed.
    failure: Option<(String, Option<String>)>,
}

/// One file's results.
struct Suite {
    file: String,
    secs: f64,
    checks: Vec<Check>,
}

/// Prints the full report of every failed check (in `nslab run`, after the
/// script); true when there was one.
pub fn report_failed_checks(ctx: &api::Ctx, sources: &mut diag::Sources, docs: &[Doc]) -> bool {
    let tests = ctx.tests.borrow();
    for t in tests.done.iter() {
        if let Some(e) = &t.error {
            eprintln!("check '{}' failed:", t.name);
            eprintln!("{:?}", Report::new(diag::eval_error(sources, docs, e)));
        }
    }
    let failed = tests.failed();
    if !tests.done.is_empty() {
        eprintln!(
            "nslab: {} check(s) passed, {failed} failed",
            tests.done.len() - failed
        );
    }
    failed > 0
}

/// The .rhai files named, directories expanded (sorted, not recursive).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "rhai"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(format!("{} holds no .rhai scripts", p.display()));
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

pub fn run(a: Args) -> ExitCode {
    let files = match expand(&a.files) {
        Ok(f) => f,
        Err(e) => {
            crate::print_lab_error(crate::lab::LabError::new(
                e,
                "give .rhai scripts or directories that hold them, e.g. nslab test scripts/",
            ));
            return ExitCode::from(2);
        }
    };
    let Some(cancel) = crate::install_cancel() else {
        return ExitCode::from(crate::EXIT_ERROR);
    };
    let Some(isolated) = crate::isolate(a.isolated, false) else {
        return ExitCode::from(crate::EXIT_ERROR);
    };
    let mut suites = Vec::new();
    for file in &files {
        if cancel.is_set() {
            break;
        }
        let suite = run_file(file, &a, isolated, &cancel);
        if !a.json {
            for c in &suite.checks {
                match &c.failure {
                    None => println!("ok      {}: {}", suite.file, c.name),
                    Some((m, _)) => println!(
                        "FAILED  {}: {} ({}:{}): {m}",
                        suite.file, c.name, suite.file, c.line
                    ),
                }
            }
        } else {
            for c in &suite.checks {
                println!("{}", json_line(&suite.file, c));
            }
        }
        suites.push(suite);
    }
    let total: usize = suites.iter().map(|s| s.checks.len()).sum();
    let failed: usize = suites
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| c.failure.is_some())
        .count();
    if !a.json {
        println!("{} passed, {failed} failed", total - failed);
    }
    if let Some(path) = &a.junit
        && let Err(e) = std::fs::write(path, junit(&suites))
    {
        crate::print_lab_error(crate::lab::LabError::new(
            format!("cannot write {}: {e}", path.display()),
            "give a path in a directory you can write",
        ));
        return ExitCode::from(crate::EXIT_ERROR);
    }
    if let Some(sig) = cancel.signal() {
        eprintln!(
            "nslab: interrupted by {}: the labs are torn down",
            crate::signal_name(sig)
        );
        return ExitCode::from(128 + sig as u8);
    }
    ExitCode::from(if failed == 0 && total > 0 {
        0
    } else {
        crate::EXIT_ERROR
    })
}

/// Builds one file's lab, runs its checks, tears it down.
fn run_file(file: &Path, a: &Args, isolated: bool, cancel: &crate::cancel::Cancel) -> Suite {
    let started = Instant::now();
    let shown = file.display().to_string();
    let mut suite = Suite {
        file: shown.clone(),
        secs: 0.0,
        checks: Vec::new(),
    };
    let whole = |message: String, help: Option<String>| Check {
        name: "(the lab script)".into(),
        line: 1,
        secs: started.elapsed().as_secs_f64(),
        failure: Some((message, help)),
    };
    let Ok((shown, text, dir)) = crate::read_script(file) else {
        suite
            .checks
            .push(whole(format!("cannot read {shown}"), None));
        return suite;
    };
    let mut sources = diag::Sources::new(&shown, &text, &dir);
    let ctx = api::Ctx::new(None, a.params.clone());
    {
        let mut t = ctx.tests.borrow_mut();
        t.filter = a.filter.clone();
        t.quiet = true;
    }
    let built = engine::build(&ctx, Some(cancel.clone()), &dir, a.limits);
    let mut ast = match built.engine.compile(&text) {
        Ok(ast) => ast,
        Err(e) => {
            let r = diag::parse_error(&mut sources, &e);
            let (m, h) = (r.message.clone(), r.help.clone());
            eprintln!("{:?}", Report::new(r));
            suite.checks.push(whole(m, h));
            return suite;
        }
    };
    ast.set_source(shown.clone());
    let script = crate::script_path(file);
    let name = crate::lab_name(file);
    let Some(lab) = crate::open_lab(name.clone(), script, isolated, false, cancel) else {
        suite
            .checks
            .push(whole("the lab could not start (see above)".into(), None));
        return suite;
    };
    ctx.set_lab(lab);
    // Rules still queued at the end are applied (and their errors found)
    // before the lab is judged.
    let result = built.engine.run_ast(&ast).and_then(|()| ctx.flush());
    for t in ctx.tests.borrow().done.iter() {
        let failure = t.error.as_ref().map(|e| {
            let r = diag::eval_error(&mut sources, &built.docs, e);
            let (m, h) = (r.message.clone(), r.help.clone());
            eprintln!(
                "{}: check '{}' failed:\n{:?}",
                shown,
                t.name,
                Report::new(r)
            );
            (m, h)
        });
        suite.checks.push(Check {
            name: t.name.clone(),
            line: t.pos.line().unwrap_or(0),
            secs: t.secs,
            failure,
        });
    }
    let mut code = 0u8;
    if let Err(e) = &result
        && !cancel.is_set()
    {
        let r = diag::eval_error(&mut sources, &built.docs, e);
        let (m, h) = (r.message.clone(), r.help.clone());
        eprintln!("{:?}", Report::new(r));
        let line = e.position().line().unwrap_or(0);
        let mut c = whole(m, h);
        c.line = line;
        suite.checks.push(c);
    } else if suite.checks.is_empty() && a.filter.is_none() && result.is_ok() {
        // No checks: the script running to its end is the check.
        suite.checks.push(Check {
            name: "(the lab script)".into(),
            line: 1,
            secs: started.elapsed().as_secs_f64(),
            failure: None,
        });
    }
    crate::finish_lab(&ctx, &mut code, isolated, &name);
    if code != 0 {
        suite.checks.push(whole(
            "the lab could not be torn down completely (see above)".into(),
            None,
        ));
    }
    suite.secs = started.elapsed().as_secs_f64();
    suite
}

fn json_line(file: &str, c: &Check) -> String {
    let (reason, help) = match &c.failure {
        Some((m, h)) => (Some(m.clone()), h.clone()),
        None => (None, None),
    };
    serde_json::json!({
        "file": file,
        "test": c.name,
        "ok": c.failure.is_none(),
        "line": c.line,
        "secs": c.secs,
        "reason": reason,
        "help": help,
    })
    .to_string()
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The results as JUnit XML: a testsuite per file, a testcase per check,
/// the reason in each failure's message.
fn junit(suites: &[Suite]) -> String {
    let total: usize = suites.iter().map(|s| s.checks.len()).sum();
    let failed = |s: &Suite| s.checks.iter().filter(|c| c.failure.is_some()).count();
    let all_failed: usize = suites.iter().map(failed).sum();
    let secs: f64 = suites.iter().map(|s| s.secs).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"nslab\" tests=\"{total}\" failures=\"{all_failed}\" errors=\"0\" time=\"{secs:.3}\">"
    );
    for s in suites {
        let _ = writeln!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
            xml_escape(&s.file),
            s.checks.len(),
            failed(s),
            s.secs
        );
        for c in &s.checks {
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\" time=\"{:.3}\"",
                xml_escape(&c.name),
                xml_escape(&s.file),
                xml_escape(&s.file),
                c.line,
                c.secs
            );
            match &c.failure {
                None => x.push_str("/>\n"),
                Some((m, h)) => {
                    let body = match h {
                        Some(h) => format!("{m}\nhelp: {h}"),
                        None => m.clone(),
                    };
                    let _ = writeln!(
                        x,
                        ">\n      <failure message=\"{}\" type=\"check\">{}</failure>\n    </testcase>",
                        xml_escape(m),
                        xml_escape(&body)
                    );
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_escapes_what_xml_cannot_hold() {
        let suites = vec![Suite {
            file: "a&b.rhai".into(),
            secs: 0.5,
            checks: vec![
                Check {
                    name: "<ok>".into(),
                    line: 3,
                    secs: 0.1,
                    failure: None,
                },
                Check {
                    name: "quote \"x\"".into(),
                    line: 4,
                    secs: 0.2,
                    failure: Some(("no \u{1} answer".into(), Some("fix 'it'".into()))),
                },
            ],
        }];
        let x = junit(&suites);
        assert!(x.contains("name=\"a&amp;b.rhai\""), "{x}");
        assert!(x.contains("name=\"&lt;ok&gt;\""), "{x}");
        assert!(x.contains("message=\"no \\u{1} answer\""), "{x}");
        assert!(x.contains("help: fix &apos;it&apos;"), "{x}");
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
    }
}
