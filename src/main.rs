//! nslab: CLI dispatch. The one place that prints errors and picks exit codes.

mod api;
mod cancel;
mod check;
mod cli;
mod cmd;
mod diag;
mod engine;
mod explain;
mod graph;
mod isolate;
mod lab;
mod limits;
mod net;
mod opener;
mod owner;
mod progress;
mod reference;
mod repl;
mod session;
mod stdlib;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use miette::Report;

use cli::{Cli, Cmd};
use lab::LabError;
use session::print_left_alone;

/// Every allocation is counted, so a script can be held to --max-mem.
#[global_allocator]
static ALLOC: limits::Counting = limits::Counting;

pub(crate) const EXIT_ERROR: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let code = run_cli();
    opener::finish();
    code
}

fn run_cli() -> ExitCode {
    let cli = Cli::parse();
    miette::set_hook(Box::new(|_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .terminal_links(false)
                .context_lines(1)
                .build(),
        )
    }))
    .ok();
    match cli.cmd {
        Cmd::Run {
            file,
            set,
            keep,
            isolated,
            name,
            limits,
        } => report(cmd::run::run(cmd::run::Args {
            file,
            params: set.into_iter().collect(),
            keep,
            isolated,
            name,
            limits: limits.limits(),
        })),
        Cmd::Plan { file, set, limits } => report(cmd::plan::run(
            &file,
            set.into_iter().collect(),
            limits.limits(),
        )),
        Cmd::Check { file } => check(&file),
        Cmd::Repl {
            isolated,
            file,
            attach,
            limits,
        } => report(repl::run(file, isolated, attach, limits.limits())),
        Cmd::Docs {
            markdown,
            definitions,
        } => {
            default_sigpipe();
            match definitions {
                Some(dir) => cmd::shell::definitions(&dir),
                None => docs(markdown),
            }
        }
        Cmd::Completions { shell } => {
            default_sigpipe();
            cmd::shell::completions(shell)
        }
        Cmd::Man => {
            default_sigpipe();
            cmd::shell::man()
        }
        Cmd::Ls { json } => {
            default_sigpipe();
            if json {
                report(cmd::view::ls_json())
            } else {
                ls()
            }
        }
        Cmd::Show { lab, json } => {
            default_sigpipe();
            report(cmd::view::show(&lab, json))
        }
        Cmd::Graph {
            target,
            format,
            output,
            set,
        } => report(cmd::view::graph(
            &target,
            format,
            output.as_deref(),
            set.into_iter().collect(),
        )),
        Cmd::Down { lab, all } => down(lab, all),
        Cmd::Test {
            files,
            set,
            filter,
            junit,
            json,
            isolated,
            limits,
        } => report(cmd::test::run(cmd::test::Args {
            files,
            params: set.into_iter().collect(),
            filter,
            junit,
            json,
            isolated,
            limits: limits.limits(),
        })),
    }
}

/// The one place a command's failure is printed.
fn report(r: session::CmdResult) -> ExitCode {
    r.unwrap_or_else(|f| {
        f.print();
        ExitCode::from(f.code)
    })
}

/// For listing commands: `nslab docs | head` should end quietly, as other
/// tools do, instead of failing to print. (`run` keeps SIGPIPE ignored so a
/// closed pipe can never skip the teardown.)
pub(crate) fn default_sigpipe() {
    // SAFETY: resetting a signal disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

pub(crate) fn print_lab_error(e: LabError) {
    let r = match e.help {
        Some(h) => miette::miette!(help = h, "{}", e.message),
        None => miette::miette!("{}", e.message),
    };
    eprintln!("{r:?}");
}

pub(crate) fn read_script(file: &Path) -> Result<(String, String, PathBuf), ExitCode> {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            let dir = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            Ok((file.display().to_string(), text, dir))
        }
        Err(e) => {
            print_lab_error(LabError::new(
                format!("cannot read {}: {e}", file.display()),
                "give the path of a .rhai script, e.g. nslab run scripts/quickstart.rhai",
            ));
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

fn check(file: &Path) -> ExitCode {
    let (shown, text, dir) = match read_script(file) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut sources = diag::Sources::new(&shown, &text, &dir);
    let ctx = api::Ctx::new(None, HashMap::new());
    let built = engine::build(&ctx, None, &dir, engine::Limits::default());
    match built.engine.compile(&text) {
        Ok(ast) => {
            let unknown = check::unknown_calls(&built.engine, &ast, &dir);
            if unknown.is_empty() {
                println!("{shown}: ok");
                return ExitCode::SUCCESS;
            }
            for u in &unknown {
                let e = diag::unknown_function(&mut sources, &u.name, u.pos, u.nearest.as_deref());
                eprintln!("{:?}", Report::new(e));
            }
            eprintln!("{shown}: {} unknown function(s)", unknown.len());
            ExitCode::from(EXIT_ERROR)
        }
        Err(e) => {
            eprintln!("{:?}", Report::new(diag::parse_error(&mut sources, &e)));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn docs(markdown: bool) -> ExitCode {
    let ctx = api::Ctx::new(None, HashMap::new());
    let built = engine::build(&ctx, None, Path::new("."), engine::Limits::default());
    let entries = reference::entries(&built.docs);
    if markdown {
        print!("{}", reference::markdown(&entries));
    } else {
        print!("{}", reference::text(&entries));
    }
    ExitCode::SUCCESS
}

fn ls() -> ExitCode {
    let labs = lab::journal::list();
    if labs.is_empty() {
        println!("no labs");
        return ExitCode::SUCCESS;
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
    ExitCode::SUCCESS
}

fn down(name: Option<String>, all: bool) -> ExitCode {
    let records = match (&name, all) {
        (Some(n), _) => {
            if let Err(e) = lab::names::check_labname(n) {
                print_lab_error(e);
                return ExitCode::from(EXIT_USAGE);
            }
            let path = lab::journal::path_for(n);
            if std::fs::symlink_metadata(&path).is_err() {
                print_lab_error(LabError::new(
                    format!("there is no lab named '{n}'"),
                    "`nslab ls` lists the labs that can be taken down",
                ));
                return ExitCode::from(EXIT_ERROR);
            }
            vec![lab::journal::read(&path).map_err(|e| (path, e))]
        }
        (None, _) => lab::journal::list(),
    };
    let mut code = 0;
    for rec in records {
        let rec = match rec {
            Ok(r) => r,
            Err((_, e)) => {
                print_lab_error(e);
                code = EXIT_ERROR;
                continue;
            }
        };
        let n = rec.header.lab.clone();
        // Held while the lab's process lives (and while another `down` works).
        let claimed = match rec.claim() {
            Ok(c) => c,
            Err(e) => {
                print_lab_error(e);
                code = EXIT_ERROR;
                continue;
            }
        };
        let Some(_lock) = claimed else {
            if name.is_some() {
                let e = match rec.attached_by() {
                    Some(pid) if rec.kept => LabError::new(
                        format!(
                            "lab '{n}' is attached by an `nslab repl --attach` session (pid {pid})"
                        ),
                        format!(
                            "end that session (Ctrl-D or `exit` in it, or `kill {pid}`): the lab stays kept, then `nslab down {n}` removes it"
                        ),
                    ),
                    _ => LabError::new(
                        format!("lab '{n}' is still running (pid {})", rec.header.pid),
                        format!(
                            "stop it with Ctrl-C or `kill {}`: it tears itself down",
                            rec.header.pid
                        ),
                    ),
                };
                print_lab_error(e);
                code = EXIT_ERROR;
            }
            continue;
        };
        // Read again under the lock: an `nslab repl --attach` session that
        // ended meanwhile may have added steps, and another `down` may have
        // finished (and removed the journal; the name may even be another
        // lab's by now, whose journal is not the file locked here).
        let same_file = {
            use std::os::unix::fs::MetadataExt;
            match (_lock.metadata(), std::fs::symlink_metadata(&rec.path)) {
                (Ok(l), Ok(p)) => l.nlink() > 0 && (l.dev(), l.ino()) == (p.dev(), p.ino()),
                _ => false,
            }
        };
        let rec = match same_file {
            false => continue,
            true => match lab::journal::read(&rec.path) {
                Ok(r) => r,
                Err(e) => {
                    print_lab_error(e);
                    code = EXIT_ERROR;
                    continue;
                }
            },
        };
        match lab::down(&rec) {
            Ok(report) => {
                print_left_alone(&report.left_alone);
                if report.errors.is_empty() {
                    println!("lab '{n}' is down");
                } else {
                    eprintln!(
                        "nslab: lab '{n}': {} step(s) could not be undone:",
                        report.errors.len()
                    );
                    for e in report.errors {
                        print_lab_error(e);
                    }
                    code = EXIT_ERROR;
                }
            }
            Err(e) => {
                print_lab_error(e);
                code = EXIT_ERROR;
            }
        }
    }
    ExitCode::from(code)
}
