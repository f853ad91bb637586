//! `nslab check`: calls to functions that exist nowhere — not in the API,
//! not in rhai's standard library, not in the script or the modules it
//! imports — found without running anything.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use rhai::{AST, ASTNode, Engine, Expr, Position, Stmt};

/// A call to a function nobody defines, with the nearest known name.
pub struct Unknown {
    pub name: String,
    pub pos: Position,
    pub nearest: Option<String>,
}

/// Functions rhai evaluates itself (they are keywords, not registered).
const KEYWORDS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "eval",
    "this",
];

/// Names of all functions the engine knows (API and standard packages).
fn engine_names(engine: &Engine) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = crate::engine::function_names(engine, true)
        .into_iter()
        .collect();
    names.extend(KEYWORDS.iter().map(|k| k.to_string()));
    names
}

/// Function names a module defines, by its import path.
fn module_names(engine: &Engine, dir: &Path, path: &str) -> Option<HashSet<String>> {
    let text = match crate::stdlib::source(path).filter(|_| !path.contains('/')) {
        Some(t) => t.to_string(),
        None => {
            let p = dir.join(path);
            let p = if p.extension().is_none() {
                p.with_extension("rhai")
            } else {
                p
            };
            std::fs::read_to_string(p).ok()?
        }
    };
    let ast = engine.compile(&text).ok()?;
    Some(ast.iter_functions().map(|f| f.name.to_string()).collect())
}

/// Every call in `ast` (function bodies included) to an unknown function.
pub fn unknown_calls(engine: &Engine, ast: &AST, dir: &Path) -> Vec<Unknown> {
    let known = engine_names(engine);
    let mut own: BTreeSet<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    // Variables and parameters may hold function pointers, called like functions.
    for f in ast.iter_functions() {
        own.extend(f.params.iter().map(|p| p.to_string()));
    }
    let mut imports: HashMap<String, String> = HashMap::new();
    let mut calls: Vec<(String, Option<String>, Position)> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Var(x, ..))) => {
                own.insert(x.0.name.to_string());
            }
            Some(ASTNode::Stmt(Stmt::Import(x, ..))) => {
                if let Expr::StringConstant(p, _) = &x.0 {
                    imports.insert(x.1.name.to_string(), p.to_string());
                }
            }
            Some(
                ASTNode::Expr(Expr::FnCall(f, pos) | Expr::MethodCall(f, pos))
                | ASTNode::Stmt(Stmt::FnCall(f, pos)),
            ) if f.op_token.is_none() => {
                let ns = (!f.namespace.is_empty()).then(|| f.namespace.root().to_string());
                calls.push((f.name.to_string(), ns, *pos));
            }
            _ => {}
        }
        true
    });
    let mut modules: HashMap<String, Option<HashSet<String>>> = HashMap::new();
    let mut out = Vec::new();
    for (name, ns, pos) in calls {
        let exists = match &ns {
            None => known.contains(&name) || own.contains(&name),
            Some(alias) => {
                let names = modules.entry(alias.clone()).or_insert_with(|| {
                    imports
                        .get(alias)
                        .and_then(|p| module_names(engine, dir, p))
                });
                // A module that cannot be read here is not judged.
                names.as_ref().is_none_or(|n| n.contains(&name))
            }
        };
        if exists {
            continue;
        }
        let nearest = match &ns {
            None => crate::text::nearest(&name, known.iter().chain(own.iter()).map(String::as_str))
                .map(str::to_string),
            Some(alias) => modules
                .get(alias)
                .and_then(|m| m.as_ref())
                .and_then(|m| crate::text::nearest(&name, m.iter().map(String::as_str)))
                .map(|n| format!("{alias}::{n}")),
        };
        let shown = match &ns {
            Some(alias) => format!("{alias}::{name}"),
            None => name,
        };
        out.push(Unknown {
            name: shown,
            pos,
            nearest,
        });
    }
    out
}
