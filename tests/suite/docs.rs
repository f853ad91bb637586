//! The reference and `nslab check`: generated from the registered functions,
//! committed as docs/reference.md, and usable without privileges.

use crate::common::*;
use std::path::Path;

#[test]
fn the_committed_reference_is_what_docs_markdown_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = nslab(&["docs", "--markdown"], root);
    o.assert_ok();
    let committed = std::fs::read_to_string(root.join("docs/reference.md")).unwrap();
    assert!(
        o.stdout == committed,
        "docs/reference.md is stale: run `cargo run -- docs --markdown > docs/reference.md`"
    );
    for name in [
        "### `veth`",
        "### `masquerade`",
        "### `topo::star`",
        "### `nat::gateway`",
        "### `help`",
    ] {
        assert!(o.stdout.contains(name), "{name} missing");
    }
}

#[test]
fn docs_lists_the_api_and_the_recipes_grouped() {
    let o = nslab(&["docs"], Path::new("."));
    o.assert_ok();
    for area in [
        "## namespaces",
        "## links",
        "## firewall",
        "## session",
        "## recipes (import \"topo\" as topo;)",
    ] {
        assert!(o.stdout.contains(area), "{area} missing:\n{}", o.stdout);
    }
    o.says(&["  topo::line(opts)\n  topo::line()"]);
}

#[test]
fn check_finds_unknown_functions_without_privileges() {
    let d = as_nobody(0o755);
    d.dir.write(
        "typo.rhai",
        "import \"topo\" as topo;\nfn helper(f) { f(1); bridg(host(), \"br0\"); }\nlet a = netn(\"a\");\na.pnig(\"10.0.0.1\");\ntopo::stra();\nlet g = |x| x;\ng(2);\nhelper(g);\n",
    );
    std::fs::set_permissions(
        d.path().join("typo.rhai"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let o = d.run(&["check", "typo.rhai"]);
    assert_eq!(o.code, 1, "{}", o.all());
    let err = words(&o.stderr);
    for (what, near) in [
        ("there is no function 'bridg'", "did you mean `bridge`?"),
        ("there is no function 'netn'", "did you mean `netns`?"),
        ("there is no function 'pnig'", "did you mean `ping`?"),
        (
            "there is no function 'topo::stra'",
            "did you mean `topo::star`?",
        ),
    ] {
        assert!(
            err.contains(what) && err.contains(near),
            "{what}:\n{}",
            o.stderr
        );
    }
    assert!(err.contains("typo.rhai:3:9"), "{}", o.stderr);
    assert!(
        err.contains("typo.rhai: 4 unknown function(s)"),
        "{}",
        o.stderr
    );
}

#[test]
fn check_passes_every_script_and_recipe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["scripts", "scripts/lib", "stdlib"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rhai") {
                let o = nslab(&["check", p.to_str().unwrap()], root);
                assert_eq!(o.code, 0, "{}:\n{}", p.display(), o.all());
            }
        }
    }
}

/// Each entry's example shows that entry: no two entries share one (a copied
/// line documents neither), and each uses the name it documents.
#[test]
fn every_entry_has_its_own_example() {
    let o = nslab(&["docs", "--markdown"], Path::new("."));
    o.assert_ok();
    let mut seen: std::collections::HashMap<&str, &str> = Default::default();
    let mut count = 0;
    for part in o.stdout.split("\n### `").skip(1) {
        let name = part.split('`').next().unwrap();
        let example = part
            .split("```rust\n")
            .nth(1)
            .and_then(|r| r.split("\n```").next())
            .unwrap_or_else(|| panic!("{name} has no example"));
        count += 1;
        if let Some(other) = seen.insert(example, name) {
            panic!("{other} and {name} share the example `{example}`");
        }
        let short = name.rsplit("::").next().unwrap();
        let uses = example.match_indices(short).any(|(i, _)| {
            let word = |c: char| c.is_alphanumeric() || c == '_';
            let before = example[..i].chars().next_back().is_none_or(|c| !word(c));
            let after = example[i + short.len()..]
                .chars()
                .next()
                .is_none_or(|c| !word(c));
            before && after
        });
        assert!(uses, "the example of {name} does not use it: `{example}`");
    }
    assert!(count > 50, "{count} entries:\n{}", o.stdout);
}
