//! Recipes compiled into the binary (`import "topo" as topo;`), and the
//! module resolver that finds them before looking for files beside the script.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

type SharedModule = Shared<Module>;

/// (import name, source) of every bundled module.
pub const MODULES: &[(&str, &str)] = &[
    ("topo", include_str!("../stdlib/topo.rhai")),
    ("nat", include_str!("../stdlib/nat.rhai")),
    ("frr", include_str!("../stdlib/frr.rhai")),
    ("bird", include_str!("../stdlib/bird.rhai")),
];

/// The name errors and docs show for a bundled module.
pub fn shown_path(name: &str) -> String {
    format!("stdlib/{name}.rhai")
}

/// The text of a bundled module, by import name or shown path.
pub fn source(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(n, _)| *n == name || shown_path(n) == name)
        .map(|(_, text)| *text)
}

/// Bundled modules first, then `.rhai` files relative to the script.
pub struct Resolver {
    files: FileModuleResolver,
    base: PathBuf,
    cache: RefCell<HashMap<String, SharedModule>>,
    /// Files being loaded, outermost first: a module is evaluated when it
    /// is imported, so one that imports a file on this list (itself, or a
    /// module that imports it) would recurse until the stack overflows.
    loading: RefCell<Vec<PathBuf>>,
}

impl Resolver {
    pub fn new(base: &Path) -> Resolver {
        Resolver {
            files: FileModuleResolver::new_with_path(base),
            base: std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf()),
            cache: RefCell::new(HashMap::new()),
            loading: RefCell::new(Vec::new()),
        }
    }

    /// A file as reports show it: relative to the script's directory.
    fn shown(&self, p: &Path) -> String {
        p.strip_prefix(&self.base)
            .unwrap_or(p)
            .display()
            .to_string()
    }

    /// Resolves a file module, refusing an import that closes a cycle.
    /// `source` is the importing code's source name: for the main script it
    /// is its path, so that a script importing itself is caught at once.
    fn resolve_file(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let target = self.files.get_file_path(path, None);
        let target = std::fs::canonicalize(&target).unwrap_or(target);
        let mut chain = self.loading.borrow().clone();
        if chain.is_empty()
            && let Some(main) = source.and_then(|s| std::fs::canonicalize(s).ok())
        {
            chain.push(main);
        }
        if let Some(i) = chain.iter().position(|p| *p == target) {
            let mut names: Vec<String> = chain[i..].iter().map(|p| self.shown(p)).collect();
            names.push(self.shown(&target));
            let message = if names.len() == 2 {
                format!("import \"{path}\": {} imports itself", names[0])
            } else {
                format!("import \"{path}\" makes a cycle: {}", names.join(" -> "))
            };
            return Err(EvalAltResult::ErrorRuntime(
                rhai::Dynamic::from(crate::doc::ApiError {
                    message,
                    help: Some(
                        "a module is run when it is imported, so it cannot import itself, directly or through others: move what they share into a third file that each imports".into(),
                    ),
                    at: None,
                }),
                pos,
            )
            .into());
        }
        // The outermost import also records the main script, so that a
        // module importing it back is caught one level early.
        chain.push(target);
        let saved = self.loading.replace(chain);
        let r = self.files.resolve(engine, source, path, pos);
        *self.loading.borrow_mut() = saved;
        r
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let Some(text) = self::source(path).filter(|_| !path.contains('/')) else {
            return self.resolve_file(engine, source, path, pos);
        };
        if let Some(m) = self.cache.borrow().get(path) {
            return Ok(m.clone());
        }
        let in_module = |e: Box<EvalAltResult>| -> Box<EvalAltResult> {
            EvalAltResult::ErrorInModule(shown_path(path), e, pos).into()
        };
        let mut ast = engine
            .compile(text)
            .map_err(|e| in_module(EvalAltResult::ErrorParsing(*e.0, e.1).into()))?;
        ast.set_source(shown_path(path));
        let mut m = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)?;
        m.build_index();
        let m: SharedModule = m.into();
        self.cache.borrow_mut().insert(path.to_string(), m.clone());
        Ok(m)
    }
}
