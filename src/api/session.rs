//! help(), show() and save(): looking at the lab and the API from a script
//! or the REPL.

use std::rc::Rc;

use super::{Ctx, Doc, Registrar, Res, bad, err};
use crate::reference;

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let help_doc = Doc {
        area: "session",
        name: "help",
        sig: "help() / help(\"name\")",
        doc: "List the API grouped by area, or show one function's forms, doc line and example.",
        example: "help(\"veth\");",
    };
    let c = ctx.clone();
    r.func(help_doc.clone(), move || {
        print!("{}", reference::overview(c.reference()));
    });
    let c = ctx.clone();
    r.func(help_doc, move |name: &str| -> Res<()> {
        match reference::lookup(c.reference(), name) {
            Ok(text) => {
                print!("{text}");
                Ok(())
            }
            Err(help) => Err(bad(
                format!("there is no function '{}'", crate::text::clip(name, 40)),
                help,
            )),
        }
    });
    let show_doc = Doc {
        area: "session",
        name: "show",
        sig: "show() / show(#{json: true})",
        doc: "Print the lab as it stands, read back from the kernel: namespaces, their links (kind, state, master, peer), addresses, routes (every table), policy rules and firewall rules (those of the lab's nf_tables table, as nft prints them after their chain). With #{json: true} it prints nothing and returns the lab as JSON (fields: docs/json.md); #{json: false} returns the table.",
        example: "let lab = parse_json(show(#{json: true})); print(lab.namespaces.len());",
    };
    let c = ctx.clone();
    r.func(show_doc.clone(), move || -> Res<()> {
        let text = c.lab()?.show().map_err(err)?;
        print!("{text}");
        Ok(())
    });
    let c = ctx.clone();
    r.func(show_doc, move |opts: rhai::Map| -> Res<String> {
        let mut json = false;
        for (k, v) in &opts {
            match k.as_str() {
                "json" => json = super::shaping::bool_opt(v, "json")?,
                other => {
                    return Err(bad(
                        format!("unknown option '{}'", crate::text::clip(other, 40)),
                        "the only option is json: show(#{json: true})",
                    ));
                }
            }
        }
        let mut lab = c.lab()?;
        if json {
            Ok(lab.view().map_err(err)?.json())
        } else {
            lab.show().map_err(err)
        }
    });
    let c = ctx.clone();
    r.func(
        Doc {
            area: "session",
            name: "save",
            sig: "save(\"lab.rhai\")",
            doc: "In the REPL: write the lines of this session that succeeded as a script that rebuilds the lab with `nslab run`. It writes over an earlier save, not over another file, and only to a regular file (a FIFO or device is refused, never waited on).",
            example: "save(\"mylab.rhai\");",
        },
        move |path: &str| -> Res<()> {
            let text = c.session_script().ok_or_else(|| {
                bad(
                    "save() records a REPL session, and this is a script",
                    "start one with `nslab repl`; a script is already saved",
                )
            })?;
            // An earlier save may be written over, not the user's own
            // script (or any other file: nslab may be root). Nor anything but
            // a regular file: opening a FIFO would wait for its other end
            // for good, past Ctrl-C and SIGTERM.
            let file = std::path::Path::new(path);
            let not_regular = || {
                bad(
                    format!("save() will not write to {path}: it is not a regular file"),
                    "save() writes a script file: give a new file name, e.g. save(\"lab.rhai\")",
                )
            };
            match crate::owner::read_regular(file) {
                Ok(None) => {}
                Ok(Some(old))
                    if old.is_empty() || old.starts_with(b"// Saved from ") => {}
                Ok(Some(_)) => {
                    return Err(bad(
                        format!("save() will not overwrite {path}: it is not a saved session"),
                        "save to a new file name, or remove that file first if it is yours to lose",
                    ));
                }
                Err(e) if e.raw_os_error() == Some(crate::owner::NOT_REGULAR) => {
                    return Err(not_regular());
                }
                Err(_) if file.symlink_metadata().is_ok() => {
                    return Err(bad(
                        format!("save() will not overwrite {path}: it is not a file nslab can read back"),
                        "save to a new file name",
                    ));
                }
                Err(_) => {}
            }
            let written = crate::owner::create_regular(file, 0o644).and_then(|mut f| {
                use std::io::Write;
                f.write_all(text.as_bytes())
            });
            written.map_err(|e| match e.raw_os_error() {
                Some(crate::owner::NOT_REGULAR | libc::ENXIO) => not_regular(),
                _ => bad(
                    format!("cannot write {path}: {e}"),
                    "check the directory exists and is writable",
                ),
            })?;
            match c.attached_lab() {
                Some(lab) => println!(
                    "saved to {path}: replay it on kept lab '{lab}' with `nslab repl --attach {lab} {path}`"
                ),
                None => println!("saved to {path}: rebuild the lab with `nslab run {path}`"),
            }
            Ok(())
        },
    );
}
