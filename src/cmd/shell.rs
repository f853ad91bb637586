//! What fits nslab into the user's shell and editor: completion scripts,
//! the man page, and rhai definition files for the rhai language server.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::lab::LabError;
use crate::session::{self, CmdResult};

/// `nslab completions SHELL`: clap_complete's script for SHELL on stdout.
pub fn completions(shell: clap_complete::Shell) -> CmdResult {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nslab", &mut out);
    write_stdout(&out)
}

/// `nslab man`: the man page (roff) on stdout, for `man -l -` or to install
/// as man1/nslab.1.
pub fn man() -> CmdResult {
    let mut out = Vec::new();
    render_man(&mut out).map_err(|e| {
        LabError::new(
            format!("cannot render the man page: {e}"),
            "this is unexpected; please report it",
        )
    })?;
    write_stdout(&tidy_roff(&out))
}

/// One page for the whole tool. clap_mangen's own page lists subcommands as
/// `nslab-run(1)` and so on, pages nslab does not install; here each one gets
/// a COMMANDS subsection with its synopsis, description and options instead.
fn render_man(w: &mut Vec<u8>) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    cmd.build();
    // NAME reads "nslab \- " and the about line (Cargo.toml's description).
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    w.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("nslab {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().bin_name(&name));
        w.extend_from_slice(format!(".SS \"{name}\"\n").as_bytes());
        for part in [
            Man::render_description_section as Section,
            Man::render_synopsis_section,
            Man::render_options_section,
        ] {
            let mut text = Vec::new();
            part(&page, &mut text)?;
            // Each part starts with its own `.SH` heading: inside a
            // subsection it is only a paragraph.
            let text = String::from_utf8_lossy(&text);
            for line in text.lines() {
                let line = if line.starts_with(".SH ") {
                    ".PP"
                } else {
                    line
                };
                w.extend_from_slice(line.as_bytes());
                w.push(b'\n');
            }
        }
    }
    w.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    man.render_version_section(w)
}

/// What clap cannot know: examples, the exit codes main.rs and the session
/// pick (DESIGN.md §2), and the files a lab leaves on the machine (the
/// journal directory of lab/journal.rs, net/ns.rs's /run/netns and
/// lab/shared.rs's state file).
const EXTRA_SECTIONS: &str = r#".SH EXAMPLES
.TP
.B nslab run \-\-isolated lab.rhai
Build the lab in private namespaces (nothing on the host changes), run its probes, tear it down.
.TP
.B sudo nslab run \-\-keep lab.rhai
Build the lab on this machine's network (host mode) and leave it up;
.B ip netns list
shows its namespaces.
.TP
.B nslab ls
List labs that are running, kept, or left behind by a dead process.
.TP
.B sudo nslab down lab
Tear the kept lab \(lqlab\(rq down from its journal;
.B nslab down \-\-all
tears down every lab that no running process holds.
.TP
.B nslab repl \-\-isolated
Build a lab call by call; help() lists the API, save("lab.rhai") writes the session as a script.
.TP
.B nslab test \-\-isolated tests/*.rhai
Run each file's test("\&...") checks; the exit status is 0 only when every check passed.
.TP
.B nslab plan lab.rhai > lab.sh
The lab as a bash script of ip, sysctl, nft and tc commands, with its teardown.
.TP
.B nslab man | man \-l \-
Read this page.
.SH "EXIT STATUS"
.TP
.B 0
Success: the script ran and its lab was torn down (or kept), or every test passed.
.TP
.B 1
A script error, a kernel error, a failed check or test, or a teardown step that failed.
.TP
.B 2
A usage error: an unknown command or option, or a bad argument.
.TP
.B 129
Stopped by SIGHUP (the terminal closed); the lab was torn down.
.TP
.B 130
Interrupted by SIGINT (Ctrl\-C); the lab was torn down.
.TP
.B 143
Stopped by SIGTERM; the lab was torn down.
.SH FILES
.TP
.I /run/nslab/LAB.json
The journal of lab LAB: every object the lab made and how to undo it, written before each change
to the host, so
.B nslab ls
lists the lab and
.B nslab down LAB
finishes its teardown after a crash or a kept run. A running lab holds a lock on it.
.TP
.I /run/nslab/LAB.out/
The output (stdout, stderr) of the programs lab LAB started with spawn, one file each; a kept
lab's programs go on writing there until
.B nslab down LAB
stops them and removes it.
.TP
.I /run/nslab/hostwide.state
Host\-wide sysctls shared by labs running at the same time: their value from before, and the labs
holding them; the last lab to end puts the value back.
.TP
.I /run/netns
The named network namespaces of labs built in host mode, as
.B ip netns
sees them. In isolated mode both directories are private to the lab.
.TP
.I $XDG_STATE_HOME/nslab/history
The REPL's history (else
.IR ~/.local/state/nslab/history ;
.B NSLAB_HISTORY
names another file).
"#;

/// Every rendered part repeats the page's preamble (the two lines defining
/// the `Aq` string): kept once. Characters beyond ASCII (…, —) become groff's
/// `\[uXXXX]`, so `man` and `groff` read the page without an encoding.
fn tidy_roff(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let mut out = String::with_capacity(text.len());
    let mut preamble = 0;
    for line in text.lines() {
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            preamble += 1;
            if preamble > 2 {
                continue;
            }
        }
        for c in line.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

type Section = fn(&Man, &mut dyn Write) -> std::io::Result<()>;
use clap_mangen::Man;

/// `nslab docs --definitions DIR`: rhai's own definition files for the
/// engine a script runs in (nslab's API, with its doc lines, and rhai's
/// standard functions), so the rhai language server knows every call.
pub fn definitions(dir: &Path) -> CmdResult {
    let (_ctx, built) = session::api_only(Path::new("."));
    write_definitions(&built.engine, dir).map_err(|e| {
        LabError::new(
            format!("cannot write definitions to {}: {e}", dir.display()),
            "give a directory you can write to; it is made if missing",
        )
    })?;
    println!("wrote rhai definitions to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// rhai's files, with two repairs of what rhai 1.27 writes for its own
/// standard functions and the definition grammar of the rhai language server
/// rejects: `-> ;` (no type after `->`, its `to_int`/`to_float` of every
/// number type) becomes `-> ?` (any type), and `range=` (the type_of name
/// of an inclusive range, not a type name) becomes `RangeInclusive<int>`.
/// A third: rhai's `exit()` is a keyword to the language server's parser
/// (rhai-rowan), so `fn exit(…)` cannot be declared there; its declarations
/// and their doc comments are left out (the server knows `exit` already).
/// tests/shell.rs checks every file against that grammar; the files were
/// also read once by rhai-rowan's own `parse_def` (no errors).
fn write_definitions(engine: &rhai::Engine, dir: &Path) -> std::io::Result<()> {
    crate::owner::create_dir(dir)?;
    for (name, text) in engine.definitions().iter_files() {
        let text = text
            .replace(") -> ;", ") -> ?;")
            .replace(": range=", ": RangeInclusive<int>")
            .replace("-> range=", "-> RangeInclusive<int>");
        crate::owner::write(&dir.join(name), &without_keyword_fns(&text))?;
    }
    Ok(())
}

/// `text` without the declarations (and their doc comments) of functions
/// the language server's parser takes for keywords.
fn without_keyword_fns(text: &str) -> String {
    const KEYWORDS: [&str; 1] = ["exit"];
    let mut out = String::with_capacity(text.len());
    let mut docs = String::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with("///") {
            docs.push_str(line);
            continue;
        }
        let keyword = KEYWORDS
            .iter()
            .any(|k| line.starts_with(&format!("fn {k}(")));
        if !keyword {
            out.push_str(&docs);
            out.push_str(line);
        }
        docs.clear();
    }
    out.push_str(&docs);
    out
}

/// Writes generated text to stdout; a closed pipe ends quietly (SIGPIPE is
/// default for these commands), any other failure is an error.
fn write_stdout(bytes: &[u8]) -> CmdResult {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| {
            LabError::new(
                format!("cannot write to stdout: {e}"),
                "redirect the output to a file, e.g. > nslab.out",
            )
        })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    /// rhai-rowan lexes `exit` as a keyword: `fn exit(…)` was a parse error
    /// there (130 of them, cascading), found by running its parse_def.
    #[test]
    fn keyword_functions_go_with_their_doc_comments() {
        let text = "/// keeps\nfn a() -> int;\n\n/// goes\n/// too\nfn exit(value: ?) -> RhaiResult;\n\n/// stays\nfn b() -> int;\n";
        assert_eq!(
            super::without_keyword_fns(text),
            "/// keeps\nfn a() -> int;\n\n\n/// stays\nfn b() -> int;\n"
        );
    }
}
