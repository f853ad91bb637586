//! test("name", || { … }): checks a lab script makes about itself. Each runs
//! where it stands in the script, after the lab built above it; a failed
//! check is recorded and the script goes on, so one run reports every check
//! (`nslab test` prints them, with a summary and JUnit/JSON if asked).

use std::rc::Rc;
use std::time::Instant;

use rhai::{Dynamic, EvalAltResult, FnPtr, NativeCallContext, Position};

use super::{Ctx, Doc, Registrar, Res};

/// How one check went.
pub struct Outcome {
    pub name: String,
    /// Where test() was called.
    pub pos: Position,
    pub secs: f64,
    /// Why it failed; None when it passed.
    pub error: Option<Box<EvalAltResult>>,
}

/// The checks of a run.
#[derive(Default)]
pub struct Tests {
    /// Only checks whose name holds this run (`--filter`).
    pub filter: Option<String>,
    /// Print a line as each check ends (`nslab run`); `nslab test` prints
    /// its own report.
    pub quiet: bool,
    pub done: Vec<Outcome>,
}

impl Tests {
    pub fn failed(&self) -> usize {
        self.done.iter().filter(|t| t.error.is_some()).count()
    }
}

/// Did the run stop because of Ctrl-C/SIGTERM or a limit (not a check)?
fn stops_the_run(e: &EvalAltResult) -> bool {
    match e {
        EvalAltResult::ErrorTerminated(..) | EvalAltResult::ErrorTooManyOperations(..) => true,
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
        | EvalAltResult::ErrorInModule(_, inner, _) => stops_the_run(inner),
        _ => false,
    }
}

fn run_check(c: &Ctx, cx: &NativeCallContext, name: &str, f: &FnPtr) -> Res<()> {
    {
        let t = c.tests.borrow();
        if t.filter.as_deref().is_some_and(|w| !name.contains(w)) {
            return Ok(());
        }
    }
    let started = Instant::now();
    // Rules the check queued are applied within it: a refused one fails
    // this check, not a later line.
    let result = f
        .call_within_context::<Dynamic>(cx, ())
        .and_then(|v| c.flush().map(|()| v));
    let error = match result {
        Ok(_) => None,
        Err(e) if stops_the_run(&e) => return Err(e),
        Err(e) => Some(e),
    };
    let mut t = c.tests.borrow_mut();
    if !t.quiet {
        match &error {
            None => println!("ok      {name}"),
            Some(e) => println!("FAILED  {name}: {}", crate::diag::reason(e).0),
        }
    }
    t.done.push(Outcome {
        name: name.to_string(),
        pos: cx.call_position(),
        secs: started.elapsed().as_secs_f64(),
        error,
    });
    Ok(())
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    r.func(
        Doc {
            area: "script",
            name: "test",
            sig: "test(\"name\", || { … })",
            doc: "A check of the lab: runs the closure where it stands; it passes unless it throws or a call in it fails. A failed check is reported and the script goes on; the run then ends with exit code 1. `nslab test FILE` prints one line per check, a summary, and JUnit XML or JSON on request.",
            example: "test(\"a reaches b\", || { if !a.ping(\"10.0.0.2\").ok { throw \"no answer\"; } });",
        },
        move |cx: NativeCallContext, name: &str, f: FnPtr| -> Res<()> {
            run_check(&c, &cx, name, &f)
        },
    );
}
