//! Fitting the user's shell and editor: completion scripts, the man page,
//! rhai definition files for the rhai language server.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// The subcommands every generated artifact must know.
const SUBCOMMANDS: [&str; 9] = [
    "run",
    "repl",
    "check",
    "docs",
    "test",
    "ls",
    "down",
    "completions",
    "man",
];

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    let o = nslab(&["completions", "bash"], Path::new("."));
    o.assert_ok();
    // Sourced by a real bash: `complete -p nslab` names the function, and
    // calling it as bash would for `nslab r<TAB>` offers run and repl.
    let dir = Dir::new();
    let file = dir.write("nslab.bash", &o.stdout);
    let sh = format!(
        "source {}\ncomplete -p nslab\nCOMP_WORDS=(nslab r); COMP_CWORD=1; COMP_LINE='nslab r'; COMP_POINT=7\n_nslab nslab r nslab\necho \"reply: ${{COMPREPLY[*]}}\"\nCOMP_WORDS=(nslab docs --); COMP_CWORD=2; COMP_LINE='nslab docs --'; COMP_POINT=13\n_nslab nslab -- docs\necho \"docs: ${{COMPREPLY[*]}}\"",
        file.display()
    );
    let b = out(Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &sh])
        .output()
        .expect("run bash"));
    b.assert_ok();
    assert!(
        b.stdout.contains("complete -")
            && b.stdout.contains(" nslab\n")
            && b.stdout.contains("-F _nslab"),
        "complete -p nslab: {}",
        b.all()
    );
    let reply = b.line_after("reply: ").unwrap_or_default();
    let words: Vec<&str> = reply.split_whitespace().collect();
    assert!(
        words.contains(&"run") && words.contains(&"repl") && !words.contains(&"down"),
        "nslab r<TAB> offered {words:?}"
    );
    let docs = b.line_after("docs: ").unwrap_or_default();
    assert!(
        docs.contains("--definitions") && docs.contains("--markdown"),
        "nslab docs --<TAB> offered {docs}"
    );
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand_and_load() {
    for (shell, marker) in [("zsh", "#compdef nslab"), ("fish", "complete -c nslab")] {
        let o = nslab(&["completions", shell], Path::new("."));
        o.assert_ok();
        assert!(o.stdout.contains(marker), "{shell}: {}", o.stdout);
        for sub in SUBCOMMANDS {
            let named = match shell {
                // zsh lists them as 'run:…' in _nslab_commands
                "zsh" => format!("'{sub}:"),
                _ => format!("-a \"{sub}\""),
            };
            assert!(o.stdout.contains(&named), "{shell} lacks {named}");
        }
    }
    // fish loads it and completes with it as a user's fish would.
    let dir = Dir::new();
    let o = nslab(&["completions", "fish"], Path::new("."));
    let fish = dir.write("nslab.fish", &o.stdout);
    let f = out(tool("fish")
        .args(["--no-config", "-c"])
        .arg(format!(
            "source {}; complete -C 'nslab r'; echo ---; complete -C 'nslab docs --'",
            fish.display()
        ))
        .output()
        .expect("fish is installed: .ci/run installs it"));
    f.assert_ok();
    let (subs, docs) = f.stdout.split_once("---").unwrap_or_default();
    let offered: Vec<&str> = subs.lines().filter_map(|l| l.split('\t').next()).collect();
    assert_eq!(offered, ["repl", "run"], "fish: nslab r<TAB>: {}", f.all());
    assert!(docs.contains("--definitions\t"), "fish: {docs}");
    // zsh parses it, and compinit takes it from fpath as nslab's completion
    // function (completing itself needs zsh's line editor on a terminal:
    // not exercised here).
    let o = nslab(&["completions", "zsh"], Path::new("."));
    dir.write("_nslab", &o.stdout);
    let z = out(tool("zsh")
        .args(["-f", "-c"])
        .arg(format!(
            "zsh -n {0}/_nslab || exit 9; fpath=({0} $fpath); autoload -U compinit; compinit -u -D; print -r -- ${{_comps[nslab]}}",
            dir.path().display()
        ))
        .output()
        .expect("zsh is installed: .ci/run installs it"));
    z.assert_ok();
    assert_eq!(z.stdout.trim(), "_nslab", "zsh: {}", z.all());

    let bad = nslab(&["completions", "tcsh"], Path::new("."));
    assert_eq!(
        bad.code,
        2,
        "an unknown shell is a usage error: {}",
        bad.all()
    );
    assert!(bad.stderr.contains("bash"), "{}", bad.stderr);
}

#[test]
fn man_page_is_roff_that_groff_reads_with_every_subcommand() {
    let o = nslab(&["man"], Path::new("."));
    o.assert_ok();
    assert!(
        o.stdout.lines().any(|l| l.starts_with(".TH nslab 1 ")),
        "no .TH header:\n{}",
        o.stdout
    );
    assert!(
        o.stdout.is_ascii(),
        "man pages are read without an encoding"
    );
    for sub in SUBCOMMANDS {
        assert!(
            o.stdout.contains(&format!(".SS \"nslab {sub}\"")),
            "no section for nslab {sub}"
        );
    }
    // groff, with every warning on, formats it without a complaint.
    let text = groff_man(&o.stdout);
    assert!(text.contains("COMMANDS") && text.contains("nslab down"));
}

#[test]
fn definitions_name_the_api_and_pass_the_definition_grammar() {
    let dir = Dir::new();
    let defs = dir.path().join("defs");
    let o = nslab(
        &["docs", "--definitions", defs.to_str().unwrap()],
        Path::new("."),
    );
    o.assert_ok();
    let mut files: Vec<_> = std::fs::read_dir(&defs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with(".d.rhai")) && names.contains(&"__static__.d.rhai".into()),
        "{names:?}"
    );
    let mut declared = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        match defcheck::check(&text) {
            Ok(mut fns) => declared.append(&mut fns),
            Err(e) => panic!("{}: {e}", f.display()),
        }
    }
    for name in [
        "netns",
        "veth",
        "bridge",
        "addr",
        "route",
        "masquerade",
        "ping",
        "exec",
        "spawn",
    ] {
        assert!(declared.iter().any(|d| d == name), "{name} is not declared");
    }
    // nslab's own types, not rhai's mangled Result, and the doc lines.
    let statics = std::fs::read_to_string(defs.join("__static__.d.rhai")).unwrap();
    assert!(statics.contains("fn netns(_: string) -> Netns;"), "netns");
    assert!(statics.contains("/// Create a network namespace"), "doc");
    assert!(!statics.contains("EvalAltResult"), "a Result leaked");
}

#[test]
fn definitions_into_an_unwritable_place_is_a_clear_error() {
    let dir = Dir::new();
    let file = dir.write("plain", "x");
    let o = nslab(
        &["docs", "--definitions", file.to_str().unwrap()],
        Path::new("."),
    );
    o.fails_saying(1, &["cannot write definitions", "help:"]);
}

#[test]
fn the_definition_checker_rejects_what_the_grammar_rejects() {
    let ok = "module static;\n/// doc\nfn a(x: int, _: ?) -> Map<string>;\nfn get b(_: Netns) -> ();\nop +(int, int) -> int;\nop spawn(Netns, string) -> Process;\n";
    assert_eq!(defcheck::check(ok).unwrap(), ["a", "b", "+", "spawn"]);
    for bad in [
        "fn a() -> int;",                      // no module header
        "module static;\nfn a() -> ;",         // rhai 1.27's to_int: `->` without a type
        "module static;\nfn a(x) -> int;",     // a parameter without a type
        "module static;\nfn a(x: int) -> int", // no `;`
        "module static;\nfn (x: int);",        // no name
        "module static;\nlet = 1;",
    ] {
        assert!(defcheck::check(bad).is_err(), "accepted:\n{bad}");
    }
}

/// A check of rhai definition files (`*.d.rhai`). rhai itself cannot parse
/// them: its Engine parses scripts, and the definition parser lives in the
/// rhai language server (rhai-rowan), which is not published as a crate. So
/// the files are read with rhai's own tokenizer (the real one, exported
/// under its `internals` feature), and the token stream is checked against
/// the definition grammar the language server documents (RhaiDef, DefFn,
/// DefOp, DefConst, DefLet, DefModuleInline, Type) — a reimplementation of
/// that grammar for this test, not the server's code.
mod defcheck {
    use rhai::{
        InputStream, Position, Token, TokenizeState, TokenizerControlBlock, get_next_token,
    };

    struct Chars {
        c: Vec<char>,
        i: usize,
        back: Vec<char>,
    }

    impl InputStream for Chars {
        fn unget(&mut self, ch: char) {
            self.back.push(ch)
        }
        fn get_next(&mut self) -> Option<char> {
            if let Some(c) = self.back.pop() {
                return Some(c);
            }
            let c = self.c.get(self.i).copied();
            self.i += 1;
            c
        }
        fn peek_next(&mut self) -> Option<char> {
            self.back
                .last()
                .copied()
                .or_else(|| self.c.get(self.i).copied())
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    enum T {
        Doc,
        /// An identifier, or a word rhai reserves (print, spawn, Fn, …):
        /// the definition grammar takes both where it takes a name.
        Word(String),
        /// Any other token, by its text.
        Sym(String),
    }

    fn tokens(text: &str) -> Result<Vec<(T, Position)>, String> {
        let mut input = Chars {
            c: text.chars().collect(),
            i: 0,
            back: Vec::new(),
        };
        let mut state = TokenizeState {
            max_string_len: None,
            next_token_cannot_be_unary: false,
            tokenizer_control: std::rc::Rc::new(std::cell::RefCell::new(
                TokenizerControlBlock::new(),
            )),
            comment_level: 0,
            include_comments: false,
            is_within_text_terminated_by: None,
            last_token: None,
        };
        let mut pos = Position::new(1, 0);
        let mut out = Vec::new();
        loop {
            let (tok, at) = get_next_token(&mut input, &mut state, &mut pos);
            let t = match tok {
                Token::EOF => break,
                Token::LexError(e) => return Err(format!("{at:?}: rhai's tokenizer: {e}")),
                Token::Comment(_) => T::Doc,
                Token::Identifier(s) => T::Word(s.to_string()),
                Token::Reserved(s) if s.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                    T::Word(s.to_string())
                }
                Token::Unit => {
                    out.push((T::Sym("(".into()), at));
                    T::Sym(")".into())
                }
                other => T::Sym(other.to_string()),
            };
            out.push((t, at));
        }
        Ok(out)
    }

    struct P {
        t: Vec<(T, Position)>,
        i: usize,
    }

    impl P {
        fn peek(&self) -> Option<&T> {
            self.t.get(self.i).map(|(t, _)| t)
        }
        fn err<X>(&self, want: &str) -> Result<X, String> {
            match self.t.get(self.i) {
                Some((t, at)) => Err(format!("{at:?}: expected {want}, found {t:?}")),
                None => Err(format!("end of file: expected {want}")),
            }
        }
        fn is(&self, s: &str) -> bool {
            matches!(self.peek(), Some(T::Sym(x)) if x == s)
                || matches!(self.peek(), Some(T::Word(x)) if x == s)
        }
        fn eat(&mut self, s: &str) -> Result<(), String> {
            if self.is(s) {
                self.i += 1;
                Ok(())
            } else {
                self.err(&format!("`{s}`"))
            }
        }
        fn word(&mut self) -> Result<String, String> {
            match self.peek() {
                Some(T::Word(w)) => {
                    let w = w.clone();
                    self.i += 1;
                    Ok(w)
                }
                _ => self.err("a name"),
            }
        }
        fn docs(&mut self) {
            while self.peek() == Some(&T::Doc) {
                self.i += 1;
            }
        }
        /// `>` closing generics; rhai lexes `>>` as one token.
        fn close_angle(&mut self) -> Result<(), String> {
            if self.is(">>") {
                self.t[self.i].0 = T::Sym(">".into());
                return Ok(());
            }
            self.eat(">")
        }
        /// Type = `?` | `(` types `)` | `[` types `]` | name (`<` types `>`)?
        fn ty(&mut self) -> Result<(), String> {
            if self.is("?") {
                self.i += 1;
            } else if self.is("(") {
                self.i += 1;
                self.list(")", P::ty)?;
            } else if self.is("[") {
                self.i += 1;
                self.list("]", P::ty)?;
            } else {
                self.word()?;
                if self.is("<") {
                    self.i += 1;
                    loop {
                        self.ty()?;
                        if self.is(",") {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                    self.close_angle()?;
                }
            }
            Ok(())
        }
        /// Items separated by `,` (a trailing one allowed) up to `end`.
        fn list(
            &mut self,
            end: &str,
            item: fn(&mut P) -> Result<(), String>,
        ) -> Result<(), String> {
            loop {
                if self.is(end) {
                    self.i += 1;
                    return Ok(());
                }
                item(self)?;
                if self.is(",") {
                    self.i += 1;
                } else {
                    return self.eat(end);
                }
            }
        }
        /// TypedParam = `...`? name `:` Type (name may be `_`)
        fn param(&mut self) -> Result<(), String> {
            if self.is("...") {
                self.i += 1;
            }
            if self.is("_") {
                self.i += 1;
            } else {
                self.word()?;
            }
            self.eat(":")?;
            self.ty()
        }
        fn ret(&mut self) -> Result<(), String> {
            if self.is("->") {
                self.i += 1;
                self.ty()?;
            }
            Ok(())
        }
        /// Statements up to `end` (None: end of file); returns fn/op names.
        fn stmts(&mut self, end: Option<&str>) -> Result<Vec<String>, String> {
            let mut names = Vec::new();
            loop {
                self.docs();
                match (self.peek(), end) {
                    (None, None) => return Ok(names),
                    (None, Some(e)) => return self.err(&format!("`{e}`")),
                    (Some(_), Some(e)) if self.is(e) => {
                        self.i += 1;
                        return Ok(names);
                    }
                    _ => {}
                }
                if self.is(";") {
                    self.i += 1;
                    continue;
                }
                if self.is("fn") {
                    self.i += 1;
                    let mut name = self.word()?;
                    if (name == "get" || name == "set") && matches!(self.peek(), Some(T::Word(_))) {
                        name = self.word()?;
                    }
                    self.eat("(")?;
                    self.list(")", P::param)?;
                    self.ret()?;
                    names.push(name);
                } else if self.is("op") {
                    self.i += 1;
                    let name = match self.peek() {
                        Some(T::Word(w)) => w.clone(),
                        Some(T::Sym(s)) if s != "(" && s != ";" => s.clone(),
                        _ => return self.err("an operator"),
                    };
                    self.i += 1;
                    self.eat("(")?;
                    self.list(")", P::ty)?;
                    self.ret()?;
                    names.push(name);
                } else if self.is("const") || self.is("let") {
                    self.i += 1;
                    self.word()?;
                    if self.is(":") {
                        self.i += 1;
                        self.ty()?;
                    }
                } else if self.is("module") {
                    self.i += 1;
                    self.word()?;
                    self.eat("{")?;
                    names.extend(self.stmts(Some("}"))?);
                    continue;
                } else {
                    return self.err("fn, op, const, let or module");
                }
                // The grammar closes every item with `;` before the next.
                if !self.is(";") {
                    return self.err("`;`");
                }
            }
        }
    }

    /// Checks one definition file; returns the functions and operators it
    /// declares.
    pub fn check(text: &str) -> Result<Vec<String>, String> {
        let mut p = P {
            t: tokens(text)?,
            i: 0,
        };
        // DefModuleDecl: docs, then `module` and an optional name.
        p.docs();
        p.eat("module")?;
        if matches!(p.peek(), Some(T::Word(w)) if w != "fn" && w != "op" && w != "const" && w != "let")
        {
            p.i += 1;
        }
        p.stmts(None)
    }
}

/// 50 namespaces on a line of 49 veths: big enough for a progress line.
const BIG_LAB: &str = "let hosts = [];\nfor i in 0..50 { hosts.push(netns(`h${i}`)); }\nfor i in 0..49 { veth(hosts[i], \"e0\", hosts[i+1], \"e1\"); }\nprint(\"built\");\n";

#[test]
fn a_big_lab_shows_progress_on_a_terminal_and_clears_it() {
    let d = Dir::new();
    d.write("big.rhai", BIG_LAB);
    // `script` (util-linux) gives nslab a pseudo-terminal for stdout and
    // stderr and copies what it writes there to its own stdout.
    let o = out(tool("script")
        .args(["-qec"])
        .arg(format!("{} run --isolated big.rhai", bin()))
        .arg("/dev/null")
        .current_dir(d.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) is installed: .ci/run installs it"));
    o.assert_ok();
    o.says(&["built"]);
    // The teardown's line is drawn as it starts, whatever the machine's
    // speed, with what the lab built (the build's own line is drawn by a
    // timer, so how many frames it gets is not asserted).
    let line = "tearing down the lab: namespaces 50, links 49";
    let last = o
        .stdout
        .rfind(line)
        .unwrap_or_else(|| panic!("no progress line:\n{:?}", o.stdout));
    // Then it is cleared: a carriage return and "erase line", and nothing
    // printed after it.
    let rest = &o.stdout[last..];
    let cleared = rest
        .rfind("\r\x1b[2K")
        .unwrap_or_else(|| panic!("the line was not cleared: {rest:?}"));
    assert!(
        rest[cleared + 5..].trim().is_empty(),
        "left after the clear: {rest:?}"
    );
}

#[test]
fn without_a_terminal_there_is_no_progress_output() {
    let d = Dir::new();
    d.write("big.rhai", BIG_LAB);
    let o = nslab(&["run", "--isolated", "big.rhai"], d.path());
    o.assert_ok();
    assert_eq!(o.stdout, "built\n");
    assert_eq!(o.stderr, "", "stderr is not a terminal: nothing extra");
}
