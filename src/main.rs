//! nslab: CLI dispatch. The one place that prints errors and picks exit codes.

mod api;
mod cancel;
mod check;
mod cli;
mod cmd;
mod diag;
mod doc;
mod engine;
mod explain;
mod graph;
mod isolate;
mod lab;
mod layers;
mod limits;
mod net;
mod opener;
mod owner;
mod parser;
mod progress;
mod reference;
mod remote;
mod repl;
mod say;
mod session;
mod stamps;
mod stdlib;
mod text;

use std::process::ExitCode;

use cli::{Cli, Cmd};
use cmd::default_sigpipe;

/// Every allocation is counted, so a script can be held to --max-mem.
#[global_allocator]
static ALLOC: limits::Counting = limits::Counting;

fn main() -> ExitCode {
    stamps::init();
    let code = run_cli();
    opener::finish();
    stamps::stamp("exit");
    code
}

/// Each command returns its exit code or a `Failure`, printed here.
fn run_cli() -> ExitCode {
    let cli = Cli::read();
    stamps::stamp("command line parsed");
    miette::set_hook(Box::new(|_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .terminal_links(false)
                .context_lines(1)
                .build(),
        )
    }))
    .ok();
    let result = match cli.cmd {
        Cmd::Run {
            file,
            set,
            keep,
            isolated,
            name,
            prefix,
            machines,
            token_file,
            limits,
        } => cmd::run::run(cmd::run::Args {
            file,
            params: set.into_iter().collect(),
            keep,
            isolated,
            name,
            prefix,
            machines: machines.unwrap_or_default().0,
            token_file,
            limits: limits.limits(),
        }),
        Cmd::Agent {
            listen,
            token_file,
            isolated,
            grace_ms,
            vxlan_port,
        } => cmd::agent::run(cmd::agent::Args {
            listen,
            token_file,
            isolated,
            grace: std::time::Duration::from_millis(grace_ms),
            vxlan_port,
        }),
        Cmd::Plan {
            file,
            set,
            prefix,
            limits,
        } => cmd::plan::run(&file, set.into_iter().collect(), prefix, limits.limits()),
        Cmd::Check { file } => cmd::check::run(&file),
        Cmd::Repl {
            isolated,
            file,
            attach,
            prefix,
            limits,
        } => repl::run(file, isolated, attach, prefix, limits.limits()),
        Cmd::Docs {
            markdown,
            definitions,
        } => {
            default_sigpipe();
            match definitions {
                Some(dir) => cmd::shell::definitions(&dir),
                None => cmd::docs::run(markdown),
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
            cmd::ls::run(json)
        }
        Cmd::Show { lab, json } => {
            default_sigpipe();
            cmd::view::show(&lab, json)
        }
        Cmd::Graph {
            target,
            format,
            output,
            set,
        } => cmd::view::graph(
            &target,
            format,
            output.as_deref(),
            set.into_iter().collect(),
        ),
        Cmd::Kube(args) => cmd::kube::run(args),
        Cmd::Down { lab, all } => cmd::down::run(lab, all),
        Cmd::Test {
            files,
            set,
            filter,
            junit,
            json,
            verbose,
            isolated,
            prefix,
            limits,
        } => cmd::test::run(cmd::test::Args {
            files,
            params: set.into_iter().collect(),
            filter,
            junit,
            json,
            verbose,
            isolated,
            prefix,
            limits: limits.limits(),
        }),
    };
    result.unwrap_or_else(|f| {
        f.print();
        ExitCode::from(f.code)
    })
}
