//! Turns rhai errors and lab errors into miette reports that point into the
//! script (or the imported module) with a help line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use miette::{Diagnostic, NamedSource, SourceSpan};
use rhai::{EvalAltResult, LexError, ParseError, ParseErrorType, Position};

use crate::doc::{ApiError, At, Doc};
use crate::text::nearest;

/// A script error, ready for miette.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct ScriptError {
    pub message: String,
    #[source_code]
    src: NamedSource<String>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    pub help: Option<String>,
}

/// Where script text comes from: the main file and any imported module.
pub struct Sources {
    main_name: String,
    main_text: String,
    dir: PathBuf,
    cache: HashMap<String, (String, String)>,
}

impl Sources {
    pub fn new(name: &str, text: &str, dir: &Path) -> Sources {
        Sources {
            main_name: name.to_string(),
            main_text: text.to_string(),
            dir: dir.to_path_buf(),
            cache: HashMap::new(),
        }
    }

    /// `src` names the main script (rhai gives it as the source of calls
    /// made there).
    fn is_main(&self, src: &str) -> bool {
        src.is_empty() || src == self.main_name
    }

    /// A text errors may point into by name (earlier REPL inputs).
    pub fn add(&mut self, name: &str, text: &str) {
        self.cache
            .insert(name.to_string(), (name.to_string(), text.to_string()));
    }

    /// (display name, text) of a source; modules are read from disk and
    /// shown by their file's path.
    fn get(&mut self, src: Option<&str>) -> (String, String) {
        let Some(s) = src.filter(|s| !self.is_main(s)) else {
            return (self.main_name.clone(), self.main_text.clone());
        };
        if let Some((name, text)) = self.cache.get(s) {
            return (name.clone(), text.clone());
        }
        if let Some(text) = crate::stdlib::source(s) {
            return (s.to_string(), text.to_string());
        }
        let p = Path::new(s);
        let candidates = [
            self.dir.join(p).with_extension("rhai"),
            self.dir.join(p),
            p.with_extension("rhai"),
            p.to_path_buf(),
        ];
        let found = candidates
            .iter()
            .find_map(|c| std::fs::read_to_string(c).ok().map(|t| (c.clone(), t)));
        let (name, text) = match found {
            Some((path, text)) => {
                let cwd = std::env::current_dir().unwrap_or_default();
                let shown = path.strip_prefix(&cwd).unwrap_or(&path);
                let shown = shown.strip_prefix(".").unwrap_or(shown);
                (shown.display().to_string(), text)
            }
            None => (s.to_string(), String::new()),
        };
        self.cache
            .insert(s.to_string(), (name.clone(), text.clone()));
        (name, text)
    }

    /// (display name, text of line `line`) of a source, for `nslab plan`.
    pub fn line(&mut self, src: Option<&str>, line: usize) -> (String, String) {
        let (name, text) = self.get(src);
        let l = text
            .lines()
            .nth(line.saturating_sub(1))
            .unwrap_or("")
            .to_string();
        (name, l)
    }
}

/// Byte offset of a rhai position (1-based line and column, in chars).
fn offset(text: &str, pos: Position) -> Option<usize> {
    let (line, col) = (pos.line()?, pos.position().unwrap_or(1));
    let start = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum::<usize>();
    let line_text = text[start..].lines().next().unwrap_or("");
    let in_line: usize = line_text
        .chars()
        .take(col.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    Some(start + in_line)
}

/// The span of the call at `at`: `name(...)` through its closing paren, or
/// the token alone when it is not a call.
fn call_span(text: &str, at: usize) -> SourceSpan {
    let rest = &text[at..];
    let mut chars = rest.char_indices().peekable();
    // A method call's position can be its dot.
    let mut end = 0;
    if let Some((_, '.')) = chars.peek() {
        chars.next();
        end = 1;
    }
    while let Some((i, c)) = chars.peek().copied() {
        if c.is_alphanumeric() || c == '_' {
            end = i + c.len_utf8();
            chars.next();
        } else {
            break;
        }
    }
    if let Some((i, '(')) = chars.peek().copied() {
        let mut depth = 0;
        let mut in_str = false;
        for (j, c) in rest[i..].char_indices() {
            match c {
                '"' => in_str = !in_str,
                '(' if !in_str => depth += 1,
                ')' if !in_str => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + j + 1;
                        break;
                    }
                }
                '\n' => break,
                _ => {}
            }
        }
    }
    if end == 0 {
        end = rest.chars().next().map(char::len_utf8).unwrap_or(0);
    }
    SourceSpan::new(at.into(), end)
}

fn report(
    sources: &mut Sources,
    src: Option<&str>,
    pos: Position,
    message: String,
    label: &str,
    help: Option<String>,
) -> ScriptError {
    let (name, text) = sources.get(src);
    let span = offset(&text, pos)
        .filter(|o| *o <= text.len())
        .map(|o| call_span(&text, o));
    ScriptError {
        message,
        src: NamedSource::new(name, text),
        span,
        label: label.to_string(),
        help,
    }
}

/// A parse error (from `run` or `check`).
pub fn parse_error(sources: &mut Sources, e: &ParseError) -> ScriptError {
    let msg = e.err_type().to_string();
    if matches!(
        e.err_type(),
        ParseErrorType::BadInput(LexError::UnterminatedString)
    ) {
        return open_string(sources, e.position(), msg);
    }
    let help = parse_help(&msg);
    let mut r = report(sources, None, e.position(), msg, "here", Some(help));
    // For syntax errors the exact token matters more than the call around it.
    if let Some(s) = r.span {
        r.span = Some(SourceSpan::new(s.offset().into(), 1));
    }
    r
}

/// A string that runs to the end of the file: the report points at its
/// opening quote (line and column in the help too, as the end of the file,
/// where rhai noticed, says nothing).
fn open_string(sources: &mut Sources, pos: Position, msg: String) -> ScriptError {
    let (name, text) = sources.get(None);
    let at_quote = offset(&text, pos).filter(|&o| is_quote_at(&text, o));
    let Some(o) = at_quote.or_else(|| unclosed_quote(&text)) else {
        let help = parse_help(&msg);
        return report(sources, None, pos, msg, "here", Some(help));
    };
    let line = text[..o].matches('\n').count() + 1;
    let col = text[..o].rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let quote = text[o..].chars().next().unwrap_or('"');
    let close = match quote {
        '#' => "\"#".to_string(),
        q => q.to_string(),
    };
    ScriptError {
        message: format!("{msg}: the string opened at line {line}, column {col} is never closed"),
        src: NamedSource::new(name, text),
        span: Some(SourceSpan::new(o.into(), 1)),
        label: "this string is not closed".into(),
        help: Some(format!(
            "close it with {close} on the line it starts (line {line}); a string in double quotes ends on its own line, a `backtick` string may span lines"
        )),
    }
}

fn is_quote_at(text: &str, o: usize) -> bool {
    matches!(text[o..].chars().next(), Some('"' | '`' | '\'' | '#'))
}

/// Byte offset of the opening quote of a string that is never closed: a
/// "…" or '…' that meets the end of its line (or of the file), a `…` or a
/// raw #"…"# that meets the end of the file. Comments are skipped.
fn unclosed_quote(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
                continue;
            }
            q @ (b'"' | b'\'') => {
                let start = i;
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Some(start),
                        Some(b'\\') if b.get(i + 1) == Some(&b'\n') => i += 2,
                        Some(b'\\') => i += 2,
                        Some(b'\n') => return Some(start),
                        Some(c) if *c == q => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b'`' => {
                let start = i;
                i += 1;
                while b.get(i).is_some_and(|c| *c != b'`') {
                    i += 1;
                }
                if i >= b.len() {
                    return Some(start);
                }
            }
            b'#' if matches!(b.get(i + 1), Some(b'"' | b'#')) => {
                let start = i;
                let hashes = b[i..].iter().take_while(|c| **c == b'#').count();
                i += hashes;
                if b.get(i) != Some(&b'"') {
                    continue;
                }
                let end = format!("\"{}", "#".repeat(hashes));
                match text[i + 1..].find(&end) {
                    Some(e) => i += 1 + e + end.len() - 1,
                    None => return Some(start),
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_help(msg: &str) -> String {
    if msg.contains("Expecting ';'") || msg.contains("';'") {
        "end each statement with ';'".into()
    } else if msg.contains("')'") || msg.contains("'}'") || msg.contains("']'") {
        "a bracket is not closed: check that every (, { and [ has its partner".into()
    } else if msg.contains("string") {
        "strings are written in double quotes: \"ns1\"".into()
    } else {
        "fix the syntax here; nslab check FILE finds these without running anything".into()
    }
}

/// The help for a variable nobody defined where it is read. Inside a `fn`
/// the usual cause is a variable of the script: rhai functions see only
/// their parameters, never the variables around them.
pub fn undefined_variable_help(name: &str, in_fn: Option<&str>, script_defines: bool) -> String {
    match in_fn {
        Some(f) if script_defines => format!(
            "`{name}` is the script's variable, and a rhai `fn` does not see the script's variables: pass it in as an argument (`fn {f}({name}, …)`, called as `{f}({name}, …)`), or make `{f}` a closure (`let {f} = |…| … {name} …;`), which captures it"
        ),
        Some(f) => format!(
            "a rhai `fn` sees only its parameters and its own `let`s: pass `{name}` to `{f}` as an argument, or define it inside with `let {name} = …;`"
        ),
        None => format!("define it first with `let {name} = …;`"),
    }
}

/// The script defines `name` with a `let` or `const` somewhere (a guess
/// from the text, for help only).
fn script_defines(text: &str, name: &str) -> bool {
    ["let ", "const "].iter().any(|kw| {
        text.match_indices(&format!("{kw}{name}")).any(|(i, m)| {
            let before = text[..i].chars().next_back();
            let after = text[i + m.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    })
}

/// What `nslab check` finds, besides syntax errors.
pub enum Problem {
    /// A call to a function that exists nowhere.
    UnknownFunction { nearest: Option<String> },
    /// A call with a number of arguments no form of the function takes.
    /// (A method's counts leave out the value before the dot.)
    WrongCount {
        given: usize,
        takes: Vec<usize>,
        method: bool,
    },
    /// A variable read where nothing defines it.
    UndefinedVariable {
        in_fn: Option<String>,
        script_defines: bool,
    },
}

/// A report for one `nslab check` problem at `pos` in the main script.
pub fn problem(sources: &mut Sources, name: &str, pos: Position, p: &Problem) -> ScriptError {
    match p {
        Problem::UnknownFunction { nearest } => {
            unknown_function(sources, name, pos, nearest.as_deref())
        }
        Problem::WrongCount {
            given,
            takes,
            method,
        } => {
            let takes: Vec<String> = takes.iter().map(usize::to_string).collect();
            let takes = match takes.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => takes.join(""),
            };
            let s = if *given == 1 { "" } else { "s" };
            let (what, besides) = if *method {
                ("method", " (besides the value before the dot)")
            } else {
                ("function", "")
            };
            report(
                sources,
                None,
                pos,
                format!(
                    "{what} '{name}' is given {given} argument{s}{besides} here, and takes {takes}"
                ),
                "wrong number of arguments",
                Some(format!("`nslab docs` shows how {name} is called")),
            )
        }
        Problem::UndefinedVariable {
            in_fn,
            script_defines,
        } => report(
            sources,
            None,
            pos,
            format!("variable '{name}' is not defined here"),
            "unknown variable",
            Some(undefined_variable_help(
                name,
                in_fn.as_deref(),
                *script_defines,
            )),
        ),
    }
}

/// The summary line of `nslab check`: "2 unknown function(s), 1 undefined variable(s)".
pub fn problems_line(problems: &[&Problem]) -> String {
    let count = |f: fn(&Problem) -> bool| problems.iter().filter(|p| f(p)).count();
    let parts = [
        (
            count(|p| matches!(p, Problem::UnknownFunction { .. })),
            "unknown function(s)",
        ),
        (
            count(|p| matches!(p, Problem::WrongCount { .. })),
            "wrong argument count(s)",
        ),
        (
            count(|p| matches!(p, Problem::UndefinedVariable { .. })),
            "undefined variable(s)",
        ),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `nslab check`: a call to a function that exists nowhere.
pub fn unknown_function(
    sources: &mut Sources,
    name: &str,
    pos: Position,
    nearest: Option<&str>,
) -> ScriptError {
    let help = match nearest {
        Some(n) => format!("did you mean `{n}`? `nslab docs` lists every function"),
        None => "check the name; `nslab docs` lists every function".into(),
    };
    report(
        sources,
        None,
        pos,
        format!("there is no function '{name}'"),
        "unknown function",
        Some(help),
    )
}

/// A runtime error, walked down to where it really happened.
pub fn eval_error(sources: &mut Sources, docs: &[Doc], e: &EvalAltResult) -> ScriptError {
    let mut src: Option<String> = None;
    let mut cur = e;
    let mut trail: Vec<String> = Vec::new();
    // An error inside a bundled recipe is the caller's to fix (options, a
    // subnet too small): it is shown at the call into the recipe.
    let mut at_call: Option<(Option<String>, Position)> = None;
    // The script's own `fn` the error happened in, if it was the last frame.
    let mut in_fn: Option<String> = None;
    loop {
        match cur {
            EvalAltResult::ErrorInFunctionCall(name, s, inner, pos) => {
                in_fn = (!name.starts_with("anon$")).then(|| name.to_string());
                if at_call.is_none() && crate::stdlib::source(s).is_some() {
                    at_call = Some((src.clone(), *pos));
                    trail.push(format!("in recipe '{name}' of {s}"));
                } else if at_call.is_none() && !name.starts_with("anon$") {
                    // (A closure's name is rhai's own: `anon$` and a hash.)
                    trail.push(format!("in function '{name}'"));
                }
                if !s.is_empty() {
                    src = Some(s.clone());
                }
                cur = inner;
            }
            EvalAltResult::ErrorInModule(path, inner, _) => {
                in_fn = None;
                src = Some(path.clone());
                trail.push(format!("in module '{path}'"));
                cur = inner;
            }
            _ => break,
        }
    }
    let mut pos = cur.position();
    let in_recipe = at_call.is_some();
    if let Some((s, p)) = at_call {
        src = s;
        pos = p;
    }
    let (message, label, mut help) = describe(cur, docs);
    if let (EvalAltResult::ErrorVariableNotFound(v, _), Some(f), false) = (cur, &in_fn, in_recipe) {
        let (_, text) = sources.get(src.as_deref());
        help = Some(undefined_variable_help(
            v,
            Some(f),
            script_defines(&text, v),
        ));
    }
    // A queued firewall rule nft refused when a later call applied it: the
    // report points at the rule's own call, and says where it was found.
    if let Some(at) = queued_at(cur) {
        let found = if pos.is_none() {
            "at the end of the script".to_string()
        } else {
            let main = |s: &Option<String>| s.as_deref().is_none_or(|s| sources.is_main(s));
            let file = if src == at.source || (main(&src) && main(&at.source)) {
                String::new()
            } else {
                format!("{} ", sources.get(src.as_deref()).0)
            };
            format!("before the call at {file}line {}", pos.line().unwrap_or(0))
        };
        let note = format!(
            "(nslab applies firewall rules in batches: nft refused this one when its batch was applied, {found})"
        );
        let help = Some(help.map(|h| format!("{h} {note}")).unwrap_or(note));
        return report(
            sources,
            at.source.as_deref(),
            at.pos,
            message,
            "nft refused this rule",
            help,
        );
    }
    let help = if trail.is_empty() {
        help
    } else {
        let t = format!("(raised {})", trail.join(", "));
        Some(help.map(|h| format!("{h} {t}")).unwrap_or(t))
    };
    report(sources, src.as_deref(), pos, message, label, help)
}

/// The message and help of a runtime error, without its place: one line of
/// a test report.
pub fn reason(e: &EvalAltResult) -> (String, Option<String>) {
    let mut cur = e;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = cur
    {
        cur = inner;
    }
    let (message, _, help) = describe(cur, &[]);
    (message, help)
}

/// Where a queued rule's error belongs (not inside a bundled recipe: those
/// are applied at once, and shown at the call into the recipe).
fn queued_at(e: &EvalAltResult) -> Option<At> {
    let EvalAltResult::ErrorRuntime(v, _) = e else {
        return None;
    };
    let at = v.read_lock::<ApiError>()?.at.clone()?;
    let in_stdlib = at
        .source
        .as_deref()
        .is_some_and(|s| crate::stdlib::source(s).is_some());
    (!in_stdlib && !at.pos.is_none()).then_some(at)
}

fn describe(e: &EvalAltResult, docs: &[Doc]) -> (String, &'static str, Option<String>) {
    match e {
        EvalAltResult::ErrorRuntime(v, _) => {
            if let Some(a) = v.read_lock::<ApiError>() {
                (a.message.clone(), "this call failed", a.help.clone())
            } else {
                (
                    v.to_string(),
                    "thrown here",
                    Some("the script raised this error itself (with `throw`)".into()),
                )
            }
        }
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            let name = sig.split([' ', '(']).next().unwrap_or(sig).trim();
            let name = name.rsplit("::").next().unwrap_or(name);
            let forms: Vec<&str> = docs
                .iter()
                .filter(|d| d.name == name)
                .map(|d| d.sig)
                .collect();
            if !forms.is_empty() {
                let mut forms = forms;
                forms.dedup();
                let args = args_of(sig);
                let mut help = format!("{name} is called as: {}", forms.join("  |  "));
                // `ip link set LINK netns NS` read as a call.
                if name == "netns" && args.starts_with("(Link, Netns") {
                    help = format!(
                        "to move a link into a namespace, call link.move(ns) (`ip link set LINK netns NS`); {help}"
                    );
                }
                (
                    format!("wrong arguments for '{name}': no form takes {args}"),
                    "this call",
                    Some(help),
                )
            } else {
                // `a.pi(…)`: the methods of a's type first (ping before pid).
                let receiver = args_of(sig)
                    .trim_start_matches('(')
                    .split([',', ')'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                let own = nearest(
                    name,
                    docs.iter()
                        .filter(|d| d.receiver() == Some(receiver.as_str()))
                        .map(|d| d.name),
                );
                let help = match own.or_else(|| nearest(name, docs.iter().map(|d| d.name))) {
                    Some(n) => format!("did you mean `{n}`? `nslab docs` lists every function"),
                    None => "check the name; `nslab docs` lists every function".into(),
                };
                (
                    format!("there is no function '{name}'"),
                    "unknown function",
                    Some(help),
                )
            }
        }
        EvalAltResult::ErrorVariableNotFound(v, _) => (
            format!("variable '{v}' is not defined"),
            "unknown variable",
            Some(format!("define it first with `let {v} = …;`")),
        ),
        EvalAltResult::ErrorPropertyNotFound(p, _) => (
            format!("there is no property '{p}' here"),
            "unknown property",
            Some(
                "Netns has .name; Link has .name and .ns; maps have the keys they were given"
                    .into(),
            ),
        ),
        EvalAltResult::ErrorModuleNotFound(m, _) => (
            format!("module '{m}' not found"),
            "this import",
            Some("import a file beside the script with import \"./name\" as name;".into()),
        ),
        EvalAltResult::ErrorTerminated(v, _) => match v.read_lock::<ApiError>() {
            // Over the memory budget (src/limits.rs).
            Some(a) => (a.message.clone(), "stopped here", a.help.clone()),
            None => ("interrupted".into(), "stopped here", None),
        },
        EvalAltResult::ErrorTooManyOperations(_) => (
            "the script ran more operations than --max-ops allows".into(),
            "stopped here",
            Some("a loop that never ends? If the script really needs more, raise --max-ops N (0 is no limit)".into()),
        ),
        EvalAltResult::ErrorMismatchDataType(want, got, _) => (
            format!("expected {want}, got {got}"),
            "wrong type",
            Some("check the value's type".into()),
        ),
        EvalAltResult::ErrorParsing(p, _) => {
            (p.to_string(), "here", Some(parse_help(&p.to_string())))
        }
        EvalAltResult::ErrorStackOverflow(_) => (
            "the script recursed too deeply (stack overflow)".into(),
            "this call",
            Some("a function calls itself without end: check its stop condition".into()),
        ),
        other => (
            other
                .to_string()
                .split(" (line")
                .next()
                .unwrap_or("")
                .to_string(),
            "here",
            Some("check this line; `nslab docs` shows how each call is used".into()),
        ),
    }
}

/// "veth (Netns, &str | ImmutableString | String)" -> "(Netns, string)".
fn args_of(sig: &str) -> String {
    let args = sig.find('(').map(|i| &sig[i..]).unwrap_or("()");
    args.replace("&str | ImmutableString | String", "string")
        .replace("i64", "int")
        .replace("f64", "float")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unclosed_string_is_found_past_closed_ones_and_comments() {
        fn at(t: &str) -> Option<&str> {
            unclosed_quote(t).map(|o| &t[o..])
        }
        assert_eq!(at("let a = \"x\";\nlet b = \"y"), Some("\"y"));
        assert_eq!(at("// \"no\nlet b = `two\nlines"), Some("`two\nlines"));
        assert_eq!(at("let s = \"a \\\" b\";\nprint(\"c);\n"), Some("\"c);\n"));
        assert_eq!(
            at("let r = #\"raw \" still\"#; let x = #\"open"),
            Some("#\"open")
        );
        assert_eq!(at("let c = 'a'; /* \" */ let s = `ok`;"), None);
    }

    #[test]
    fn a_script_variable_is_told_from_a_longer_name() {
        assert!(script_defines("let sw = 1;", "sw"));
        assert!(script_defines("x;\nconst sw = 1;", "sw"));
        assert!(!script_defines("let swx = 1; let asw = 2;", "sw"));
    }

    #[test]
    fn spans_cover_the_call() {
        let text = "let a = 1;\nns.route(\"default\", f(x));\n";
        let at = offset(text, Position::new(2, 4)).unwrap();
        let s = call_span(text, at);
        assert_eq!(
            &text[s.offset()..s.offset() + s.len()],
            "route(\"default\", f(x))"
        );
    }
}
