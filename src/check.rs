//! `nslab check`: calls to functions that exist nowhere — not in the API,
//! not in rhai's standard library, not in the script or the modules it
//! imports —, calls with a number of arguments no form of the function
//! takes, and variables read where nothing defines them; all found without
//! running anything.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rhai::{AST, ASTNode, Engine, Expr, ParseErrorType, Position, Stmt};

use crate::diag::Problem;

/// A problem at a place of the script: an unknown function (with the
/// nearest known name), a wrong argument count, an undefined variable.
pub struct Unknown {
    pub name: String,
    pub pos: Position,
    pub problem: Problem,
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
fn module_names(engine: &Engine, dir: &Path, path: &str) -> Option<Vec<(String, usize)>> {
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
    Some(
        ast.iter_functions()
            .map(|f| (f.name.to_string(), f.params.len()))
            .collect(),
    )
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
    // (name, module alias, position, arguments counting a method's
    // receiver, whether it is a method call)
    let mut calls: Vec<(String, Option<String>, Position, usize, bool)> = Vec::new();
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
            Some(ASTNode::Expr(Expr::MethodCall(f, pos))) if f.op_token.is_none() => {
                calls.push((f.name.to_string(), None, *pos, f.args.len() + 1, true));
            }
            Some(ASTNode::Expr(Expr::FnCall(f, pos)) | ASTNode::Stmt(Stmt::FnCall(f, pos)))
                if f.op_token.is_none() =>
            {
                let ns = (!f.namespace.is_empty()).then(|| f.namespace.root().to_string());
                calls.push((f.name.to_string(), ns, *pos, f.args.len(), false));
            }
            _ => {}
        }
        true
    });
    let arities = engine_arities(engine);
    let mut modules: HashMap<String, Option<HashMap<String, BTreeSet<usize>>>> = HashMap::new();
    let mut out = Vec::new();
    for (name, ns, pos, given, method) in calls {
        // The counts the function takes; None where nothing is known.
        let takes: Option<BTreeSet<usize>> = match &ns {
            None if own.contains(&name) || KEYWORDS.contains(&name.as_str()) => None,
            None => arities.get(&name).cloned(),
            Some(alias) => modules
                .entry(alias.clone())
                .or_insert_with(|| {
                    imports
                        .get(alias)
                        .and_then(|p| module_functions(engine, dir, p))
                })
                .as_ref()
                .and_then(|m| m.get(&name).cloned()),
        };
        let exists = match &ns {
            None => known.contains(&name) || own.contains(&name),
            // A module that cannot be read here is not judged.
            Some(alias) => modules
                .get(alias)
                .and_then(|m| m.as_ref())
                .is_none_or(|n| n.contains_key(&name)),
        };
        let shown = match &ns {
            Some(alias) => format!("{alias}::{name}"),
            None => name.clone(),
        };
        if exists {
            if let Some(takes) = takes.filter(|t| !t.is_empty() && !t.contains(&given)) {
                out.push(Unknown {
                    name: shown,
                    pos,
                    // A method's receiver is not counted in what is shown.
                    problem: Problem::WrongCount {
                        given: given - usize::from(method),
                        takes: takes
                            .into_iter()
                            .filter_map(|t| t.checked_sub(usize::from(method)))
                            .collect(),
                        method,
                    },
                });
            }
            continue;
        }
        let nearest = match &ns {
            None => crate::text::nearest(&name, known.iter().chain(own.iter()).map(String::as_str))
                .map(str::to_string),
            Some(alias) => modules
                .get(alias)
                .and_then(|m| m.as_ref())
                .and_then(|m| crate::text::nearest(&name, m.keys().map(String::as_str)))
                .map(|n| format!("{alias}::{n}")),
        };
        out.push(Unknown {
            name: shown,
            pos,
            problem: Problem::UnknownFunction { nearest },
        });
    }
    out
}

/// The argument counts each function the engine knows takes (a method's
/// receiver counted), by name; properties and indexers are left out.
fn engine_arities(engine: &Engine) -> HashMap<String, BTreeSet<usize>> {
    let mut m: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for sig in engine.gen_fn_signatures(true) {
        let Some((name, rest)) = sig.split_once('(') else {
            continue;
        };
        let name = name.rsplit("::").next().unwrap_or(name).trim();
        if name.contains('$') {
            continue;
        }
        m.entry(name.to_string())
            .or_default()
            .insert(count_params(rest));
    }
    m
}

/// The parameters in "a: T, b: Array<X, Y>) -> R" (what follows a
/// signature's opening parenthesis).
fn count_params(rest: &str) -> usize {
    let mut depth = 0;
    let mut n = 0;
    let mut any = false;
    for c in rest.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' if depth > 0 => depth -= 1,
            ')' => break,
            ',' if depth == 0 => n += 1,
            c if !c.is_whitespace() => any = true,
            _ => {}
        }
    }
    if any { n + 1 } else { 0 }
}

/// Function names a module defines, with their argument counts.
fn module_functions(
    engine: &Engine,
    dir: &Path,
    path: &str,
) -> Option<HashMap<String, BTreeSet<usize>>> {
    let names = module_names(engine, dir, path)?;
    let mut m: HashMap<String, BTreeSet<usize>> = HashMap::new();
    for (name, n) in names {
        m.entry(name).or_default().insert(n);
    }
    Some(m)
}

/// The variables the script reads where nothing defines them, and the `fn`
/// each is read in. rhai's strict variables mode stops at the first; each
/// found is then taken as defined, to look for the next.
pub fn undefined_variables(ast: &AST, text: &str) -> Vec<Unknown> {
    let mut strict = crate::parser::parser();
    strict.set_strict_variables(true);
    let mut scope = rhai::Scope::new();
    let mut out: Vec<Unknown> = Vec::new();
    while out.len() < 20 {
        let Err(e) = strict.compile_with_scope(&scope, text) else {
            break;
        };
        // Other errors (one the real engine does not make) are not this
        // check's; the same name again is one a `fn` cannot see either way.
        let ParseErrorType::VariableUndefined(name) = e.err_type() else {
            break;
        };
        if out.iter().any(|u| &u.name == name) {
            break;
        }
        let pos = e.position();
        let in_fn = ast
            .iter_fn_def()
            .filter(|f| {
                let (start, end) = (f.body.start_position(), f.body.end_position());
                !pos.is_none() && start <= pos && (end.is_none() || pos <= end)
            })
            .map(|f| f.name.to_string())
            .last();
        let script_defines = ast.statements().iter().any(|s| match s {
            Stmt::Var(x, ..) => x.0.name == name.as_str(),
            _ => false,
        });
        scope.push_dynamic(name.to_string(), rhai::Dynamic::UNIT);
        out.push(Unknown {
            name: name.to_string(),
            pos,
            problem: Problem::UndefinedVariable {
                in_fn,
                script_defines,
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_counted_past_generic_types() {
        assert_eq!(count_params(") -> Map"), 0);
        assert_eq!(count_params("ns: Netns, target: &str) -> Map"), 2);
        assert_eq!(count_params("m: HashMap<K, V>, x: i64)"), 2);
    }
}
