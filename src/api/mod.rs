//! The script API: argument checks and conversion only. Every call goes to
//! the Lab; nothing here touches the kernel.

mod addr;
mod bridge_reads;
mod capture;
pub mod checks;
mod explain;
mod firewall;
mod kinds;
mod link;
mod misc;
mod netns;
pub mod placed;
mod probe;
mod reach;
mod recipe;
mod routing;
mod session;
mod shaping;
mod socket;
mod tables;
mod throughput;
mod wait;

use std::cell::{RefCell, RefMut};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use rhai::{
    Dynamic, Engine, EvalAltResult, FuncRegistration, ImmutableString, NativeCallContext, Position,
    RhaiNativeFunc, Variant,
};

pub use crate::doc::{ApiError, At, Doc};
use crate::lab::{Lab, LabError, NsId, Refused, Site};

/// What the API functions share: the lab, and the `--set` parameters.
pub struct Ctx {
    lab: RefCell<Option<Lab>>,
    /// Starts the lab at the first call that needs it (`nslab run`).
    starter: RefCell<Option<Starter>>,
    params: HashMap<String, String>,
    used_params: RefCell<HashSet<String>>,
    /// The registered functions' docs (set once everything is registered);
    /// the reference help() shows is built from them on first use only,
    /// so a run that never asks pays nothing for it.
    docs: RefCell<Vec<Doc>>,
    reference: std::cell::OnceCell<Vec<crate::reference::Entry>>,
    /// In the REPL: the lines that succeeded, for save().
    session: RefCell<Option<Vec<String>>>,
    /// The script's test() checks: which to run, and how each went.
    pub tests: RefCell<checks::Tests>,
}

/// What starts a lab on first use.
pub type Starter = Box<dyn FnOnce() -> Result<Lab, LabError>>;

impl Ctx {
    pub fn new(lab: Option<Lab>, params: HashMap<String, String>) -> Rc<Ctx> {
        Rc::new(Ctx {
            lab: RefCell::new(lab),
            starter: RefCell::new(None),
            params,
            used_params: RefCell::new(HashSet::new()),
            docs: RefCell::new(Vec::new()),
            reference: std::cell::OnceCell::new(),
            session: RefCell::new(None),
            tests: RefCell::new(checks::Tests::default()),
        })
    }

    pub fn set_docs(&self, docs: Vec<Doc>) {
        *self.docs.borrow_mut() = docs;
    }

    fn reference(&self) -> &[crate::reference::Entry] {
        self.reference
            .get_or_init(|| crate::reference::entries(&self.docs.borrow()))
    }

    /// Starts recording a REPL session for save().
    pub fn start_session(&self) {
        *self.session.borrow_mut() = Some(Vec::new());
    }

    /// A REPL input that succeeded (and changes or defines something).
    pub fn record(&self, input: &str) {
        if let Some(lines) = self.session.borrow_mut().as_mut() {
            // A REPL line may end without ';' (its value is printed); in a
            // script the next statement needs it.
            let mut line = input.trim_end().to_string();
            if !line.ends_with(';') {
                line.push(';');
            }
            lines.push(line);
        }
    }

    fn session_script(&self) -> Option<String> {
        let lines = self.session.borrow();
        let lines = lines.as_ref()?;
        // An attached session's lines build on the kept lab (ns("a") is one
        // of its namespaces): they replay on that lab, not on their own.
        let head = match self.attached_lab() {
            Some(lab) => format!(
                "// Saved from `nslab repl --attach {lab}`: these lines add to kept lab '{lab}';\n// replay them on it with `nslab repl --attach {lab} FILE`."
            ),
            None => {
                "// Saved from an nslab REPL session; rebuild the lab with `nslab run FILE`.".into()
            }
        };
        Some(format!("{head}\n{}\n", lines.join("\n")))
    }

    /// The kept lab an `nslab repl --attach` session works on.
    fn attached_lab(&self) -> Option<String> {
        self.lab
            .borrow()
            .as_ref()
            .filter(|l| l.is_attached())
            .map(|l| l.name().to_string())
    }

    /// Names of the lab's namespaces and links (for completion).
    pub fn lab_names(&self) -> Vec<String> {
        match self.lab.borrow_mut().as_mut() {
            Some(lab) => lab.names(),
            None => Vec::new(),
        }
    }

    /// The lab, with every queued firewall rule applied and every veth end
    /// put off brought up: every call goes through here except those that
    /// queue rules (and attach, `lab_for_port`), so a rule is in effect and
    /// a link up before anything that could notice it (a probe, a process,
    /// a listing, a change of the lab).
    fn lab(&self) -> Result<RefMut<'_, Lab>, Box<EvalAltResult>> {
        let mut lab = self.lab_queued()?;
        lab.flush().map_err(refused)?;
        Ok(lab)
    }

    /// Brings up the veth ends put off, whatever else fails (a script
    /// that stopped with an error).
    pub fn flush_ups(&self) {
        if let Some(lab) = self.lab.borrow_mut().as_mut() {
            let _ = lab.flush_ups();
        }
    }

    /// `lab()` for `br.attach(link)`: a veth end whose up was put off stays
    /// down for the attach, which brings it up (see lab/deferred.rs).
    fn lab_for_port(&self, id: NsId, link: &str) -> Result<RefMut<'_, Lab>, Box<EvalAltResult>> {
        let mut lab = self.lab_queued()?;
        lab.flush_but_port(id, link).map_err(refused)?;
        Ok(lab)
    }

    /// Brings up the veth ends put off and applies the queued firewall
    /// rules (at the end of a script or of a REPL input); an error points
    /// at the call that asked for it.
    pub fn flush(&self) -> Res<()> {
        match self.lab.borrow_mut().as_mut() {
            Some(lab) => lab.flush().map_err(refused),
            None => Ok(()),
        }
    }

    /// The lab as it is, queued rules left queued: for the calls that
    /// queue rules.
    fn lab_queued(&self) -> Result<RefMut<'_, Lab>, Box<EvalAltResult>> {
        if self.lab.borrow().is_none() {
            let start = self.starter.borrow_mut().take();
            if let Some(start) = start {
                *self.lab.borrow_mut() = Some(start().map_err(err)?);
            }
        }
        let guard = self.lab.borrow_mut();
        RefMut::filter_map(guard, Option::as_mut).map_err(|_| {
            err(LabError::new(
                "no lab is running here",
                "this call builds network objects: run the script with `nslab run`",
            ))
        })
    }

    /// Puts the lab in, once it exists (the engine is built before it).
    /// Starts the lab with `start` at the first call that needs it, so a
    /// script that builds nothing costs no runtime, thread or journal.
    pub fn set_starter(&self, start: Starter) {
        *self.starter.borrow_mut() = Some(start);
    }

    pub fn set_lab(&self, lab: Lab) {
        *self.lab.borrow_mut() = Some(lab);
    }

    /// Is the lab to stay up at the end (`--keep` or keep())?
    pub fn lab_is_kept(&self) -> bool {
        self.lab.borrow().as_ref().is_some_and(Lab::is_kept)
    }

    /// Takes the lab out (for teardown at the end of the run).
    pub fn take_lab(&self) -> Option<Lab> {
        self.lab.borrow_mut().take()
    }

    /// `--set` keys the script never asked for with param().
    pub fn unused_params(&self) -> Vec<String> {
        let used = self.used_params.borrow();
        let mut v: Vec<String> = self
            .params
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

/// A namespace handle in scripts.
#[derive(Clone)]
pub struct Netns {
    id: NsId,
    name: ImmutableString,
}

/// A link handle in scripts: a name in a namespace.
#[derive(Clone)]
pub struct Link {
    ns: Netns,
    name: ImmutableString,
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Netns(\"{}\")", self.name)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link(\"{}\" in \"{}\")", self.name, self.ns.name)
    }
}

/// Where the native call `ctx` was made, for errors found later.
pub fn site(ctx: &NativeCallContext) -> Site {
    let pos = ctx.call_position();
    Site {
        source: ctx.call_source().map(str::to_string),
        line: pos.line().unwrap_or(0),
        col: pos.position().unwrap_or(0),
    }
}

/// The call was made from a bundled recipe (stdlib): its errors are shown
/// at the call into the recipe, which only the call stack knows.
pub fn in_recipe(ctx: &NativeCallContext) -> bool {
    ctx.call_source()
        .is_some_and(|s| crate::stdlib::source(s).is_some())
}

/// A queued rule nft refused: the error, shown at the call that queued it.
fn refused(r: Refused) -> Box<EvalAltResult> {
    let pos = match (u16::try_from(r.site.line), u16::try_from(r.site.col)) {
        (Ok(l), Ok(c)) if l > 0 => Position::new(l, c),
        _ => Position::NONE,
    };
    EvalAltResult::ErrorRuntime(
        Dynamic::from(ApiError {
            message: r.error.message,
            help: r.error.help,
            at: Some(At {
                source: r.site.source,
                pos,
            }),
        }),
        Position::NONE,
    )
    .into()
}

pub type Res<T> = Result<T, Box<EvalAltResult>>;

/// Turns a lab error into a script error; rhai fills in the call's position.
pub fn err(e: LabError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        Dynamic::from(ApiError {
            message: e.message,
            help: e.help,
            at: None,
        }),
        Position::NONE,
    )
    .into()
}

pub fn bad(message: impl Into<String>, help: impl Into<String>) -> Box<EvalAltResult> {
    err(LabError::new(message, help))
}

/// Registers functions with their doc entry, so the engine's metadata and the
/// reference never disagree.
pub struct Registrar<'a> {
    pub engine: &'a mut Engine,
    pub docs: Vec<Doc>,
    /// Give rhai each function's doc line too: only `nslab docs
    /// --definitions` reads them (help() reads `docs`), and formatting them
    /// for every function was a share of every script's start-up.
    comments: bool,
    /// Which functions reach the engine (every one gets its doc entry).
    which: Which<'a>,
}

/// Which of the API's functions `register` gives the engine.
#[derive(Clone, Copy)]
pub enum Which<'a> {
    All,
    /// Those with these names (functions, methods, properties).
    Named(&'a HashSet<String>),
}

impl Registrar<'_> {
    /// Kept small, as it is inlined into every `register` of the API: the
    /// registration itself is `register`'s, out of line. Inlined, it made
    /// those functions ~600 KB of code that every run's start-up went
    /// through cold, for functions most scripts never call.
    #[inline(always)]
    fn add<A: 'static, const N: usize, const X: bool, R: Variant + Clone, const F: bool, FUNC>(
        &mut self,
        getter: bool,
        d: Doc,
        f: FUNC,
    ) where
        FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        if self.wants(d.name) {
            self.register(getter, &d, f);
        }
        self.docs.push(d);
    }

    fn wants(&self, name: &str) -> bool {
        match self.which {
            Which::All => true,
            Which::Named(names) => names.contains(name),
        }
    }

    #[inline(never)]
    fn register<
        A: 'static,
        const N: usize,
        const X: bool,
        R: Variant + Clone,
        const F: bool,
        FUNC,
    >(
        &mut self,
        getter: bool,
        d: &Doc,
        f: FUNC,
    ) where
        FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        let reg = if getter {
            FuncRegistration::new_getter(d.name)
        } else {
            FuncRegistration::new(d.name)
        };
        let reg = if self.comments {
            reg.with_comments([format!("/// {}", d.doc)])
        } else {
            reg
        };
        register_typed(self.engine, reg, f);
    }

    #[inline(always)]
    pub fn func<
        A: 'static,
        const N: usize,
        const X: bool,
        R: Variant + Clone,
        const F: bool,
        FUNC,
    >(
        &mut self,
        d: Doc,
        f: FUNC,
    ) where
        FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        self.add(false, d, f);
    }

    #[inline(always)]
    pub fn getter<
        A: 'static,
        const N: usize,
        const X: bool,
        R: Variant + Clone,
        const F: bool,
        FUNC,
    >(
        &mut self,
        d: Doc,
        f: FUNC,
    ) where
        FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        self.add(true, d, f);
    }
}

/// Registers `f` with its parameter and return types spelled out. rhai's own
/// guess for a fallible function is the whole `Result<T, Box<EvalAltResult>>`,
/// which its definition files (`nslab docs --definitions`) mangle into
/// `-> EvalAltResult>>`; R is the T a script gets.
pub(crate) fn register_typed<
    A: 'static,
    const N: usize,
    const X: bool,
    R: Variant + Clone,
    const F: bool,
    FUNC,
>(
    engine: &mut Engine,
    reg: FuncRegistration,
    f: FUNC,
) where
    FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
{
    let mut info: Vec<String> = FUNC::param_names()
        .iter()
        .map(|t| format!("_: {t}"))
        .collect();
    info.push(std::any::type_name::<R>().to_string());
    reg.with_params_info(info).register_into_engine(engine, f);
}

/// Registers the API into `engine` (the functions `which` names); returns
/// the reference entries of all of it.
pub fn register(engine: &mut Engine, ctx: &Rc<Ctx>, comments: bool, which: Which) -> Vec<Doc> {
    engine.register_type_with_name::<Netns>("Netns");
    engine.register_type_with_name::<Link>("Link");
    engine.register_type_with_name::<ApiError>("Error");
    engine.register_fn("to_string", |n: &mut Netns| n.to_string());
    engine.register_fn("to_debug", |n: &mut Netns| n.to_string());
    engine.register_fn("to_string", |l: &mut Link| l.to_string());
    engine.register_fn("to_debug", |l: &mut Link| l.to_string());
    engine.register_fn("to_string", |e: &mut ApiError| e.message.clone());
    engine.register_get("message", |e: &mut ApiError| e.message.clone());
    engine.register_fn("==", |a: Netns, b: Netns| a.id == b.id);
    engine.register_fn("==", |a: Link, b: Link| {
        a.ns.id == b.ns.id && a.name == b.name
    });

    let mut r = Registrar {
        engine,
        docs: Vec::new(),
        comments,
        which,
    };
    netns::register(&mut r, ctx);
    link::register(&mut r, ctx);
    bridge_reads::register(&mut r, ctx);
    capture::register(&mut r, ctx);
    kinds::register(&mut r, ctx);
    shaping::register(&mut r, ctx);
    addr::register(&mut r, ctx);
    routing::register(&mut r, ctx);
    probe::register(&mut r, ctx);
    explain::register(&mut r, ctx);
    socket::register(&mut r, ctx);
    firewall::register(&mut r, ctx);
    recipe::register(&mut r);
    session::register(&mut r, ctx);
    misc::register(&mut r, ctx);
    checks::register(&mut r, ctx);
    reach::register(&mut r, ctx);
    throughput::register(&mut r, ctx);
    wait::register(&mut r, ctx);
    tables::register(&mut r, ctx);
    r.docs
}

/// The names a compiled script can reach the API by: every function and
/// method it calls and every property it reads, in its own functions and
/// closures too. None when it can reach functions by names not in its
/// text: an `import` (the module's code), `eval`, or `Fn` given a name
/// that is not a string in the script. Registering only these was most of the ~400
/// registrations' 0.40-0.44 ms of every run's start-up (bench/README.md,
/// sixth round); a name the script does not use cannot be called.
pub fn used_names(ast: &rhai::AST) -> Option<HashSet<String>> {
    use rhai::{ASTNode, Expr, Stmt};
    let mut names = HashSet::new();
    let mut dynamic = false;
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Import(..))) => dynamic = true,
            Some(ASTNode::Expr(Expr::MethodCall(f, _)))
            | Some(ASTNode::Expr(Expr::FnCall(f, _)))
            | Some(ASTNode::Stmt(Stmt::FnCall(f, _))) => {
                match (f.name.as_str(), &f.args[..]) {
                    ("Fn", [Expr::StringConstant(name, _)]) => {
                        names.insert(name.to_string());
                    }
                    ("eval" | "Fn", _) => dynamic = true,
                    _ => {}
                }
                names.insert(f.name.to_string());
            }
            Some(ASTNode::Expr(Expr::Property(x, _))) => {
                names.insert(x.2.to_string());
            }
            // A closure that captures nothing is a constant pointer to its
            // anonymous function (whose body the walk reads too).
            Some(ASTNode::Expr(Expr::DynamicConstant(d, _))) => {
                if let Some(f) = d.read_lock::<rhai::FnPtr>() {
                    names.insert(f.fn_name().to_string());
                }
            }
            _ => {}
        }
        !dynamic
    });
    (!dynamic).then_some(names)
}

/// A value as the REPL prints it: a value of the API's own types as
/// `print` shows it (`custom`: the engine's `to_string`, so the two never
/// differ), a ping result as its summary, strings quoted, collections
/// element by element.
pub fn show_value(v: &Dynamic, custom: &dyn Fn(&Dynamic) -> Option<String>) -> String {
    if v.is_variant()
        && let Some(s) = custom(v)
    {
        return s;
    }
    if let Some(n) = v.read_lock::<Netns>() {
        return n.to_string();
    }
    if let Some(l) = v.read_lock::<Link>() {
        return l.to_string();
    }
    if let Some(l) = v.read_lock::<socket::Listen>() {
        return l.to_string();
    }
    if let Some(c) = v.read_lock::<capture::Capture>() {
        return c.to_string();
    }
    if let Some(p) = v.read_lock::<probe::Process>() {
        return p.to_string();
    }
    if let Some(r) = v.read_lock::<reach::Reach>() {
        return r.to_string();
    }
    if let Some(e) = v.read_lock::<ApiError>() {
        return e.message.clone();
    }
    if let Some(a) = v.read_lock::<rhai::Array>() {
        let items: Vec<String> = a.iter().map(|x| show_value(x, custom)).collect();
        return format!("[{}]", items.join(", "));
    }
    if let Some(m) = v.read_lock::<rhai::Map>() {
        if let Some(s) = probe::ping_summary(&m).or_else(|| throughput::summary(&m)) {
            return s;
        }
        let items: Vec<String> = m
            .iter()
            .filter(|(k, _)| k.as_str() != "output")
            .map(|(k, v)| format!("{k}: {}", show_value(v, custom)))
            .collect();
        return format!("#{{{}}}", items.join(", "));
    }
    format!("{v:?}")
}

/// The message of an API error (for unit tests).
#[cfg(test)]
pub fn message_of(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorRuntime(d, _) => d
            .clone()
            .try_cast::<ApiError>()
            .map(|a| format!("{}; help: {}", a.message, a.help.unwrap_or_default()))
            .unwrap_or_default(),
        other => other.to_string(),
    }
}
