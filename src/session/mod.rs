//! One script session. Every command that runs a script (`run`, `plan`,
//! `test`, `graph`, the REPL) loads it, builds one engine, opens the lab,
//! runs, applies the firewall rules still queued, reports and tears down
//! through here: so they do each step the same way, and say the same words
//! for a signal, a script error, a failed check or an unread `--set`.
//!
//! Commands return a `Failure` (its exit code and its reports) for what
//! stops them before or outside a script; `main` prints those. What a
//! running script does is reported here, as it ends and before the
//! teardown (which can take seconds and prints its own lines).

mod failure;
mod script;

mod stdout;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::rc::Rc;

use miette::Report;
use rhai::{AST, Engine, EvalAltResult};

use crate::api::{self, Ctx, Doc};
use crate::cancel::Cancel;
use crate::diag::{self, ScriptError};
use crate::engine;
use crate::lab::{self, Lab, LabConfig, LabError};
use crate::progress;

pub(crate) use crate::say::say;
pub use failure::{CmdResult, EXIT_ERROR, Failure, exit, print_lab_error};
pub use script::Script;
pub use stdout::Aside;

/// Which command runs the script: they differ in what is reported.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Run,
    Plan,
    /// `nslab test`: the checks' summary is its own, on stdout.
    Test,
    Graph,
    Repl,
}

/// One check's result.
pub struct Check {
    pub name: String,
    pub line: usize,
    pub secs: f64,
    /// (message, help) when it failed.
    pub failure: Option<(String, Option<String>)>,
    /// What the script printed (`print`, `debug`) since the check before
    /// it ended, up to this one's end (`nslab test` only).
    pub output: String,
}

/// The error that stopped a script.
pub struct Stopped {
    pub message: String,
    pub help: Option<String>,
    pub line: usize,
}

/// How a script ended, as reported.
pub struct Outcome {
    /// 0, EXIT_ERROR (a script error or a failed check) or 128 + signal.
    pub code: u8,
    pub signal: Option<i32>,
    /// The error that stopped the script (not when a signal did).
    pub error: Option<Stopped>,
    pub checks: Vec<Check>,
    /// The script ran to its end (and its queued rules were applied).
    pub finished: bool,
}

/// Routes Ctrl-C, SIGTERM and SIGHUP into a flag.
pub fn install_cancel() -> Result<Cancel, Failure> {
    Cancel::install().map_err(|e| {
        Failure::from(LabError::new(
            format!("cannot install signal handlers: {e}"),
            "this is unexpected; please report it",
        ))
    })
}

/// How a signal that stops a lab is called in messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGHUP => "SIGHUP",
        _ => "SIGINT",
    }
}

/// The one line a signal that ends a session gets.
pub fn report_signal(sig: i32, kept: bool) {
    if kept {
        say!("nslab: interrupted by {}", signal_name(sig));
    } else {
        say!(
            "nslab: interrupted by {}: tearing the lab down",
            signal_name(sig)
        );
    }
}

/// Enters isolated mode when asked for, or when not root (rootless);
/// returns whether the lab is isolated. Once per process, before any thread.
pub fn isolate(isolated_flag: bool, keep: bool) -> Result<bool, LabError> {
    let rootless = !crate::isolate::is_root();
    let isolated = isolated_flag || rootless;
    if isolated {
        if let Err(e) = crate::isolate::enter() {
            let help = e.help();
            return Err(LabError::new(e.to_string(), help));
        }
        if rootless && !isolated_flag {
            say!(
                "nslab: not running as root, so the lab is built rootless: in private namespaces that vanish with this process"
            );
        }
        if keep {
            say!("nslab: --keep has no effect in isolated mode: the lab vanishes with the process");
        }
    }
    Ok(isolated)
}

/// `--machines` (name, ADDR:PORT) and the token they share.
type Machines = (Vec<(String, String)>, Vec<u8>);

/// Opens a lab (after `isolate`).
fn open_lab(
    name: String,
    script: String,
    isolated: bool,
    keep: bool,
    prefix: Option<String>,
    cancel: &Cancel,
) -> Result<Lab, LabError> {
    let mut lab = Lab::new(LabConfig {
        name,
        script,
        isolated,
        prefix,
        cancel: cancel.clone(),
    })?;
    if keep {
        lab.keep();
    }
    if isolated && let Err(e) = lab.set_up(lab::HOST, "lo", true) {
        print_lab_error(e);
    }
    Ok(lab)
}

/// A script, its engine and its lab, from compiling to the teardown.
pub struct Session {
    pub script: Script,
    pub mode: Mode,
    pub ctx: Rc<Ctx>,
    pub engine: Engine,
    pub docs: Vec<Doc>,
    pub cancel: Cancel,
    sources: diag::Sources,
    ast: Option<AST>,
    lab_name: String,
    isolated: bool,
    /// `--prefix`, for the lab to open.
    prefix: Option<String>,
    /// `--machines` and the token, for the lab to open.
    machines: Option<Machines>,
    /// The progress line, from the lab's start to the script's end.
    progress: Rc<RefCell<Option<progress::Progress>>>,
    /// `nslab test`: each line the script printed, with the number of
    /// checks done when it was printed.
    printed: Rc<RefCell<Vec<(usize, String)>>>,
    /// The engine has none of the API yet (see `Session::new`).
    deferred: bool,
}

impl Session {
    /// The engine, with the lab to join its context later: the script is
    /// parsed before anything is built, so a syntax error builds nothing.
    pub fn new(
        script: Script,
        params: HashMap<String, String>,
        limits: engine::Limits,
        mode: Mode,
        cancel: Cancel,
    ) -> Session {
        let ctx = Ctx::new(None, params);
        if mode == Mode::Test {
            ctx.tests.borrow_mut().quiet = true;
        }
        // The REPL's lines are compiled one at a time: it needs every
        // function from the start. A script's engine gets the ones its
        // text uses once it is compiled (`compile`).
        let deferred = mode != Mode::Repl;
        let mut built = if deferred {
            engine::build_deferred(&ctx, Some(cancel.clone()), &script.dir, limits)
        } else {
            engine::build(&ctx, Some(cancel.clone()), &script.dir, limits)
        };
        let printed: Rc<RefCell<Vec<(usize, String)>>> = Rc::default();
        if mode == Mode::Test {
            capture_output(&mut built.engine, &ctx, &printed);
        }
        Session {
            sources: script.sources(),
            lab_name: script.lab_name.clone(),
            script,
            mode,
            ctx,
            engine: built.engine,
            docs: built.docs,
            cancel,
            ast: None,
            isolated: false,
            prefix: None,
            machines: None,
            progress: Rc::default(),
            printed,
            deferred,
        }
    }

    /// What the script printed, one text per check of `n` (see
    /// `Check::output`); what came after the last check goes with it.
    pub fn output_of(&self, n: usize) -> Vec<String> {
        let mut out = vec![String::new(); n];
        for (i, line) in self.printed.borrow().iter() {
            if let Some(o) = out.get_mut((*i).min(n.saturating_sub(1))) {
                o.push_str(line);
                o.push('\n');
            }
        }
        out
    }

    /// Parses the script; the error is the caller's to report.
    pub fn compile(&mut self) -> Result<(), Box<ScriptError>> {
        match self.engine.compile(&self.script.text) {
            Ok(mut ast) => {
                if std::mem::take(&mut self.deferred) {
                    self.docs = engine::add_used(&mut self.engine, &self.ctx, &ast);
                }
                ast.set_source(self.script.shown.clone());
                self.ast = Some(ast);
                Ok(())
            }
            Err(e) => Err(Box::new(diag::parse_error(&mut self.sources, &e))),
        }
    }

    /// `--prefix P`: the lab puts its namespaces and host links under P in
    /// the kernel, and is called P + the script's name unless `--name`
    /// says otherwise (a second copy needs a journal of its own). Before
    /// `start…`/`open`, which take the name.
    pub fn set_prefix(&mut self, prefix: Option<String>) {
        if let Some(p) = &prefix {
            self.lab_name = format!("{p}{}", self.lab_name).chars().take(64).collect();
        }
        self.prefix = prefix;
    }

    /// The lab starts at the script's first call that needs it: a script
    /// that builds nothing starts nothing (no runtime, worker thread or
    /// journal), and an error starting it shows at that call.
    pub fn start_lazily(&mut self, name: Option<String>, isolated_flag: bool, keep: bool) {
        if let Some(n) = name {
            self.lab_name = n;
        }
        self.isolated = isolated_flag || !crate::isolate::is_root();
        let (name, script, cancel, prefix) = (
            self.lab_name.clone(),
            self.script.path.clone(),
            self.cancel.clone(),
            self.prefix.clone(),
        );
        let machines = self.machines.take();
        // The progress line starts with the lab: after isolation (it
        // starts a thread), and only when stderr is a terminal.
        let shown = self.progress.clone();
        self.ctx.set_starter(Box::new(move || {
            crate::stamps::stamp("lab: the script's first call that needs it");
            let isolated = isolate(isolated_flag, keep)?;
            crate::stamps::stamp("lab: isolated");
            let mut lab = open_lab(name, script, isolated, keep, prefix, &cancel)?;
            crate::stamps::stamp("lab: open");
            if let Some((m, token)) = machines {
                lab.set_machines(m, token);
            }
            if !isolated && std::io::stderr().is_terminal() {
                // Root in a terminal gets the machine's own network by
                // default: say so once, before the first change.
                say!(
                    "nslab: building on this machine's network (host mode); --isolated keeps it private"
                );
            }
            *shown.borrow_mut() = progress::start();
            Ok(lab)
        }));
    }

    /// `nslab run --machines`: the lab reaches other machines' agents.
    pub fn set_machines(&mut self, machines: Vec<(String, String)>, token: Vec<u8>) {
        self.machines = Some((machines, token));
    }

    /// Isolates (when asked or rootless) and opens the lab now.
    pub fn start(&mut self, name: Option<String>, isolated_flag: bool) -> Result<(), LabError> {
        let isolated = isolate(isolated_flag, false)?;
        self.open(name, isolated)
    }

    /// Opens the lab now, isolation decided already (`nslab test` isolates
    /// once for all its files).
    pub fn open(&mut self, name: Option<String>, isolated: bool) -> Result<(), LabError> {
        if let Some(n) = name {
            self.lab_name = n;
        }
        let lab = open_lab(
            self.lab_name.clone(),
            self.script.path.clone(),
            isolated,
            false,
            self.prefix.clone(),
            &self.cancel,
        )?;
        self.set_lab(lab, isolated);
        Ok(())
    }

    /// A lab opened elsewhere (`nslab repl --attach` joins a kept one).
    pub fn set_lab(&mut self, lab: Lab, isolated: bool) {
        self.lab_name = lab.name().to_string();
        self.isolated = isolated;
        self.ctx.set_lab(lab);
    }

    pub fn lab_name(&self) -> &str {
        &self.lab_name
    }

    pub fn isolated(&self) -> bool {
        self.isolated
    }

    /// Calls `f` on the lab, if it was started.
    pub fn with_lab<T>(&self, f: impl FnOnce(&mut Lab) -> T) -> Option<T> {
        let mut lab = self.ctx.take_lab()?;
        let r = f(&mut lab);
        self.ctx.set_lab(lab);
        Some(r)
    }

    /// The texts errors point into.
    pub fn sources(&mut self) -> &mut diag::Sources {
        &mut self.sources
    }

    /// Runs the compiled script, applies the rules still queued (the
    /// script's last calls), and reports how it went.
    pub fn run(&mut self) -> Outcome {
        let result = match &self.ast {
            Some(ast) => self.engine.run_ast(ast).and_then(|()| self.ctx.flush()),
            None => Ok(()),
        };
        if result.is_err() {
            // A kept lab has every veth end up, as veth() promised, even
            // when the script stopped right after making one.
            self.ctx.flush_ups();
        }
        if let Some(p) = self.progress.borrow_mut().as_mut() {
            p.stop();
        }
        self.report(result)
    }

    /// One place for what a script's end says: the signal that stopped it
    /// or its error, each failed check, and each `--set` it never read.
    fn report(&mut self, result: Result<(), Box<EvalAltResult>>) -> Outcome {
        let mut out = Outcome {
            code: 0,
            signal: self.cancel.signal(),
            error: None,
            checks: Vec::new(),
            finished: result.is_ok(),
        };
        if let Some(sig) = out.signal {
            report_signal(sig, self.ctx.lab_is_kept());
            out.code = 128 + sig as u8;
        } else if let Err(e) = &result {
            let r = diag::eval_error(&mut self.sources, &self.docs, e);
            out.error = Some(Stopped {
                message: r.message.clone(),
                help: r.help.clone(),
                line: e.position().line().unwrap_or(0),
            });
            say!("{:?}", Report::new(r));
            out.code = EXIT_ERROR;
        }
        out.checks = self.report_checks();
        if out.code == 0 && out.checks.iter().any(|c| c.failure.is_some()) {
            out.code = EXIT_ERROR;
        }
        self.warn_unused_params();
        out
    }

    /// Each check's result, with the full report of each failed one.
    fn report_checks(&mut self) -> Vec<Check> {
        let tests = self.ctx.tests.borrow();
        let mut checks = Vec::new();
        for t in tests.done.iter() {
            let failure = t.error.as_ref().map(|e| {
                let r = diag::eval_error(&mut self.sources, &self.docs, e);
                let (m, h) = (r.message.clone(), r.help.clone());
                say!("check '{}' failed:", t.name);
                say!("{:?}", Report::new(r));
                (m, h)
            });
            checks.push(Check {
                name: t.name.clone(),
                line: t.pos.line().unwrap_or(0),
                secs: t.secs,
                failure,
                output: String::new(),
            });
        }
        // `nslab test` prints its own summary, on stdout.
        if !checks.is_empty() && self.mode != Mode::Test {
            let failed = tests.failed();
            say!(
                "nslab: {} check(s) passed, {failed} failed",
                checks.len() - failed
            );
        }
        checks
    }

    /// A warning for each `--set` key the script never read.
    fn warn_unused_params(&self) {
        for p in self.ctx.unused_params() {
            say!("nslab: warning: --set {p}=… was given but the script never reads param(\"{p}\")");
        }
    }

    /// Tears the lab down (unless kept) and reports what could not be
    /// undone; a failed teardown turns a successful exit code into an
    /// error. Returns the exit code.
    pub fn finish(self, code: u8) -> u8 {
        tear_down(&self.ctx, code, self.isolated, &self.lab_name)
    }

    /// `finish` as the last thing the process does (`nslab run`): the
    /// engine, the script and their thousands of allocations are left to
    /// the process's exit instead of freed one by one, which was ~0.1 ms
    /// of every run. (What needs undoing went with the lab; the progress
    /// line was stopped when the script ended.)
    pub fn finish_last(self, code: u8) -> u8 {
        let code = tear_down(&self.ctx, code, self.isolated, &self.lab_name);
        std::mem::forget(self);
        code
    }
}

/// `nslab test` keeps standard output for its results: the script's
/// `print` and `debug` lines are kept for the check they came before
/// (`Session::output_of`), shown with it, or in its JSON and JUnit record.
fn capture_output(engine: &mut Engine, ctx: &Rc<Ctx>, printed: &Rc<RefCell<Vec<(usize, String)>>>) {
    let keep = |ctx: Rc<Ctx>, printed: Rc<RefCell<Vec<(usize, String)>>>| {
        move |s: &str| {
            let done = ctx.tests.try_borrow().map_or(0, |t| t.done.len());
            printed.borrow_mut().push((done, s.to_string()));
        }
    };
    engine.on_print(keep(ctx.clone(), printed.clone()));
    let debug = keep(ctx.clone(), printed.clone());
    engine.on_debug(move |s, _, _| debug(s));
}

fn tear_down(ctx: &Ctx, mut code: u8, isolated: bool, lab_name: &str) -> u8 {
    let Some(mut lab) = ctx.take_lab() else {
        return code;
    };
    let kept = lab.is_kept();
    crate::stamps::stamp("teardown: start");
    let report = {
        let _shown = progress::tearing_down();
        lab.teardown()
    };
    crate::stamps::stamp("teardown: done");
    print_left_alone(&report.left_alone);
    if !report.errors.is_empty() {
        say!(
            "nslab: teardown could not undo {} step(s):",
            report.errors.len()
        );
        for e in report.errors {
            print_lab_error(e);
        }
        if code == 0 {
            code = EXIT_ERROR;
        }
    } else if kept && !isolated {
        say!("nslab: lab '{lab_name}' is kept; remove it with `nslab down {lab_name}`");
    }
    code
}

/// What teardown left alone on purpose, one line each.
pub fn print_left_alone(notes: &[String]) {
    for n in notes {
        say!("nslab: {n}");
    }
}

/// The context for commands that only read the API (check, docs).
pub fn api_only(dir: &Path) -> (Rc<Ctx>, engine::Built) {
    let ctx = api::Ctx::new(None, HashMap::new());
    let built = engine::build(&ctx, None, dir, engine::Limits::default());
    (ctx, built)
}
