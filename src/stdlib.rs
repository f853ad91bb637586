//! Recipes compiled into the binary (`import "topo" as topo;`), and the
//! module resolver that finds them before looking for files beside the script.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use rhai::module_resolvers::FileModuleResolver;
use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

type SharedModule = Shared<Module>;

/// (import name, source) of every bundled module.
pub const MODULES: &[(&str, &str)] = &[
    ("topo", include_str!("../stdlib/topo.rhai")),
    ("nat", include_str!("../stdlib/nat.rhai")),
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
    cache: RefCell<HashMap<String, SharedModule>>,
}

impl Resolver {
    pub fn new(base: &Path) -> Resolver {
        Resolver {
            files: FileModuleResolver::new_with_path(base),
            cache: RefCell::new(HashMap::new()),
        }
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
            return self.files.resolve(engine, source, path, pos);
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
