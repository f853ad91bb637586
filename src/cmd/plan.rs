//! `nslab plan FILE`: run the script isolated, recording every kernel change
//! as a shell command (src/lab/plan.rs), and print them as a bash script.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;

use miette::Report;
use rhai::debugger::DebuggerCommand;
use rhai::{ASTNode, Expr};

use crate::lab::plan::{self, Cursor, Plan};
use crate::{api, diag, engine};

pub fn run(file: &Path, params: HashMap<String, String>, limits: engine::Limits) -> ExitCode {
    let (shown, text, dir) = match crate::read_script(file) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut sources = diag::Sources::new(&shown, &text, &dir);
    let Some(cancel) = crate::install_cancel() else {
        return ExitCode::from(crate::EXIT_ERROR);
    };
    let ctx = api::Ctx::new(None, params);
    let mut built = engine::build(&ctx, Some(cancel.clone()), &dir, limits);
    // stdout is the plan: whatever the script prints (print, show(), its
    // checks' lines) goes to stderr meanwhile.
    let Some(plan_out) = stdout_to_stderr() else {
        return ExitCode::from(crate::EXIT_ERROR);
    };
    // The debugger hook sees every statement before it runs: the plan files
    // each command under the statement that was running when it was made.
    let cursor = Cursor::default();
    let c = cursor.clone();
    // (register_debugger is marked volatile, not deprecated, by rhai.)
    #[allow(deprecated)]
    built.engine.register_debugger(
        |_, d| d,
        move |_, _, node, source, pos| {
            // Statements, and the calls in expression statements (which
            // rhai steps through as expressions, not statements).
            let call = matches!(
                node,
                ASTNode::Stmt(_)
                    | ASTNode::Expr(Expr::FnCall(..) | Expr::MethodCall(..) | Expr::Dot(..))
            );
            if call
                && let Some(line) = pos.line()
                && let Ok(mut at) = c.lock()
            {
                *at = (source.map(str::to_string), line);
            }
            Ok(DebuggerCommand::StepInto)
        },
    );
    let Some(ast) = crate::compile_script(&built.engine, &text, &shown, &mut sources) else {
        return ExitCode::from(crate::EXIT_ERROR);
    };
    let script = crate::script_path(file);
    let name = crate::lab_name(file);
    // Always isolated: a plan changes nothing outside itself.
    let Some((mut lab, _)) = crate::start_lab(name.clone(), script, true, false, &cancel) else {
        return ExitCode::from(crate::EXIT_ERROR);
    };
    lab.start_plan(cursor);
    ctx.set_lab(lab);
    let result = built.engine.run_ast(&ast).and_then(|()| ctx.flush());

    let mut code = 0u8;
    if let Some(sig) = cancel.signal() {
        eprintln!("nslab: interrupted by {}", crate::signal_name(sig));
        code = 128 + sig as u8;
    } else if let Err(e) = &result {
        eprintln!(
            "{:?}",
            Report::new(diag::eval_error(&mut sources, &built.docs, e))
        );
        code = crate::EXIT_ERROR;
    }
    if crate::cmd::test::report_failed_checks(&ctx, &mut sources, &built.docs) && code == 0 {
        code = crate::EXIT_ERROR;
    }
    crate::warn_unused_params(&ctx);
    let recorded = match ctx.take_lab() {
        Some(mut lab) => {
            let p = lab.take_plan();
            ctx.set_lab(lab);
            p
        }
        None => None,
    };
    crate::finish_lab(&ctx, &mut code, true, &name);
    if code == 0
        && let Some(p) = recorded
    {
        let mut f = std::fs::File::from(plan_out);
        if let Err(e) = f.write_all(render(&p, &shown, &name, &mut sources).as_bytes()) {
            crate::print_lab_error(crate::lab::LabError::new(
                format!("cannot write the plan: {e}"),
                "check where standard output goes (a full disk, a closed pipe)",
            ));
            code = crate::EXIT_ERROR;
        }
    } else if code != 0 {
        eprintln!("nslab: no plan: the script did not run to its end");
    }
    ExitCode::from(code)
}

/// Points standard output at standard error; returns the old standard
/// output, for the plan.
fn stdout_to_stderr() -> Option<OwnedFd> {
    let _ = std::io::stdout().flush();
    let saved = std::io::stdout().as_fd().try_clone_to_owned();
    // SAFETY: dup2 on the process's own standard descriptors.
    match saved {
        Ok(fd) if unsafe { libc::dup2(2, 1) } == 1 => Some(fd),
        _ => {
            crate::print_lab_error(crate::lab::LabError::new(
                "cannot set standard output aside for the plan",
                "this is unexpected; please report it",
            ));
            None
        }
    }
}

/// The bash script: the header, then each statement's commands under a
/// comment naming it.
fn render(p: &Plan, shown: &str, lab: &str, sources: &mut diag::Sources) -> String {
    let mut out = plan::header(shown, lab);
    for step in &p.steps {
        let src = step.source.as_deref().filter(|s| *s != shown);
        let (name, line) = sources.line(src, step.line);
        let mut text = line.trim().to_string();
        // A statement that goes on over the next lines.
        let open = text.matches(['(', '[', '{']).count() > text.matches([')', ']', '}']).count();
        if open {
            text.push_str(" …");
        }
        let _ = write!(
            out,
            "\n# {}:{}  {}\n",
            plan::comment_text(&name),
            step.line,
            plan::comment_text(&text)
        );
        for l in &step.lines {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
