//! `nslab plan FILE`: run the script isolated, recording every kernel change
//! as a shell command (src/lab/plan.rs), and print them as a bash script.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use rhai::debugger::DebuggerCommand;
use rhai::{ASTNode, Expr};

use crate::lab::LabError;
use crate::lab::plan::{self, Cursor, Plan};
use crate::session::{self, Aside, CmdResult, Mode, Script, Session};
use crate::{diag, engine};

pub fn run(
    file: &Path,
    params: HashMap<String, String>,
    prefix: Option<String>,
    limits: engine::Limits,
) -> CmdResult {
    if let Some(p) = &prefix {
        crate::lab::names::check_prefix(p).map_err(session::Failure::usage)?;
    }
    let script = Script::load(file)?;
    let cancel = session::install_cancel()?;
    let mut s = Session::new(script, params, limits, Mode::Plan, cancel);
    // stdout is the plan: whatever the script prints (print, show(), its
    // checks' lines) goes to stderr meanwhile.
    let plan_out = Aside::to_stderr().ok_or_else(|| {
        LabError::new(
            "cannot set standard output aside for the plan",
            "this is unexpected; please report it",
        )
    })?;
    // The debugger hook sees every statement before it runs: the plan files
    // each command under the statement that was running when it was made.
    let cursor = Cursor::default();
    let c = cursor.clone();
    // (register_debugger is marked volatile, not deprecated, by rhai.)
    #[allow(deprecated)]
    s.engine.register_debugger(
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
    s.compile()?;
    // Always isolated: a plan changes nothing outside itself.
    s.set_prefix(prefix);
    s.start(None, true)?;
    s.with_lab(|lab| lab.start_plan(cursor));
    let out = s.run();
    let recorded = s.with_lab(|lab| lab.take_plan()).flatten();
    let (shown, name) = (s.script.shown.clone(), s.lab_name().to_string());
    let text = match recorded {
        Some(p) if out.code == 0 => Some(render(&p, &shown, &name, s.sources())),
        _ => None,
    };
    let code = s.finish(out.code);
    match text {
        Some(text) if code == 0 => plan_out.write_all(text.as_bytes()).map_err(|e| {
            LabError::new(
                format!("cannot write the plan: {e}"),
                "check where standard output goes (a full disk, a closed pipe)",
            )
        })?,
        _ if code != 0 => crate::session::say!("nslab: no plan: the script did not run to its end"),
        _ => {}
    }
    session::exit(code)
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
