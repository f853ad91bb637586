//! Builds the rhai Engine: the API, limits, module resolution (bundled
//! recipes, then files beside the script), Ctrl-C.

use std::io::Write;
use std::path::Path;
use std::rc::Rc;

use rhai::{Dynamic, Engine};

use crate::api::{self, Ctx};
use crate::cancel::Cancel;
use crate::doc::Doc;

/// An engine with the whole script API registered.
pub struct Built {
    pub engine: Engine,
    pub docs: Vec<Doc>,
}

/// What a running script may use (`--max-ops`, `--max-mem`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Script operations; 0 = no limit (the default).
    pub max_ops: u64,
    /// MiB the process may hold.
    pub max_mem_mib: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: 0,
            max_mem_mib: crate::limits::DEFAULT_MAX_MEM_MIB,
        }
    }
}

/// `base` is the script's directory: `import "./x"` finds files beside it.
/// `cancel` is given when the engine runs scripts: then Ctrl-C and the
/// limits are checked between operations.
pub fn build(ctx: &Rc<Ctx>, cancel: Option<Cancel>, base: &Path, limits: Limits) -> Built {
    build_with(ctx, cancel, base, limits, Some(api::Which::All))
}

/// `build`, with none of nslab's API in the engine yet, nor its reference
/// (empty `docs`): a script's own engine gets the functions it uses once it
/// is compiled, and the reference with them (`add_used`). Nothing before
/// that reads the reference: a syntax error's report does not.
pub fn build_deferred(ctx: &Rc<Ctx>, cancel: Option<Cancel>, base: &Path, limits: Limits) -> Built {
    build_with(ctx, cancel, base, limits, None)
}

/// Gives an engine from `build_deferred` the API functions `ast` can call
/// (all of them when it can call some by names not in its text); returns
/// the whole reference, which `ctx` gets too. One pass over the API's
/// `register`s: a first one only for the reference was ~0.08 ms of every
/// run's start-up.
pub fn add_used(engine: &mut Engine, ctx: &Rc<Ctx>, ast: &rhai::AST) -> Vec<Doc> {
    let used = api::used_names(ast);
    let which = match &used {
        Some(names) => api::Which::Named(names),
        None => api::Which::All,
    };
    let docs = register_api(engine, ctx, false, which);
    crate::stamps::stamp("engine: the API the script uses registered");
    docs
}

/// Registers the API functions `which` names in `engine`; returns the whole
/// reference, which `ctx` gets too (help, "did you mean", error reports).
fn register_api(engine: &mut Engine, ctx: &Rc<Ctx>, comments: bool, which: api::Which) -> Vec<Doc> {
    let docs = api::register(engine, ctx, comments, which);
    ctx.set_docs(docs.clone());
    docs
}

/// Has the vendored rhai build the index of its standard package (its
/// functions by hash, one a process: vendor/rhai/NSLAB-PATCH.md) on the
/// calling thread, by one call of a standard function in an engine of its
/// own: otherwise the script's first such call builds it, ~0.26 M
/// instructions on the main thread (`Spaces::prestart` runs this). Only
/// public rhai API, so the crate builds against rhai as published too.
pub fn warm() {
    let _ = with_standard_package().eval::<rhai::INT>("abs(-1)");
}

/// Engine::new() with the standard package's functions looked up when a
/// script first calls them instead of all registered up front: that was
/// a third of an empty script's run (issue 14's start-up goal).
fn with_standard_package() -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(rhai::packages::Package::as_shared_module(
        &rhai::packages::StandardPackage::new_lazy(),
    ));
    engine
}

fn build_with(
    ctx: &Rc<Ctx>,
    cancel: Option<Cancel>,
    base: &Path,
    limits: Limits,
    which: Option<api::Which>,
) -> Built {
    let mut engine = with_standard_package();
    engine.set_max_strings_interned(256);
    // No optimizer pass over the AST: it folds constants and prunes
    // branches that cannot run, which a lab script (calls into the kernel,
    // few loops) does not miss, and it was a third of compiling
    // bench/star.rhai (0.44 -> 0.30 ms of every run's start-up).
    engine.set_optimization_level(rhai::OptimizationLevel::None);
    engine.set_max_call_levels(128);
    engine.set_max_expr_depths(256, 256);
    // No set_max_string_size/array/map: see src/limits.rs.
    engine.set_max_operations(limits.max_ops);
    crate::stamps::stamp("engine: rhai's standard package");
    crate::limits::register(&mut engine);
    let cancel_given = cancel.is_some();
    engine.set_module_resolver(crate::stdlib::Resolver::new(base));
    if let Some(c) = cancel {
        // One budget per process: set by the engine that runs the script,
        // not by the ones that only parse or list functions.
        crate::limits::set_budget_mib(limits.max_mem_mib);
        // Polled between script operations: a loop that makes no native
        // call still stops on Ctrl-C, or when its data outgrows the budget.
        engine.on_progress(move |_| {
            if c.is_set() {
                Some(Dynamic::from("interrupted"))
            } else {
                crate::limits::over_budget().map(Dynamic::from)
            }
        });
    }
    crate::parser::spawn_is_a_name(&mut engine);
    // print() must not panic when stdout is a closed pipe: the lab still
    // has to be torn down.
    // Both out of the way of a progress line (src/progress.rs) on a terminal.
    engine.on_print(|s| {
        crate::progress::suspend(|| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{s}");
        })
    });
    engine.on_debug(|s, _, _| {
        crate::progress::suspend(|| {
            let _ = writeln!(std::io::stderr(), "{s}");
        })
    });
    // An engine that runs a script (the one given a Cancel) never shows
    // rhai's doc comments; the ones that only describe the API may.
    crate::stamps::stamp("engine: settings");
    let Some(which) = which else {
        return Built {
            engine,
            docs: Vec::new(),
        };
    };
    let docs = register_api(&mut engine, ctx, !cancel_given, which);
    crate::stamps::stamp("engine: nslab's API registered");
    Built { engine, docs }
}

/// Names of the functions `engine` knows (with rhai's standard packages when
/// asked): getters and setters by their property name, without namespaces.
pub fn function_names(engine: &Engine, include_packages: bool) -> Vec<String> {
    engine
        .gen_fn_signatures(include_packages)
        .iter()
        .filter_map(|s| s.split('(').next())
        .map(|n| {
            let n = n.rsplit("::").next().unwrap_or(n);
            n.trim_start_matches("get$")
                .trim_start_matches("set$")
                .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered_for(script: &str) -> Vec<String> {
        let ctx = Ctx::new(None, Default::default());
        let mut built = build_deferred(&ctx, None, Path::new("."), Limits::default());
        let ast = built.engine.compile(script).unwrap();
        let docs = add_used(&mut built.engine, &ctx, &ast);
        let all = build(&ctx, None, Path::new("."), Limits::default())
            .docs
            .len();
        assert_eq!(docs.len(), all, "every entry of the reference is kept");
        function_names(&built.engine, false)
    }

    /// A script's engine has the API functions its text names (calls,
    /// methods, properties, in its functions and closures too), and all of
    /// them when it can name one some other way.
    #[test]
    fn a_script_gets_the_functions_it_names() {
        let got = registered_for(
            r#"
            fn make(n) { netns(n) }
            let a = make("a");
            let l = veth(a, "e0", a, "e1");
            let f = || l[0].addr("10.0.0.1/24");
            print(a.name);
            let g = Fn("reach");
            "#,
        );
        for name in ["netns", "veth", "addr", "name", "reach"] {
            assert!(got.iter().any(|n| n == name), "{name} missing: {got:?}");
        }
        assert!(!got.iter().any(|n| n == "masquerade"), "{got:?}");
        for dynamic in [
            r#"import "topo" as t;"#,
            r#"eval(`netns("a")`);"#,
            r#"let n = "net" + "ns"; Fn(n).call("a");"#,
        ] {
            let got = registered_for(dynamic);
            assert!(got.iter().any(|n| n == "masquerade"), "{dynamic}: {got:?}");
        }
    }

    /// Every function a script can call has a doc line in the reference
    /// (help(), `nslab docs`), except rhai's conversions and operators.
    #[test]
    fn every_registered_function_is_documented() {
        let ctx = Ctx::new(None, Default::default());
        let built = build(&ctx, None, Path::new("."), Limits::default());
        let documented: Vec<&str> = built.docs.iter().map(|d| d.name).collect();
        // pad and blob are rhai's own, with a size check (src/limits.rs).
        let exempt = ["to_string", "to_debug", "==", "message", "pad", "blob"];
        let mut missing = Vec::new();
        let names = function_names(&built.engine, false);
        assert!(names.len() > 50, "the API is not registered: {names:?}");
        for name in names {
            if !documented.contains(&name.as_str()) && !exempt.contains(&name.as_str()) {
                missing.push(name);
            }
        }
        assert!(
            missing.is_empty(),
            "functions without a doc line: {missing:?}"
        );
        assert!(
            built
                .docs
                .iter()
                .all(|d| !d.doc.is_empty() && !d.example.is_empty())
        );
    }
}
