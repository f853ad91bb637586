//! Issue 21 item 13: README.md is a front door and the rest lives in docs/;
//! every link between them resolves; the packages the tests need are the
//! same in README.md, `.ci/run` and the tests' own table (`tools.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation
/// but `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// The `](target)` links of a Markdown text that point inside the repo.
fn local_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        if !target.contains("://") && !target.starts_with("mailto:") {
            links.push(target.to_string());
        }
    }
    links
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md"), repo().join("ARCHITECTURE.md")];
    for e in std::fs::read_dir(repo().join("docs")).expect("docs/") {
        let p = e.expect("docs/ entry").path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    files
}

#[test]
fn every_link_between_the_pages_resolves() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        for link in local_links(&text) {
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a parent").join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
            } else if !anchor.is_empty()
                && target.extension().is_some_and(|x| x == "md")
                && !anchors(&read(&target)).contains(anchor)
            {
                broken.push(format!("{}: {link} (no such heading)", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// A front door: what nslab is, first steps, the two commands, the modes,
/// where to read more. The API tables, the promises and the JSON schema
/// live in docs/, each page linked from it.
#[test]
fn readme_is_a_front_door_linking_every_page() {
    let readme = read(&repo().join("README.md"));
    let lines = readme.lines().count();
    assert!(lines <= 150, "README.md has {lines} lines");
    lacks(&readme, &["| `netns(name) -> Netns`", "| `state` |"]);
    says(&readme, &["## First steps", "## Modes", "## Read more"]);
    for file in markdown_files().iter().skip(2) {
        let name = file.file_name().and_then(|n| n.to_str()).expect("a name");
        assert!(
            readme.contains(&format!("(docs/{name})")),
            "README.md does not link docs/{name}"
        );
    }
    // Item 6: the first command a new user copies keeps the lab private.
    let first = readme
        .lines()
        .find(|l| l.contains("cargo run -- run"))
        .expect("a first `cargo run -- run` command");
    assert!(first.contains("--isolated"), "{first}");
}

/// The packages of `.ci/run`'s `need+=(…)` lines.
fn ci_packages() -> BTreeSet<String> {
    read(&repo().join(".ci/run"))
        .lines()
        .filter_map(|l| l.split_once("need+=(")?.1.split_once(')'))
        .map(|(pkg, _)| pkg.trim().to_string())
        .collect()
}

#[test]
fn readme_ci_and_tests_name_the_same_packages() {
    let ci = ci_packages();
    let tools: BTreeSet<String> = TOOLS.iter().map(|(_, p)| p.to_string()).collect();
    assert_eq!(ci, tools, ".ci/run against tests/common/tools.rs");
    let readme = read(&repo().join("README.md"));
    let at = readme
        .find("## Working on nslab")
        .expect("a Working on nslab section");
    let section = &readme[at..];
    let missing: Vec<&String> = ci
        .iter()
        .filter(|p| !section.contains(p.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's test prerequisites lack {missing:?}"
    );
}
