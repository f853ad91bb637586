//! `nslab repl`: the engine and lab of `run`, fed one input at a time.
//! Variables, functions and imports persist between inputs; an error is
//! reported like in a script and never ends the session.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use miette::Report;
use rhai::{AST, Dynamic, Engine, EvalAltResult, ParseError, ParseErrorType, Scope, Stmt};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use crate::api::{self, Ctx};
use crate::lab::{Lab, LabError};
use crate::session::{self, CmdResult, EXIT_ERROR, Failure, Mode, Script, Session};
use crate::{diag, engine, stdlib};

const PROMPT: &str = "nslab> ";

/// Where the history lives: $NSLAB_HISTORY, else the XDG state directory.
fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NSLAB_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))?;
    Some(state.join("nslab/history"))
}

/// Is this parse error only the input ending early (an open `{`, `(`, `[`
/// or a dangling operator)? Then the input continues on the next line.
fn incomplete(input: &str, e: &ParseError) -> bool {
    if matches!(*e.0, ParseErrorType::UnexpectedEOF) {
        return true;
    }
    let Some(line) = e.1.line() else {
        return false;
    };
    let lines: Vec<&str> = input.lines().collect();
    let last = lines.len().max(1);
    let last_len = lines
        .last()
        .map(|l| l.trim_end().chars().count())
        .unwrap_or(0);
    line > last || (line == last && e.1.position().unwrap_or(0) > last_len)
}

/// Completion, multi-line input and nothing else.
struct ReplHelper {
    functions: Vec<String>,
    ctx: Rc<Ctx>,
    vars: Rc<RefCell<Vec<String>>>,
    parser: Engine,
}

const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "for", "in", "if", "else", "while", "loop", "break", "continue",
    "return", "import", "as", "true", "false", "throw", "try", "catch", "exit",
];

impl ReplHelper {
    fn candidates(&self, before: &str) -> (usize, Vec<String>) {
        // Inside a string literal: module names after `import "`, else the
        // names of the lab's namespaces and links.
        let quotes = before.matches('"').count();
        if quotes % 2 == 1 {
            let start = before.rfind('"').map(|i| i + 1).unwrap_or(0);
            let prefix = &before[start..];
            let opening = before[..start.saturating_sub(1)].trim_end();
            let pool: Vec<String> = if opening.ends_with("import") {
                stdlib::MODULES.iter().map(|(n, _)| n.to_string()).collect()
            } else {
                self.ctx.lab_names()
            };
            return (
                start,
                pool.into_iter().filter(|n| n.starts_with(prefix)).collect(),
            );
        }
        let start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == ':')
            .last()
            .map(|(i, _)| i)
            .unwrap_or(before.len());
        let prefix = &before[start..];
        if prefix.is_empty() {
            return (start, Vec::new());
        }
        let after_dot = before[..start].ends_with('.');
        let mut out: Vec<String> = self
            .functions
            .iter()
            .filter(|f| !after_dot || !f.contains("::"))
            .filter(|f| f.starts_with(prefix))
            .cloned()
            .collect();
        if !after_dot {
            out.extend(
                self.vars
                    .borrow()
                    .iter()
                    .chain(
                        KEYWORDS
                            .iter()
                            .map(|k| k.to_string())
                            .collect::<Vec<_>>()
                            .iter(),
                    )
                    .filter(|v| v.starts_with(prefix))
                    .cloned(),
            );
        }
        out.sort();
        out.dedup();
        (start, out)
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, names) = self.candidates(&line[..pos]);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim().is_empty() {
            return Ok(ValidationResult::Valid(None));
        }
        Ok(match self.parser.compile(input) {
            Err(e) if incomplete(input, &e) => ValidationResult::Incomplete,
            _ => ValidationResult::Valid(None),
        })
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Helper for ReplHelper {}

/// What persists between inputs, over the script session (its engine,
/// context and lab), and the texts errors may point into.
struct Repl<'a> {
    s: &'a mut Session,
    scope: Scope<'static>,
    fns: AST,
    /// (shown name, text) of every input so far, for error reports.
    texts: Vec<(String, String)>,
    vars: Rc<RefCell<Vec<String>>>,
}

enum Outcome {
    Value(Dynamic),
    Failed,
    Exit,
}

impl Repl<'_> {
    fn sources(&self, name: &str, text: &str) -> diag::Sources {
        let mut s = diag::Sources::new(name, text, &self.s.script.dir);
        for (n, t) in &self.texts {
            s.add(n, t);
        }
        s
    }

    /// A value as `print` shows it: through the engine's `to_string`, so
    /// a type's registered text (a Reach's matrix) is what the REPL echoes.
    fn show(&self, v: &Dynamic) -> String {
        let engine = &self.s.engine;
        api::show_value(v, &|x| {
            let mut scope = Scope::new();
            scope.push_dynamic("v", x.clone());
            engine
                .eval_expression_with_scope::<String>(&mut scope, "v.to_string()")
                .ok()
        })
    }

    /// Runs one input (or the start-up file) in the persistent scope.
    fn eval(&mut self, name: &str, text: &str) -> Outcome {
        let mut ast = match self.s.engine.compile_with_scope(&self.scope, text) {
            Ok(a) => a,
            Err(e) => {
                let mut s = self.sources(name, text);
                crate::session::say!("{:?}", Report::new(diag::parse_error(&mut s, &e)));
                return Outcome::Failed;
            }
        };
        ast.set_source(name.to_string());
        self.texts.push((name.to_string(), text.to_string()));
        let merged = self.fns.merge(&ast);
        // Rules the input queued are applied before the next prompt.
        let outcome = match self
            .s
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &merged)
            .and_then(|v| self.s.ctx.flush().map(|()| v))
        {
            Ok(v) => {
                self.fns = merged.clone_functions_only();
                self.keep_imports(&ast);
                Outcome::Value(v)
            }
            Err(e) => {
                // The ends this input's veth() calls made are up before the
                // next prompt, whatever stopped it.
                self.s.ctx.flush_ups();
                if matches!(*e, EvalAltResult::Exit(..)) {
                    return Outcome::Exit;
                }
                if self.s.cancel.signal() == Some(signal_hook::consts::SIGINT) {
                    self.s.cancel.clear_interrupt();
                    crate::session::say!("interrupted");
                } else if self.s.cancel.signal().is_none() {
                    let mut s = self.sources(name, text);
                    crate::session::say!(
                        "{:?}",
                        Report::new(diag::eval_error(&mut s, &self.s.docs, &e))
                    );
                }
                Outcome::Failed
            }
        };
        // For completion: the variables as they stand, whatever happened.
        *self.vars.borrow_mut() = self.scope.iter_raw().map(|(n, ..)| n.to_string()).collect();
        outcome
    }

    /// An `import "x" as y;` lasts only for its own input: register the
    /// module under its alias so later inputs can call `y::…`.
    fn keep_imports(&mut self, ast: &AST) {
        for stmt in ast.statements() {
            if let Stmt::Import(x, pos) = stmt
                && let rhai::Expr::StringConstant(path, _) = &x.0
            {
                let engine = &mut self.s.engine;
                let resolved = engine.module_resolver().resolve(engine, None, path, *pos);
                if let Ok(m) = resolved {
                    engine.register_static_module(x.1.name.as_str(), m);
                }
            }
        }
    }
}

/// help(), show() and save() only look; a saved script need not repeat them.
fn is_inspection(input: &str) -> bool {
    let t = input.trim().trim_end_matches(';').trim();
    ["help(", "show(", "save("].iter().any(|p| t.starts_with(p)) && !t.contains(';')
}

fn is_exit(input: &str) -> bool {
    let t = input.trim().trim_end_matches(';').trim();
    matches!(t, "exit" | "quit" | "exit()" | "quit()")
}

/// Reads stdin line by line on its own thread (which may stay blocked in a
/// read until the process exits).
fn read_in_background() -> std::sync::mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let failed = line.is_err();
            if tx.send(line).is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// The next line from `read_in_background`, or `Interrupted` as soon as a
/// SIGTERM or SIGHUP sets `term`.
fn next_line(
    lines: &std::sync::mpsc::Receiver<std::io::Result<String>>,
    term: &AtomicUsize,
) -> Result<String, rustyline::error::ReadlineError> {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        if term.load(Ordering::Relaxed) != 0 {
            return Err(rustyline::error::ReadlineError::Interrupted);
        }
        match lines.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(line) => return line.map_err(rustyline::error::ReadlineError::Io),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(rustyline::error::ReadlineError::Eof);
            }
        }
    }
}

pub fn run(
    file: Option<PathBuf>,
    isolated_flag: bool,
    attach: Option<String>,
    prefix: Option<String>,
    limits: engine::Limits,
) -> CmdResult {
    if let Some(p) = &prefix {
        crate::lab::names::check_prefix(p).map_err(Failure::usage)?;
    }
    if attach.is_some() && isolated_flag {
        return Err(Failure::usage(LabError::new(
            "--attach and --isolated do not go together",
            "--attach works on a kept lab of this host, and an isolated lab cannot be kept (its namespaces end with its process): leave out --isolated",
        )));
    }
    if attach.is_some() && !crate::isolate::is_root() {
        return Err(LabError::new(
            "nslab repl --attach needs root",
            "kept labs are host-mode labs, made as root, and so is their journal: run it as root (sudo nslab repl --attach LAB)",
        )
        .into());
    }
    let script = match &file {
        Some(f) => Script::load(f)?,
        None => Script::none(),
    };
    // As in `run`: signals, then the one engine (the lab joins its context
    // later), so a start-up file with a syntax error builds nothing.
    let cancel = session::install_cancel()?;
    let mut s = Session::new(script, HashMap::new(), limits, Mode::Repl, cancel.clone());
    let start_text = match &file {
        Some(_) => {
            s.compile()?;
            Some((s.script.shown.clone(), s.script.text.clone()))
        }
        None => None,
    };
    s.set_prefix(prefix);
    match &attach {
        Some(kept) => s.set_lab(Lab::attach_kept(kept, cancel.clone())?, false),
        None => s.start(Some(format!("repl-{}", std::process::id())), isolated_flag)?,
    }
    let (name, isolated) = (s.lab_name().to_string(), s.isolated());
    let ctx = s.ctx.clone();
    let attached = s.with_lab(|lab| lab.is_attached()).unwrap_or(false);
    // rustyline wakes from its wait only for SIGINT: a SIGTERM or SIGHUP
    // raises one too, after setting the flag (to the signal) that ends the
    // session.
    let term = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        let _ = signal_hook::flag::register_usize(sig, term.clone(), sig as usize);
        // SAFETY: raise() is async-signal-safe; sigaction only edits the
        // flags of the handler just installed, so that the terminal read
        // returns EINTR instead of being restarted (rustyline then looks at
        // its SIGINT pipe).
        unsafe {
            let _ = signal_hook::low_level::register(sig, || {
                libc::raise(libc::SIGINT);
            });
            let mut sa: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut sa) == 0 {
                sa.sa_flags &= !libc::SA_RESTART;
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
    }

    ctx.start_session();
    let vars = Rc::new(RefCell::new(Vec::new()));
    let mut functions: Vec<String> = ctx_function_names(&s.engine, &s.docs);
    functions.sort();
    functions.dedup();
    let mut session = Repl {
        s: &mut s,
        scope: Scope::new(),
        fns: AST::empty(),
        texts: Vec::new(),
        vars: vars.clone(),
    };

    if attached {
        println!(
            "nslab repl: attached to kept lab '{name}'. ns(\"name\") hands out its namespaces, lab() lists them, help() the API; Ctrl-D or `exit` leaves the lab up with what you added (`nslab down {name}` removes all of it)."
        );
    } else {
        println!(
            "nslab repl: lab '{name}'{}. help() lists the API; namespaces made in a loop are there by name, ns(\"h3\"), and lab() lists them all; Ctrl-D or `exit` tears the lab down.",
            if isolated { " (isolated)" } else { "" }
        );
    }
    let mut code = 0u8;
    let mut done = false;
    if let Some((shown, text)) = start_text {
        match session.eval(&shown, &text) {
            Outcome::Value(_) => ctx.record(&text),
            Outcome::Exit => done = true,
            Outcome::Failed => {}
        }
    }

    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut rl: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            session::print_lab_error(LabError::new(
                format!("cannot start the line editor: {e}"),
                "run nslab repl in a terminal",
            ));
            done = true;
            code = EXIT_ERROR;
            Editor::with_config(Config::default()).expect("a plain editor")
        }
    };
    rl.set_helper(Some(ReplHelper {
        functions,
        ctx: ctx.clone(),
        vars,
        parser: parse_engine(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }

    // Input that is not a terminal is read on a thread of its own: reading
    // a pipe, rustyline (through std) restarts the read after a signal, so
    // a SIGTERM would end the session only at the pipe's next line.
    let piped = (!std::io::IsTerminal::is_terminal(&std::io::stdin())).then(read_in_background);
    let mut n = 0;
    while !done && term.load(Ordering::Relaxed) == 0 {
        let input = match &piped {
            Some(lines) => next_line(lines, &term),
            None => rl.readline(PROMPT),
        };
        match input {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line.as_str());
                if is_exit(&line) {
                    break;
                }
                n += 1;
                match session.eval(&format!("input {n}"), &line) {
                    Outcome::Value(v) => {
                        if !is_inspection(&line) {
                            ctx.record(&line);
                        }
                        if !v.is_unit() {
                            println!("{}", session.show(&v));
                        }
                    }
                    Outcome::Exit => break,
                    Outcome::Failed => {}
                }
            }
            // Ctrl-C at the prompt clears the line.
            Err(rustyline::error::ReadlineError::Interrupted) => {
                cancel.clear_interrupt();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            // A hung-up terminal fails reads (EIO) before SIGHUP is seen.
            Err(e) => {
                if term.load(Ordering::Relaxed) == 0 {
                    crate::session::say!("nslab: cannot read input: {e}");
                }
                break;
            }
        }
    }
    let sig = term.load(Ordering::Relaxed) as i32;
    if sig != 0 {
        session::report_signal(sig, ctx.lab_is_kept());
        code = 128 + sig as u8;
    }
    if let Some(h) = &history {
        if let Some(d) = h.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let _ = rl.save_history(h);
    }
    drop(rl);
    drop(session);
    session::exit(s.finish(code))
}

/// Every name completion offers: the API, rhai's own functions and the
/// recipes (`topo::star`).
fn ctx_function_names(engine: &Engine, docs: &[api::Doc]) -> Vec<String> {
    let mut names: Vec<String> = docs.iter().map(|d| d.name.to_string()).collect();
    names.extend(
        engine::function_names(engine, true)
            .into_iter()
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_')),
    );
    for (module, text) in stdlib::MODULES {
        if let Ok(ast) = engine.compile(text) {
            names.extend(
                ast.iter_functions()
                    .map(|f| format!("{module}::{}", f.name)),
            );
        }
    }
    names
}

/// An engine that only parses (for the multi-line check while typing).
fn parse_engine() -> Engine {
    let ctx = Ctx::new(None, Default::default());
    engine::build(&ctx, None, Path::new("."), engine::Limits::default()).engine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_blocks_and_dangling_operators_continue() {
        let e = parse_engine();
        for s in [
            "fn f(x) {",
            "let m = #{a: 1,",
            "if true {\n print(1);",
            "let x = ",
            "foo(1, ",
            "let a = [1, 2",
        ] {
            let err = e.compile(s).unwrap_err();
            assert!(incomplete(s, &err), "{s:?} should continue");
        }
        for s in ["veth(a \"x\")", "let = 5;"] {
            let err = e.compile(s).unwrap_err();
            assert!(!incomplete(s, &err), "{s:?} is an error, not unfinished");
        }
    }

    #[test]
    fn inspection_lines_are_not_saved() {
        assert!(is_inspection("show();"));
        assert!(is_inspection(" help(\"veth\") "));
        assert!(!is_inspection("show(); let a = netns(\"a\");"));
        assert!(!is_inspection("let a = netns(\"a\");"));
        assert!(is_exit("exit"));
        assert!(is_exit("quit();"));
    }
}
