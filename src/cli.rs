//! Command-line types.

use std::ffi::OsString;
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

impl Cli {
    /// The command line. `nslab run FILE` with nothing besides but
    /// `--set`, `--keep` or `--isolated` is read here (`quick`): clap
    /// builds its tree of every command and option before it looks at one
    /// argument, ~0.35 ms of every run's start-up, most of it the first
    /// touch of that code (bench/README.md, sixth round). Any other form,
    /// and every mistake, is clap's; a test holds the two to one result.
    pub fn read() -> Cli {
        let args: Vec<OsString> = std::env::args_os().collect();
        quick(&args).unwrap_or_else(|| Cli::parse_from(args))
    }
}

/// `run FILE [--set K=V | --set=K=V | --keep | --isolated]…`, each flag at
/// most once, or None.
fn quick(args: &[OsString]) -> Option<Cli> {
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    if words.next()?? != "run" {
        return None;
    }
    let (mut file, mut set, mut keep, mut isolated) = (None, Vec::new(), false, false);
    while let Some(w) = words.next() {
        let w = w?;
        let kv = match w {
            "--keep" if !keep => {
                keep = true;
                continue;
            }
            "--isolated" if !isolated => {
                isolated = true;
                continue;
            }
            "--set" => words.next()??,
            _ if w.starts_with("--set=") => &w["--set=".len()..],
            _ if w.starts_with('-') || file.is_some() => return None,
            _ => {
                file = Some(PathBuf::from(w));
                continue;
            }
        };
        if kv.starts_with('-') {
            return None;
        }
        set.push(parse_kv(kv).ok()?);
    }
    Some(Cli {
        cmd: Cmd::Run {
            file: file?,
            set,
            keep,
            isolated,
            name: None,
            prefix: None,
            machines: None,
            token_file: None,
            limits: LimitArgs {
                max_ops: 0,
                max_mem: crate::limits::DEFAULT_MAX_MEM_MIB as u64,
            },
        },
    })
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
        /// Put the lab's namespaces, and the links it makes in the host,
        /// under this prefix in the kernel (`ip netns list` shows PREFIXqs-a
        /// for netns("qs-a")): the script and its output keep their own
        /// names, so a second copy of a lab runs beside the first. The lab
        /// is then called PREFIX + the script's name (unless --name)
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// Other machines of the lab, each running `nslab agent`:
        /// NAME=ADDR:PORT,… (netns("r3", #{on: "m2"}) places a namespace there)
        #[arg(long, value_name = "NAME=ADDR:PORT,…", value_parser = parse_machines, requires = "token_file")]
        machines: Option<Machines>,
        /// The secret the agents were started with (--machines)
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Hold this machine's part of labs run from another machine with
    /// `nslab run --machines`: their namespaces, links and programs here,
    /// torn down when the driving script's connection ends
    Agent {
        /// The address and port to listen on (TLS over TCP)
        #[arg(long, value_name = "ADDR:PORT")]
        listen: std::net::SocketAddr,
        /// A file holding the shared secret (the same on every machine)
        #[arg(long, value_name = "FILE")]
        token_file: PathBuf,
        /// Build in private user, mount and network namespaces (the default
        /// when not run as root)
        #[arg(long)]
        isolated: bool,
        /// How long a lab stays after its driver's connection ended, before
        /// it is torn down (milliseconds)
        #[arg(long, value_name = "MS", default_value_t = 10_000)]
        grace_ms: u64,
        /// The UDP port of VXLAN links between machines
        #[arg(long, value_name = "PORT", default_value_t = crate::remote::VXLAN_PORT)]
        vxlan_port: u16,
    },
    /// An interactive session: build a lab call by call (Ctrl-D tears it down)
    Repl {
        /// Build the lab in private namespaces (the default when not root)
        #[arg(long)]
        isolated: bool,
        /// A script to run first; its variables stay in scope
        file: Option<PathBuf>,
        /// Work on kept lab LAB instead of a new one: its namespaces are
        /// there by name (ns("a"), lab()), what the session builds joins it,
        /// and Ctrl-D leaves it up; `nslab down LAB` removes all of it
        #[arg(long, value_name = "LAB")]
        attach: Option<String>,
        /// Put the lab's namespaces, and the links it makes in the host,
        /// under this prefix in the kernel (`ip netns list` shows PREFIXqs-a
        /// for netns("qs-a")): the script and its output keep their own
        /// names, so a second copy of a lab runs beside the first
        #[arg(long, value_name = "PREFIX", conflicts_with = "attach")]
        prefix: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print what a script builds as a bash script of `ip`, `sysctl`, `nft`
    /// and `tc` commands (one comment per script line), with a teardown.
    /// The script runs for real in private namespaces (no root needed), so
    /// its probes and branches go as they would.
    Plan {
        /// The .rhai script
        file: PathBuf,
        /// Set a script parameter read with param("KEY", default)
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_kv)]
        set: Vec<(String, String)>,
        /// Write the lab's namespaces, and the links it makes in the host,
        /// under this prefix in the commands (ip netns add PREFIXqs-a), as
        /// `nslab run --prefix` makes them
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Check a script for errors without running it (no privileges needed)
    Check {
        /// The .rhai script
        file: PathBuf,
    },
    /// Print the script API reference (the same text help() shows)
    Docs {
        /// Print it as Markdown (docs/reference.md is made this way)
        #[arg(long, conflicts_with = "definitions")]
        markdown: bool,
        /// Write rhai definition files (*.d.rhai) into DIR instead, for
        /// editors with the rhai language server
        #[arg(long, value_name = "DIR")]
        definitions: Option<PathBuf>,
    },
    /// Print the completion script for a shell
    ///
    /// e.g. `nslab completions bash > ~/.local/share/bash-completion/completions/nslab`,
    /// `nslab completions zsh > ~/.zfunc/_nslab`,
    /// `nslab completions fish > ~/.config/fish/completions/nslab.fish`
    Completions {
        /// The shell to complete in
        shell: clap_complete::Shell,
    },
    /// Print nslab's man page (roff), e.g. `nslab man | man -l -`
    Man,
    /// Run lab scripts as tests: each file's lab is built, its test("…")
    /// checks run where they stand, and it is torn down; one line per check,
    /// a summary, exit code 0 only when every check passed
    Test {
        /// .rhai scripts, or directories of them
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Set a script parameter read with param("KEY", default)
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_kv)]
        set: Vec<(String, String)>,
        /// Run only the checks whose name contains WORD
        #[arg(long, value_name = "WORD")]
        filter: Option<String>,
        /// Also write the results as JUnit XML (for CI systems) to FILE
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Print one JSON object per check instead of text (the scripts'
        /// output goes in its "output" field)
        #[arg(long)]
        json: bool,
        /// Show what every check's script printed, not only a failed one's
        #[arg(short, long)]
        verbose: bool,
        /// Build the labs in private namespaces (the default when not root)
        #[arg(long)]
        isolated: bool,
        /// Put the lab's namespaces, and the links it makes in the host,
        /// under this prefix in the kernel (`ip netns list` shows PREFIXqs-a
        /// for netns("qs-a")): the script and its output keep their own
        /// names, so the tests run beside a copy of their
        /// labs. Each lab is then called PREFIX + its script's name
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List labs that are running, kept, or left behind by a dead process
    Ls {
        /// Print them as one JSON array (fields: docs/json.md)
        #[arg(long)]
        json: bool,
    },
    /// Show a kept or running lab as `show()` prints it: its namespaces,
    /// links, addresses, routes and rules, read from its journal and the kernel
    Show {
        /// The lab's name (see `nslab ls`)
        lab: String,
        /// Print it as JSON (fields: docs/json.md)
        #[arg(long)]
        json: bool,
    },
    /// Draw a lab: namespaces as nodes (host, router, switch), links as
    /// edges with their names and addresses. A script is run for real in
    /// isolated mode (no root needed) and drawn before its teardown; a lab
    /// name draws that kept or running lab
    Graph {
        /// A .rhai script, or the name of a kept or running lab
        target: String,
        /// What to print: Graphviz DOT, Mermaid, or SVG (drawn by nslab)
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Write it to FILE instead of standard output
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Set a script parameter read with param("KEY", default)
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_kv)]
        set: Vec<(String, String)>,
    },
    /// Print Kubernetes manifests (YAML) that run a script across machines
    ///
    /// A Secret with the agents' token, a ConfigMap with the script, a
    /// headless Service, a StatefulSet of privileged `nslab agent` pods and
    /// a Job that runs the script against them (`| kubectl apply -f -`).
    /// Machine m1 is the Job's own pod, the driver, so `--machines N` makes
    /// N-1 agents, m2..mN, one per pod.
    ///
    /// A StatefulSet rather than a DaemonSet: the script names machines
    /// (`netns("r3", #{on: "m2"})`), so each agent needs a name that stays
    /// put (pod LAB-agent-0 is always m2, reachable as
    /// LAB-agent-0.LAB-agents.NAMESPACE.svc.cluster.local through the
    /// headless Service), and the lab needs N-1 of them whatever the number
    /// of nodes, not one per node. The pods are spread over the nodes where
    /// the scheduler can.
    ///
    /// These manifests were checked for shape here (they parse, names and
    /// ports agree with the agents' flags), not run on a cluster.
    Kube(KubeArgs),
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

/// The options of `nslab kube`.
#[derive(clap::Args, Debug, Clone)]
pub struct KubeArgs {
    /// The .rhai script (checked as `nslab check` does, and shipped in
    /// a ConfigMap)
    pub file: PathBuf,
    /// How many machines the lab spans, the driver (m1) included: N-1
    /// agent pods, m2..mN
    #[arg(long, value_name = "N")]
    pub machines: u32,
    /// The container image, with `nslab` on its PATH (agents and driver)
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// Set a script parameter read with param("KEY", default), passed
    /// to the Job's `nslab run`
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub set: Vec<(String, String)>,
    /// Put this token in the Secret instead of a fresh random one
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The manifests' base name (a DNS-1123 label; default: the
    /// script's file name, made one)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The Kubernetes namespace the manifests go in (the agents' DNS
    /// names include it)
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,
}

/// The formats of `nslab graph`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Svg,
}

/// Bounds on what a script may use.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct LimitArgs {
    /// Stop the script after N operations (a guard against endless loops
    /// in scripts you did not write); 0, the default, is no limit
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_ops: u64,
    /// Stop the script when nslab holds more than this many MiB (its
    /// arrays, strings and maps)
    #[arg(long, value_name = "MIB", default_value_t = crate::limits::DEFAULT_MAX_MEM_MIB as u64,
          value_parser = clap::value_parser!(u64).range(16..))]
    pub max_mem: u64,
}

impl LimitArgs {
    pub fn limits(self) -> crate::engine::Limits {
        crate::engine::Limits {
            max_ops: self.max_ops,
            max_mem_mib: usize::try_from(self.max_mem).unwrap_or(usize::MAX),
        }
    }
}

/// `--machines`: each machine's name and its agent's ADDR:PORT.
#[derive(Debug, Clone, Default)]
pub struct Machines(pub Vec<(String, String)>);

/// `m2=192.0.2.2:7600,m3=host3:7600`.
fn parse_machines(s: &str) -> Result<Machines, String> {
    let mut v: Vec<(String, String)> = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let Some((name, addr)) = part.split_once('=') else {
            return Err(format!(
                "'{part}' is not NAME=ADDR:PORT (e.g. m2=192.0.2.2:7600)"
            ));
        };
        let ok_name = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok_name {
            return Err(format!(
                "'{name}' is not a machine name (letters, digits, - and _)"
            ));
        }
        if addr
            .rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            return Err(format!("'{addr}' is not ADDR:PORT (e.g. 192.0.2.2:7600)"));
        }
        if v.iter().any(|(n, _)| n == name) {
            return Err(format!("machine '{name}' is given twice"));
        }
        v.push((name.to_string(), addr.to_string()));
    }
    Ok(Machines(v))
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
    fn machines_are_name_equals_address_and_port() {
        let m = parse_machines("m2=192.0.2.2:7600,m3=agent-3.lab:7600").unwrap();
        assert_eq!(
            m.0,
            vec![
                ("m2".to_string(), "192.0.2.2:7600".to_string()),
                ("m3".to_string(), "agent-3.lab:7600".to_string())
            ]
        );
        for bad in [
            "m2",
            "m2=192.0.2.2",
            "m 2=1.2.3.4:5",
            "m2=a:1,m2=b:2",
            "=a:1",
        ] {
            assert!(parse_machines(bad).is_err(), "{bad}");
        }
    }

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

    /// What `quick` reads, clap reads the same; what it does not, it
    /// leaves to clap.
    #[test]
    fn the_quick_reading_agrees_with_clap() {
        let argv = |words: &[&str]| -> Vec<OsString> {
            std::iter::once("nslab")
                .chain(words.iter().copied())
                .map(OsString::from)
                .collect()
        };
        let same: [&[&str]; 5] = [
            &["run", "x.rhai"],
            &["run", "x.rhai", "--set", "a=1", "--set", "b=2=3", "--keep"],
            &["run", "--isolated", "--set=n=10", "x.rhai"],
            &["run", "--set", "a=", "x.rhai", "--keep", "--isolated"],
            &["run", "./dir/with space.rhai", "--set", "n=4"],
        ];
        for words in same {
            let args = argv(words);
            let quick = quick(&args).unwrap_or_else(|| panic!("not read quickly: {words:?}"));
            let clap = Cli::try_parse_from(&args).unwrap();
            assert_eq!(format!("{quick:?}"), format!("{clap:?}"), "{words:?}");
        }
        let to_clap: [&[&str]; 16] = [
            &["run"],
            &["run", "x.rhai", "y.rhai"],
            &["run", "x.rhai", "--keep", "--keep"],
            &["run", "x.rhai", "--set"],
            &["run", "x.rhai", "--set", "novalue"],
            &["run", "x.rhai", "--set", "=1"],
            &["run", "x.rhai", "--set", "-a=1"],
            &["run", "x.rhai", "--name", "other"],
            &["run", "x.rhai", "--max-ops", "10"],
            &["run", "-"],
            &["run", "--", "x.rhai"],
            &["run", "x.rhai", "-h"],
            &["run", "--help"],
            &["test", "x.rhai"],
            &["--version"],
            &[],
        ];
        for words in to_clap {
            assert!(quick(&argv(words)).is_none(), "read quickly: {words:?}");
        }
    }

    #[test]
    fn bad_set_is_a_usage_error() {
        let e = Cli::try_parse_from(["nslab", "run", "lab.rhai", "--set", "hosts"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn limits_are_options_of_run_and_repl() {
        let c = Cli::try_parse_from(["nslab", "run", "x.rhai", "--max-ops", "1000"]).unwrap();
        match c.cmd {
            Cmd::Run { limits, .. } => {
                assert_eq!(limits.max_ops, 1000);
                assert_eq!(limits.max_mem as usize, crate::limits::DEFAULT_MAX_MEM_MIB);
            }
            other => panic!("parsed as {other:?}"),
        }
        let c =
            Cli::try_parse_from(["nslab", "repl", "--max-ops", "5", "--max-mem", "64"]).unwrap();
        match c.cmd {
            Cmd::Repl { limits, .. } => assert_eq!((limits.max_ops, limits.max_mem), (5, 64)),
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["nslab", "run", "x.rhai", "--max-ops", "-1"]).is_err());
        assert!(Cli::try_parse_from(["nslab", "run", "x.rhai", "--max-mem", "1"]).is_err());
    }

    #[test]
    fn graph_takes_a_format_an_output_and_sets() {
        let c = Cli::try_parse_from([
            "nslab", "graph", "lab.rhai", "--format", "svg", "-o", "lab.svg", "--set", "n=2",
        ])
        .unwrap();
        match c.cmd {
            Cmd::Graph {
                target,
                format,
                output,
                set,
            } => {
                assert_eq!(target, "lab.rhai");
                assert_eq!(format, GraphFormat::Svg);
                assert_eq!(output, Some(PathBuf::from("lab.svg")));
                assert_eq!(set, [("n".to_string(), "2".to_string())]);
            }
            other => panic!("parsed as {other:?}"),
        }
        let c = Cli::try_parse_from(["nslab", "graph", "mylab"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Graph {
                format: GraphFormat::Dot,
                ..
            }
        ));
        assert!(Cli::try_parse_from(["nslab", "graph", "x", "--format", "png"]).is_err());
        assert!(Cli::try_parse_from(["nslab", "show", "lab", "--json"]).is_ok());
        assert!(Cli::try_parse_from(["nslab", "ls", "--json"]).is_ok());
    }

    #[test]
    fn repl_attaches_by_lab_name() {
        let c = Cli::try_parse_from(["nslab", "repl", "--attach", "web"]).unwrap();
        match c.cmd {
            Cmd::Repl { attach, file, .. } => {
                assert_eq!(attach.as_deref(), Some("web"));
                assert!(file.is_none());
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["nslab", "repl", "--attach"]).is_err());
    }

    #[test]
    fn prefix_is_an_option_of_the_commands_that_build() {
        for args in [
            &["nslab", "run", "x.rhai", "--prefix", "b-"][..],
            &["nslab", "plan", "x.rhai", "--prefix", "b-"],
            &["nslab", "test", "x.rhai", "--prefix", "b-"],
            &["nslab", "repl", "--prefix", "b-"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
        // An attached session is the kept lab, under its own prefix.
        assert!(Cli::try_parse_from(["nslab", "repl", "--attach", "L", "--prefix", "b-"]).is_err());
    }

    #[test]
    fn kube_needs_machines_and_an_image() {
        let c = Cli::try_parse_from([
            "nslab",
            "kube",
            "--machines",
            "3",
            "lab.rhai",
            "--image",
            "i",
            "--set",
            "n=2",
        ])
        .unwrap();
        match c.cmd {
            Cmd::Kube(a) => {
                assert_eq!((a.machines, a.image.as_str()), (3, "i"));
                assert_eq!(a.set, [("n".to_string(), "2".to_string())]);
                assert_eq!(a.namespace, "default");
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["nslab", "kube", "lab.rhai", "--image", "i"]).is_err());
        assert!(Cli::try_parse_from(["nslab", "kube", "--machines", "3", "lab.rhai"]).is_err());
        assert!(
            Cli::try_parse_from(["nslab", "kube", "--machines", "-1", "x", "--image", "i"])
                .is_err()
        );
    }

    #[test]
    fn down_needs_a_lab_or_all() {
        assert!(Cli::try_parse_from(["nslab", "down"]).is_err());
        assert!(Cli::try_parse_from(["nslab", "down", "--all"]).is_ok());
        assert!(Cli::try_parse_from(["nslab", "down", "x", "--all"]).is_err());
    }
}
