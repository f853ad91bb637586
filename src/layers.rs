//! Keeps the layers of DESIGN.md true: no import cycle between top-level
//! modules, and the script API (src/api/) never names the backend (net).
//! Reads the sources as text: every `crate::X` and `use crate::{X, Y::…}`
//! makes an edge to module X (an item defined in main.rs counts as module
//! `main`); main declares every module, so it has an edge to each. `super::`
//! paths stay inside one module and are not edges.

#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Cycles tolerated between top-level modules: none. The test fails when
/// an entry is no longer a cycle, so one added for a migration cannot linger.
const ALLOWED_CYCLES: &[(&str, &str)] = &[];

/// module -> module it names -> the first file that names it.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

#[test]
fn no_cycle_between_top_level_modules() {
    let g = graph();
    for (a, b) in ALLOWED_CYCLES {
        assert!(
            has_edge(&g, a, b) && has_edge(&g, b, a),
            "{a} <-> {b} is no longer a cycle: remove it from ALLOWED_CYCLES in src/layers.rs"
        );
    }
    let mut g = g;
    for (a, b) in ALLOWED_CYCLES {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(out) = g.get_mut(*x) {
                out.remove(*y);
            }
        }
    }
    if let Some(cycle) = find_cycle(&g) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("{} -> {} ({})", w[0], w[1], g[&w[0]][&w[1]]))
            .collect();
        panic!(
            "import cycle between top-level modules: {}\n  {}",
            cycle.join(" -> "),
            steps.join("\n  ")
        );
    }
}

#[test]
fn api_talks_to_lab_not_net() {
    let g = graph();
    if let Some(file) = g.get("api").and_then(|out| out.get("net")) {
        panic!("{file} names crate::net: the script API talks only to lab (DESIGN.md §3)");
    }
}

fn has_edge(g: &Graph, a: &str, b: &str) -> bool {
    g.get(a).is_some_and(|out| out.contains_key(b))
}

/// The graph of the crate under CARGO_MANIFEST_DIR/src.
fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let main = std::fs::read_to_string(src.join("main.rs")).expect("read src/main.rs");
    let modules = declared_modules(&strip(&main));
    let mut g = Graph::new();
    for m in &modules {
        g.entry("main".into())
            .or_default()
            .insert(m.clone(), "src/main.rs".into());
    }
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let from = match rel.components().next() {
            Some(c) if rel.components().count() > 1 => c.as_os_str().to_string_lossy().into(),
            _ => rel.with_extension("").to_string_lossy().into_owned(),
        };
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for target in crate_refs(&strip(&text)) {
            let to = if modules.contains(&target) {
                target
            } else {
                "main".to_string()
            };
            if to != from {
                g.entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| format!("src/{}", rel.display()));
            }
        }
    }
    g
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `mod x;` and `pub mod x;` at the start of a line of main.rs.
fn declared_modules(main: &str) -> BTreeSet<String> {
    main.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

/// The first name after each `crate::`, and each top-level name of a
/// `crate::{a, b::{c, d}}` group. `self` in a group is the crate itself.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate") {
        let before = rest[..i].chars().next_back();
        let after = rest[i + "crate".len()..].trim_start();
        rest = &rest[i + "crate".len()..];
        if before.is_some_and(is_ident) {
            continue;
        }
        let Some(path) = after.strip_prefix("::") else {
            continue;
        };
        let path = path.trim_start();
        if let Some(group) = path.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.extend(first_name(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            out.extend(first_name(&item));
        } else {
            out.extend(first_name(path));
        }
    }
    out.retain(|n| n != "self");
    out
}

fn first_name(s: &str) -> Option<String> {
    let name: String = s
        .trim_start()
        .chars()
        .take_while(|c| is_ident(*c))
        .collect();
    (!name.is_empty()).then_some(name)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The code without comments and without the contents of string and char
/// literals (a doc line or a test string may say `crate::x`).
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && is_ident(c[i - 1]);
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            'r' if !prev_ident || (i > 0 && c[i - 1] == 'b' && (i < 2 || !is_ident(c[i - 2]))) => {
                let hashes = c[i + 1..].iter().take_while(|&&h| h == '#').count();
                if c.get(i + 1 + hashes) != Some(&'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                i += hashes + 2;
                while i < c.len() {
                    if c[i] == '"'
                        && c[i + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == '#')
                            .count()
                            == hashes
                    {
                        i += 1 + hashes;
                        break;
                    }
                    i += 1;
                }
                out.push_str("\"\"");
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A char literal ('x', '\n', '"'); otherwise a lifetime ('a).
            '\'' if c.get(i + 1) == Some(&'\\') => {
                // Past the quote, the backslash and the escaped char ('\'').
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            }
            '\'' if c.get(i + 2) == Some(&'\'') => {
                i += 3;
                out.push_str("' '");
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// A cycle as the list of its modules, the first repeated at the end.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        m: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for next in g.get(m).into_iter().flat_map(|out| out.keys()) {
            if let Some(c) = visit(g, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

#[test]
fn reads_single_and_grouped_paths() {
    let code = "use crate::lab::Lab;\nfn f() { crate::text::clip(x, 4); }\n";
    assert_eq!(crate_refs(code), ["lab", "text"]);
    let multi = "use crate::{\n    api,\n    lab::{self, Lab, nft::{Hook, L4}},\n    self,\n    net::exec\n};";
    assert_eq!(crate_refs(multi), ["api", "lab", "net"]);
    // Not paths into the crate: pub(crate), a name that ends in "crate".
    assert_eq!(
        crate_refs("pub(crate) fn f() { my_crate::x(); }"),
        Vec::<String>::new()
    );
}

#[test]
fn comments_and_literals_are_not_code() {
    let code = r##"
        // see crate::a
        /* crate::b /* nested crate::c */ */
        let s = "crate::d \" crate::e";
        let r = r#"crate::f " crate::g"#;
        let q = '"'; let e = '\''; let u = '\u{22}'; fn f<'a>(x: &'a str) {}
        let n = ['\'', '"']; let m = "crate::i";
        crate::h::go();
    "##;
    assert_eq!(crate_refs(&strip(code)), ["h"]);
}

#[test]
fn finds_a_cycle_and_names_it() {
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), String::new());
    }
    assert_eq!(find_cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn main_rs_declares_the_modules() {
    let m = declared_modules("mod api;\npub mod lab;\n#[cfg(test)]\nmod layers;\nuse x;\n");
    assert_eq!(m.into_iter().collect::<Vec<_>>(), ["api", "lab", "layers"]);
}
