//! The script API: argument checks and conversion only. Every call goes to
//! the Lab; nothing here touches the kernel.

mod addr;
mod firewall;
mod link;
mod misc;
mod netns;
mod probe;
mod socket;

use std::cell::{RefCell, RefMut};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::Rc;

use rhai::{
    Dynamic, Engine, EvalAltResult, FuncRegistration, ImmutableString, Position, RhaiNativeFunc,
    Variant,
};

use crate::lab::{Lab, LabError, NsId};

/// What the API functions share: the lab, and the `--set` parameters.
pub struct Ctx {
    lab: RefCell<Option<Lab>>,
    params: HashMap<String, String>,
    used_params: RefCell<HashSet<String>>,
}

impl Ctx {
    pub fn new(lab: Option<Lab>, params: HashMap<String, String>) -> Rc<Ctx> {
        Rc::new(Ctx {
            lab: RefCell::new(lab),
            params,
            used_params: RefCell::new(HashSet::new()),
        })
    }

    fn lab(&self) -> Result<RefMut<'_, Lab>, Box<EvalAltResult>> {
        let guard = self.lab.borrow_mut();
        RefMut::filter_map(guard, Option::as_mut).map_err(|_| {
            err(LabError::new(
                "no lab is running here",
                "this call builds network objects: run the script with `nslab run`",
            ))
        })
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

/// An error raised by an API call: shown as a report with this help line.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Res<T> = Result<T, Box<EvalAltResult>>;

/// Turns a lab error into a script error; rhai fills in the call's position.
pub fn err(e: LabError) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(
        Dynamic::from(ApiError {
            message: e.message,
            help: e.help,
        }),
        Position::NONE,
    )
    .into()
}

pub fn bad(message: impl Into<String>, help: impl Into<String>) -> Box<EvalAltResult> {
    err(LabError::new(message, help))
}

/// One entry of the API reference (help(), `nslab docs`).
#[derive(Clone, Debug)]
pub struct Doc {
    pub area: &'static str,
    pub name: &'static str,
    pub sig: &'static str,
    pub doc: &'static str,
    pub example: &'static str,
}

/// Registers functions with their doc entry, so the engine's metadata and the
/// reference never disagree.
pub struct Registrar<'a> {
    pub engine: &'a mut Engine,
    pub docs: Vec<Doc>,
}

impl Registrar<'_> {
    fn add<A: 'static, const N: usize, const X: bool, R: Variant + Clone, const F: bool, FUNC>(
        &mut self,
        reg: FuncRegistration,
        d: Doc,
        f: FUNC,
    ) where
        FUNC: RhaiNativeFunc<A, N, X, R, F> + 'static,
    {
        reg.with_comments([format!("/// {}", d.doc)])
            .register_into_engine(self.engine, f);
        self.docs.push(d);
    }

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
        self.add(FuncRegistration::new(d.name), d, f);
    }

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
        self.add(FuncRegistration::new_getter(d.name), d, f);
    }
}

/// Registers the whole API into `engine`; returns its reference entries.
pub fn register(engine: &mut Engine, ctx: &Rc<Ctx>) -> Vec<Doc> {
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
    };
    netns::register(&mut r, ctx);
    link::register(&mut r, ctx);
    addr::register(&mut r, ctx);
    probe::register(&mut r, ctx);
    socket::register(&mut r, ctx);
    firewall::register(&mut r, ctx);
    misc::register(&mut r, ctx);
    r.docs
}
