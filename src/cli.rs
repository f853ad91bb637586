//! Command-line types.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// nslab — network labs from scripts: namespaces, veths, bridges, addresses,
/// routes and pings, all torn down when the script ends.
#[derive(Parser, Debug)]
#[command(name = "nslab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a lab script; everything it builds is removed when it ends
    /// (finished, failed, or stopped with Ctrl-C/SIGTERM/SIGHUP) unless kept.
    Run {
        /// The .rhai script
        file: PathBuf,
        /// Set a script parameter read with param("KEY", default)
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_kv)]
        set: Vec<(String, String)>,
        /// Leave the lab up at the end; remove it later with `nslab down LAB`
        #[arg(long)]
        keep: bool,
        /// Build the lab in private user, mount and network namespaces (the
        /// default when not run as root)
        #[arg(long)]
        isolated: bool,
        /// Name of the lab (default: the script's file name)
        #[arg(long)]
        name: Option<String>,
    },
    /// An interactive session: build a lab call by call (Ctrl-D tears it down)
    Repl {
        /// Build the lab in private namespaces (the default when not root)
        #[arg(long)]
        isolated: bool,
        /// A script to run first; its variables stay in scope
        file: Option<PathBuf>,
    },
    /// Check a script for errors without running it (no privileges needed)
    Check {
        /// The .rhai script
        file: PathBuf,
    },
    /// Print the script API reference (the same text help() shows)
    Docs {
        /// Print it as Markdown (docs/reference.md is made this way)
        #[arg(long)]
        markdown: bool,
    },
    /// List labs that are running, kept, or left behind by a dead process
    Ls,
    /// Finish the teardown of a kept or abandoned lab, from its journal
    Down {
        /// The lab's name (see `nslab ls`)
        #[arg(required_unless_present = "all")]
        lab: Option<String>,
        /// Tear down every lab that is not running
        #[arg(long, conflicts_with = "lab")]
        all: bool,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE (e.g. --set hosts=4)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_takes_sets_and_flags() {
        let c = Cli::try_parse_from([
            "nslab",
            "run",
            "lab.rhai",
            "--set",
            "hosts=8",
            "--set",
            "subnet=10.5.0.0/24",
            "--keep",
        ])
        .unwrap();
        match c.cmd {
            Cmd::Run {
                file,
                set,
                keep,
                isolated,
                ..
            } => {
                assert_eq!(file, PathBuf::from("lab.rhai"));
                assert_eq!(set[0], ("hosts".into(), "8".into()));
                assert_eq!(set[1], ("subnet".into(), "10.5.0.0/24".into()));
                assert!(keep && !isolated);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn bad_set_is_a_usage_error() {
        let e = Cli::try_parse_from(["nslab", "run", "lab.rhai", "--set", "hosts"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn down_needs_a_lab_or_all() {
        assert!(Cli::try_parse_from(["nslab", "down"]).is_err());
        assert!(Cli::try_parse_from(["nslab", "down", "--all"]).is_ok());
        assert!(Cli::try_parse_from(["nslab", "down", "x", "--all"]).is_err());
    }
}
