//! `nslab test FILE…`: each file's lab is built, its `test()` checks run
//! where they stand, and the lab is torn down; then one line per check, a
//! summary, and JUnit XML or JSON for CI. A file without checks is one check
//! itself: its script must run to the end.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::cancel::Cancel;
use crate::engine;
use crate::lab::LabError;
use crate::session::{self, Aside, Check, CmdResult, Failure, Mode, Script, Session};

pub struct Args {
    pub files: Vec<PathBuf>,
    pub params: HashMap<String, String>,
    pub filter: Option<String>,
    pub junit: Option<PathBuf>,
    pub json: bool,
    /// Show every check's output, not only a failed one's.
    pub verbose: bool,
    pub isolated: bool,
    pub prefix: Option<String>,
    pub limits: engine::Limits,
}

/// One file's results.
struct Suite {
    file: String,
    secs: f64,
    checks: Vec<Check>,
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

pub fn run(a: Args) -> CmdResult {
    let files = expand(&a.files).map_err(|e| {
        Failure::usage(LabError::new(
            e,
            "give .rhai scripts or directories that hold them, e.g. nslab test scripts/",
        ))
    })?;
    if let Some(p) = &a.prefix {
        crate::lab::names::check_prefix(p).map_err(Failure::usage)?;
    }
    let cancel = session::install_cancel()?;
    let isolated = session::isolate(a.isolated, false)?;
    // With --json, standard output holds JSON lines only: whatever else
    // writes to it (a program the script runs) goes to stderr.
    let aside = if a.json { Aside::to_stderr() } else { None };
    let emit = |text: &str| {
        let text = format!("{text}\n");
        // A closed stdout must not cut the teardowns short.
        let _ = match &aside {
            Some(aside) => aside.write_all(text.as_bytes()),
            None => std::io::stdout().write_all(text.as_bytes()),
        };
    };
    let mut suites = Vec::new();
    // Whether the signal (if one came) was reported by the file it stopped.
    let mut told = false;
    for file in &files {
        if cancel.is_set() {
            break;
        }
        let (suite, signal) = run_file(file, &a, isolated, &cancel);
        told = signal.is_some();
        for c in &suite.checks {
            if a.json {
                emit(&json_line(&suite.file, c));
                continue;
            }
            match &c.failure {
                None => emit(&format!("ok      {}: {}", suite.file, c.name)),
                Some((m, _)) => emit(&format!(
                    "FAILED  {}: {} ({}:{}): {m}",
                    suite.file, c.name, suite.file, c.line
                )),
            }
            if a.verbose || c.failure.is_some() {
                for line in c.output.lines() {
                    emit(&format!("    {line}"));
                }
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
        emit(&format!("{} passed, {failed} failed", total - failed));
    }
    if let Some(path) = &a.junit {
        let xml = junit(&suites).map_err(|e| {
            LabError::new(
                format!("cannot write the JUnit report: {e}"),
                "this is unexpected; please report it",
            )
        })?;
        std::fs::write(path, xml).map_err(|e| {
            LabError::new(
                format!("cannot write {}: {e}", path.display()),
                "give a path in a directory you can write",
            )
        })?;
    }
    if let Some(sig) = cancel.signal() {
        if !told {
            session::report_signal(sig, false);
        }
        return Err(Failure::reported(128 + sig as u8));
    }
    session::exit(if failed == 0 && total > 0 {
        0
    } else {
        session::EXIT_ERROR
    })
}

/// Builds one file's lab, runs its checks, tears it down; and the signal
/// that stopped it, if one did.
fn run_file(file: &Path, a: &Args, isolated: bool, cancel: &Cancel) -> (Suite, Option<i32>) {
    let started = Instant::now();
    let mut suite = Suite {
        file: file.display().to_string(),
        secs: 0.0,
        checks: Vec::new(),
    };
    let whole = |message: String, help: Option<String>| Check {
        name: "(the lab script)".into(),
        line: 1,
        secs: started.elapsed().as_secs_f64(),
        failure: Some((message, help)),
        output: String::new(),
    };
    let script = match Script::load(file) {
        Ok(s) => s,
        Err(f) => {
            f.print();
            suite
                .checks
                .push(whole(format!("cannot read {}", suite.file), None));
            return (suite, None);
        }
    };
    let mut s = Session::new(
        script,
        a.params.clone(),
        a.limits,
        Mode::Test,
        cancel.clone(),
    );
    s.ctx.tests.borrow_mut().filter = a.filter.clone();
    if let Err(r) = s.compile() {
        let (m, h) = (r.message.clone(), r.help.clone());
        Failure::from(r).print();
        suite.checks.push(whole(m, h));
        return (suite, None);
    }
    s.set_prefix(a.prefix.clone());
    if let Err(e) = s.open(None, isolated) {
        Failure::from(e).print();
        suite
            .checks
            .push(whole("the lab could not start (see above)".into(), None));
        return (suite, None);
    }
    // Rules still queued at the end are applied (and their errors found)
    // before the lab is judged.
    let out = s.run();
    suite.checks = out.checks;
    if let Some(e) = out.error {
        let mut c = whole(e.message, e.help);
        c.line = e.line;
        suite.checks.push(c);
    } else if suite.checks.is_empty() && a.filter.is_none() && out.finished {
        // No checks: the script running to its end is the check.
        suite.checks.push(Check {
            name: "(the lab script)".into(),
            line: 1,
            secs: started.elapsed().as_secs_f64(),
            failure: None,
            output: String::new(),
        });
    }
    let outputs = s.output_of(suite.checks.len());
    for (c, o) in suite.checks.iter_mut().zip(outputs) {
        c.output = o;
    }
    if s.finish(0) != 0 {
        suite.checks.push(whole(
            "the lab could not be torn down completely (see above)".into(),
            None,
        ));
    }
    suite.secs = started.elapsed().as_secs_f64();
    (suite, out.signal)
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
        "output": c.output,
    })
    .to_string()
}

/// The results as JUnit XML: a testsuite per file, a testcase per check
/// (with the file and line of its test() call), the reason in each
/// failure's message and the help under it.
fn junit(suites: &[Suite]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("nslab");
    report.set_time(Duration::from_secs_f64(suites.iter().map(|s| s.secs).sum()));
    for s in suites {
        let mut suite = TestSuite::new(&s.file);
        suite.set_time(Duration::from_secs_f64(s.secs));
        for c in &s.checks {
            let status = match &c.failure {
                None => TestCaseStatus::success(),
                Some((m, h)) => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(m)
                        .set_type("check")
                        .set_description(match h {
                            Some(h) => format!("{m}\nhelp: {h}"),
                            None => m.clone(),
                        });
                    st
                }
            };
            let mut case = TestCase::new(&c.name, status);
            case.set_classname(&s.file)
                .set_time(Duration::from_secs_f64(c.secs));
            if !c.output.is_empty() {
                case.set_system_out(c.output.as_str());
            }
            case.extra.insert("file".into(), s.file.as_str().into());
            case.extra.insert("line".into(), c.line.to_string().into());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string()
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
                    output: "up\n".into(),
                },
                Check {
                    name: "quote \"x\"".into(),
                    line: 4,
                    secs: 0.2,
                    failure: Some(("no \u{1} answer".into(), Some("fix 'it'".into()))),
                    output: String::new(),
                },
            ],
        }];
        let x = junit(&suites).expect("serializes");
        assert!(x.contains("name=\"a&amp;b.rhai\""), "{x}");
        assert!(x.contains("name=\"&lt;ok&gt;\""), "{x}");
        // What XML 1.0 cannot hold at all is left out.
        assert!(x.contains("message=\"no  answer\""), "{x}");
        assert!(x.contains("help: fix &apos;it&apos;"), "{x}");
        assert!(x.contains("tests=\"2\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("line=\"4\""), "{x}");
    }
}
