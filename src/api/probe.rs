//! Probes: ns.ping() and ns.exec().

use std::fmt::Write as _;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use rhai::{Array, Dynamic, Map};

use super::addr::parse_ip;
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err};
use crate::lab::{self, PingOpts, PingReport, RunOpts};

fn ping_opts(opts: &Map, dst: IpAddr) -> Res<PingOpts> {
    let mut o = lab::default_ping();
    for (k, v) in opts {
        if k.as_str() == "src" {
            o.src = Some(super::socket::src_opt(v, dst)?);
            continue;
        }
        if k.as_str() == "dev" {
            o.dev = Some(
                v.clone()
                    .into_string()
                    .map_err(|t| {
                        bad(
                            format!("ping option 'dev' must be a link's name, not {t}"),
                            "e.g. #{dev: \"eth1\"}: the echoes leave by that link (ping -I eth1)",
                        )
                    })?
                    .to_string(),
            );
            continue;
        }
        if k.as_str() == "ttl" {
            let n = v.as_int().unwrap_or(0);
            o.ttl = Some(u8::try_from(n).ok().filter(|t| *t > 0).ok_or_else(|| {
                bad(
                    format!("ping option 'ttl' = {v} is out of range"),
                    "a TTL (IPv6: hop limit) is 1..=255, e.g. #{ttl: 1} reaches the first router only",
                )
            })?);
            continue;
        }
        if k.as_str() == "df" {
            o.df = v.as_bool().map_err(|t| {
                bad(
                    format!("ping option 'df' must be true or false, not {t}"),
                    "e.g. #{size: 1400, df: true}",
                )
            })?;
            continue;
        }
        let n = v.as_int().map_err(|t| {
            bad(
                format!("ping option '{k}' must be a number, not {t}"),
                "e.g. #{count: 3, timeout_ms: 1000}",
            )
        })?;
        let ms = |n: i64| -> Res<Duration> {
            u64::try_from(n)
                .ok()
                .filter(|n| *n > 0 && *n <= 60_000)
                .map(Duration::from_millis)
                .ok_or_else(|| {
                    bad(
                        format!("{k} = {n} is out of range"),
                        "use 1..=60000 milliseconds",
                    )
                })
        };
        match k.as_str() {
            "count" => {
                o.count = u32::try_from(n)
                    .ok()
                    .filter(|c| (1..=10_000).contains(c))
                    .ok_or_else(|| {
                        bad(
                            format!("count = {n} is out of range"),
                            "ping sends 1..=10000 packets",
                        )
                    })?;
            }
            "timeout_ms" => o.timeout = ms(n)?,
            "interval_ms" => o.interval = ms(n)?,
            "size" => o.size = payload_size(n)?,
            other => {
                return Err(bad(
                    format!("unknown ping option '{other}'"),
                    "ping options are count, timeout_ms, interval_ms, size, df, src, ttl and dev",
                ));
            }
        }
    }
    Ok(o)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The ping result as a map, with `output` holding what `ping` would print
/// and, when no reply came, `trace` the path both ways.
fn ping_map(
    dst: IpAddr,
    from: &str,
    size: usize,
    r: &PingReport,
    trace: Option<&crate::explain::Trace>,
) -> Map {
    let received = r.replies.len() as u32;
    let loss = ((r.sent - received.min(r.sent)) * 100)
        .checked_div(r.sent)
        .unwrap_or(100);
    let rtts: Vec<f64> = r.replies.iter().map(|x| ms(x.rtt)).collect();
    let (min, avg, max) = if rtts.is_empty() {
        (None, None, None)
    } else {
        let min = rtts.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().cloned().fold(0.0, f64::max);
        (
            Some(min),
            Some(rtts.iter().sum::<f64>() / rtts.len() as f64),
            Some(max),
        )
    };
    let mut out = format!("PING {dst} from {from}: {size} data bytes\n");
    for x in &r.replies {
        let ttl = x.ttl.map(|t| format!(" ttl={t}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{} bytes from {}: icmp_seq={}{ttl} time={:.3} ms",
            x.bytes,
            x.from,
            x.seq,
            ms(x.rtt)
        );
    }
    if let Some(e) = &r.error {
        let _ = writeln!(out, "ping: {e}");
    }
    let _ = writeln!(out, "--- {dst} ping statistics ---");
    let _ = write!(
        out,
        "{} packets transmitted, {received} received, {loss}% packet loss",
        r.sent
    );
    if let (Some(a), Some(b), Some(c)) = (min, avg, max) {
        let _ = write!(out, "\nrtt min/avg/max = {a:.3}/{b:.3}/{c:.3} ms");
    }
    if let Some(why) = &r.why {
        let _ = write!(out, "\nwhy: {why}");
    }
    if let Some(t) = trace {
        let _ = write!(out, "\npath: {}", t.draw());
        if let Some(f) = t.reason() {
            let _ = write!(out, "\nhelp: {}", f.help);
        }
    }
    let f = |v: Option<f64>| v.map(Dynamic::from_float).unwrap_or(Dynamic::UNIT);
    let mut m = Map::new();
    m.insert("ok".into(), (received > 0).into());
    m.insert("dst".into(), dst.to_string().into());
    m.insert("sent".into(), Dynamic::from_int(i64::from(r.sent)));
    m.insert("received".into(), Dynamic::from_int(i64::from(received)));
    m.insert("loss".into(), Dynamic::from_int(i64::from(loss)));
    m.insert("rtt_min".into(), f(min));
    m.insert("rtt_avg".into(), f(avg));
    m.insert("rtt_max".into(), f(max));
    m.insert(
        "error".into(),
        r.error.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT),
    );
    m.insert(
        "why".into(),
        r.why.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT),
    );
    m.insert("busy".into(), r.busy.into());
    m.insert(
        "trace".into(),
        trace
            .map(|t| Dynamic::from_array(super::explain::hops(t)))
            .unwrap_or(Dynamic::UNIT),
    );
    // Each reply's TTL (IPv6: hop limit), as ping's ttl= shows it.
    m.insert(
        "ttl".into(),
        r.replies
            .first()
            .and_then(|x| x.ttl)
            .map(|t| Dynamic::from_int(i64::from(t)))
            .unwrap_or(Dynamic::UNIT),
    );
    let replies: rhai::Array = r
        .replies
        .iter()
        .map(|x| {
            let mut e = Map::new();
            e.insert("seq".into(), Dynamic::from_int(i64::from(x.seq)));
            e.insert(
                "ttl".into(),
                x.ttl
                    .map(|t| Dynamic::from_int(i64::from(t)))
                    .unwrap_or(Dynamic::UNIT),
            );
            e.insert("from".into(), x.from.to_string().into());
            e.insert("bytes".into(), Dynamic::from_int(x.bytes as i64));
            e.insert("rtt_ms".into(), Dynamic::from_float(ms(x.rtt)));
            Dynamic::from_map(e)
        })
        .collect();
    m.insert("replies".into(), replies.into());
    m.insert("output".into(), out.into());
    m
}

/// "ping 10.0.0.2: 3/3 replies, 0% loss, rtt min/avg/max 0.031/0.052/0.078 ms"
/// for a map that is a ping result.
pub fn ping_summary(m: &Map) -> Option<String> {
    let get = |k: &str| m.get(k);
    let (dst, sent, received, loss) = (
        get("dst")?.to_string(),
        get("sent")?.as_int().ok()?,
        get("received")?.as_int().ok()?,
        get("loss")?.as_int().ok()?,
    );
    get("rtt_avg")?;
    let mut s = format!("ping {dst}: {received}/{sent} replies, {loss}% loss");
    if let (Ok(a), Ok(b), Ok(c)) = (
        get("rtt_min")?.as_float(),
        get("rtt_avg")?.as_float(),
        get("rtt_max")?.as_float(),
    ) {
        let _ = write!(s, ", rtt min/avg/max {a:.3}/{b:.3}/{c:.3} ms");
    }
    if let Some(e) = get("error").filter(|e| !e.is_unit()) {
        let _ = write!(s, " ({e})");
    }
    if let Some(why) = get("why").filter(|w| !w.is_unit()) {
        let _ = write!(s, "; {why}");
    }
    Some(s)
}

fn exec_map(o: lab::Output) -> Map {
    let mut m = Map::new();
    m.insert("code".into(), Dynamic::from_int(o.code));
    m.insert("ok".into(), (o.code == 0).into());
    m.insert("stdout".into(), o.stdout.into());
    m.insert("stderr".into(), o.stderr.into());
    m
}

/// `#{timeout_ms, stdin, env}` of ns.exec, checked whole.
fn exec_opts(opts: &Map) -> Res<RunOpts> {
    let mut o = RunOpts::default();
    for (k, v) in opts {
        match k.as_str() {
            "timeout_ms" => {
                let n = v.as_int().map_err(|t| {
                    bad(
                        format!("exec option timeout_ms must be a number, not {t}"),
                        "e.g. #{timeout_ms: 5000}",
                    )
                })?;
                let ms = u64::try_from(n)
                    .ok()
                    .filter(|n| (1..=86_400_000).contains(n))
                    .ok_or_else(|| {
                        bad(
                            format!("timeout_ms = {n} is out of range"),
                            "use 1..=86400000 milliseconds (a day)",
                        )
                    })?;
                o.timeout = Some(Duration::from_millis(ms));
            }
            "stdin" => {
                let s = v.clone().into_string().map_err(|t| {
                    bad(
                        format!("exec option stdin must be a string, not {t}"),
                        "e.g. #{stdin: \"line 1\\nline 2\\n\"}",
                    )
                })?;
                o.stdin = Some(s.into_bytes());
            }
            "env" => {
                let m = v.clone().try_cast::<Map>().ok_or_else(|| {
                    bad(
                        format!("exec option env must be a map, not {}", v.type_name()),
                        "e.g. #{env: #{LANG: \"C\", PORT: 8080}}",
                    )
                })?;
                for (name, value) in m {
                    if name.is_empty() || name.contains('=') || name.contains('\0') {
                        return Err(bad(
                            format!("'{name}' is not a valid environment variable name"),
                            "names are non-empty, without '=' or NUL, e.g. LANG",
                        ));
                    }
                    let value = if value.is_string() {
                        value.into_string().map_err(|t| bad(t, ""))?
                    } else if value.is_int() || value.is_float() || value.is_bool() {
                        value.to_string()
                    } else {
                        return Err(bad(
                            format!(
                                "environment variable {name} must be a string, not {}",
                                value.type_name()
                            ),
                            "give its value in quotes: #{env: #{LANG: \"C\"}}",
                        ));
                    };
                    if value.contains('\0') {
                        return Err(bad(
                            format!("environment variable {name} contains a NUL byte"),
                            "environment values cannot hold NUL",
                        ));
                    }
                    o.env.push((name.to_string(), value));
                }
            }
            other => {
                return Err(bad(
                    format!("unknown exec option '{other}'"),
                    "exec options are timeout_ms, stdin and env",
                ));
            }
        }
    }
    Ok(o)
}

fn argv(items: Array) -> Res<Vec<String>> {
    if items.is_empty() {
        return Err(bad(
            "the command array is empty",
            "give the program and its arguments: [\"ip\", \"addr\"]",
        ));
    }
    items
        .into_iter()
        .map(|v| {
            if v.is_string() {
                v.into_string().map_err(|t| bad(t, ""))
            } else if v.is_int() || v.is_float() || v.is_bool() {
                Ok(v.to_string())
            } else {
                Err(bad(
                    format!("command arguments must be strings, not {}", v.type_name()),
                    "write each argument in quotes: [\"ip\", \"addr\"]",
                ))
            }
        })
        .collect()
}

/// A process started by ns.spawn().
#[derive(Clone)]
pub struct Process {
    id: lab::ProcId,
    /// The machine it runs on, when its namespace is placed on another.
    on: Option<String>,
}

impl Process {
    /// The lab's handle on it.
    pub(super) fn id(&self) -> lab::ProcId {
        self.id
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.id, &self.on) {
            (lab::ProcId::Here(i), _) => write!(f, "Process(#{})", i + 1),
            (lab::ProcId::Placed(i), Some(m)) => write!(f, "Process(#{} on {m})", i + 1),
            (lab::ProcId::Placed(i), None) => write!(f, "Process(#{} placed)", i + 1),
        }
    }
}

/// `ns.spawn(argv)`, here or on the machine ns is placed on.
fn spawn(c: &Ctx, ns: &Netns, argv: &[String]) -> Res<Process> {
    let mut lab = c.lab()?;
    let id = lab.spawn(ns.id, argv).map_err(err)?;
    Ok(Process {
        id,
        on: lab.machine_of(ns.id).map(str::to_string),
    })
}

fn process_field(
    c: &Ctx,
    p: &Process,
    f: impl Fn(u32, bool, String, String) -> Dynamic,
) -> Res<Dynamic> {
    let (pid, running, out, e) = c.lab()?.process_state(p.id).map_err(err)?;
    Ok(f(pid, running, out, e))
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    r.engine.register_type_with_name::<Process>("Process");
    // print(p) and the REPL show "Process(#1)", not the Rust type's path.
    r.engine
        .register_fn("to_string", |p: &mut Process| p.to_string());
    r.engine
        .register_fn("to_debug", |p: &mut Process| p.to_string());
    let spawn_doc = Doc {
        area: "probes",
        name: "spawn",
        sig: "ns.spawn(\"cmd\") / ns.spawn([\"prog\", \"arg\"]) -> Process",
        doc: "Start a background process in ns (a server, a capture); p.stdout/p.stderr hold its output so far, p.running, p.pid, p.stop(). At teardown it is stopped with everything it started; in a kept lab (--keep, keep()) it runs on, its output going to files in /run/nslab/LAB.out, until `nslab down LAB`.",
        example: "let srv = ns2.spawn(\"python3 -m http.server 80\"); ...; print(srv.stderr);",
    };
    let c = ctx.clone();
    r.func(
        spawn_doc.clone(),
        move |ns: &mut Netns, cmd: &str| -> Res<Process> { spawn(&c, ns, &lab::shell(cmd)) },
    );
    let c = ctx.clone();
    r.func(
        spawn_doc,
        move |ns: &mut Netns, items: Array| -> Res<Process> { spawn(&c, ns, &argv(items)?) },
    );
    for (name, doc, example) in [
        (
            "pid",
            "The process id of a spawned process.",
            "let srv = h2.spawn(\"sleep 30\"); print(`server is pid ${srv.pid}`);",
        ),
        (
            "running",
            "Is the spawned process still running?",
            "let srv = h2.spawn(\"python3 -m http.server 80\"); if !srv.running { throw srv.stderr; }",
        ),
        (
            "stdout",
            "What the spawned process wrote to stdout so far.",
            "let srv = h2.spawn(\"echo ready\"); sleep(0.1); print(srv.stdout);",
        ),
        (
            "stderr",
            "What the spawned process wrote to stderr so far.",
            "let srv = h2.spawn(\"python3 -m http.server 80\"); print(srv.stderr);",
        ),
    ] {
        let c = ctx.clone();
        r.getter(
            Doc {
                area: "probes",
                name,
                sig: match name {
                    "pid" => "p.pid -> int",
                    "running" => "p.running -> bool",
                    "stdout" => "p.stdout -> string",
                    _ => "p.stderr -> string",
                },
                doc,
                example,
            },
            move |p: &mut Process| -> Res<Dynamic> {
                process_field(&c, p, |pid, running, out, err| match name {
                    "pid" => Dynamic::from_int(i64::from(pid)),
                    "running" => Dynamic::from_bool(running),
                    "stdout" => Dynamic::from(out),
                    _ => Dynamic::from(err),
                })
            },
        );
    }
    let c = ctx.clone();
    r.func(
        Doc {
            area: "probes",
            name: "stop",
            sig: "p.stop()",
            doc: "Stop a spawned process now (SIGKILL to its process group).",
            example: "srv.stop();",
        },
        move |p: &mut Process| -> Res<()> { c.lab()?.stop_process(p.id).map_err(err) },
    );
    let ping_doc = Doc {
        area: "probes",
        name: "ping",
        sig: "ns.ping(ip) / ns.ping(ip, #{count, timeout_ms, interval_ms, size, df, src, ttl, dev}) -> #{ok, sent, received, loss, rtt_min, rtt_avg, rtt_max, ttl, replies, why, busy, trace, output}",
        doc: "Ping ip from ns with a native ICMP socket (`ip netns exec NS ping -c 3 IP`); rtt in ms, ttl the first reply's TTL (IPv6: hop limit, as ping's ttl=), replies each reply's #{seq, ttl, from, bytes, rtt_ms}, output is what ping prints. Options ttl (`ping -t`: 1 reaches the first router, which answers \"Time to live exceeded\") and dev (`ping -I DEV`: out of that link only). src: the address of ns the echoes leave from (`ping -I SRC`, e.g. a loopback address), so the replies must find their way back to it; the trace then follows them there. size: bytes of data in each echo (`ping -s`, 56 by default); df: true sends them whole or not at all (`ping -M do`: don't fragment, so a link on the way with a smaller MTU loses them and the trace names it). Waits first until the links brought up since can carry traffic. When packets are lost, why says which machine-wide kernel limit was hit meanwhile (neighbour table full, backlog drops); when no reply came and no such limit explains it, why is the reason read from the kernel along the path and trace the hops both ways (as ns.trace gives them); else both are (). busy is true when echoes were lost while such a limit was hit. When every echo was lost that way and nothing on the path loses them, one echo more is sent, up to 4 times, 50 ms apart (each waiting timeout_ms), before the answer is no; when every echo was lost while a neighbour on the path was still being asked for (its entry INCOMPLETE: right after a build on a busy machine), one echo more waits 3 s, as long as the kernel keeps asking; sent and received count them.",
        example: "let r = ns1.ping(\"10.0.0.2\"); print(r.output); if !r.ok { throw \"no answer\"; }",
    };
    let c = ctx.clone();
    r.func(
        ping_doc.clone(),
        move |ns: &mut Netns, dst: &str| -> Res<Map> {
            let ip = parse_ip(dst, "ping target")?;
            let o = lab::default_ping();
            let (rep, t) = c.lab()?.ping_traced(ns.id, ip, &o).map_err(err)?;
            Ok(ping_map(ip, &ns.name, o.size, &rep, t.as_ref()))
        },
    );
    let c = ctx.clone();
    r.func(
        ping_doc,
        move |ns: &mut Netns, dst: &str, opts: Map| -> Res<Map> {
            let ip = parse_ip(dst, "ping target")?;
            let o = ping_opts(&opts, ip)?;
            let (rep, t) = c.lab()?.ping_traced(ns.id, ip, &o).map_err(err)?;
            let from = match o.src {
                Some(s) => format!("{s} ({})", ns.name),
                None => ns.name.to_string(),
            };
            Ok(ping_map(ip, &from, o.size, &rep, t.as_ref()))
        },
    );
    let exec_doc = Doc {
        area: "probes",
        name: "exec",
        sig: "ns.exec(\"cmd\") / ns.exec([\"prog\", \"arg\"]) / ns.exec(cmd, #{timeout_ms, stdin, env}) -> #{code, ok, stdout, stderr}",
        doc: "Run a command inside ns and capture its output (`ip netns exec NS sh -c CMD`); an array runs the program without a shell. Returns when the command exits: what it leaves in the background (`cmd &`) is stopped at teardown. Options: timeout_ms (kill it and fail past that), stdin (a string fed to it), env (a map of variables).",
        example: "let r = ns1.exec(\"cat /proc/net/dev\"); print(r.stdout);",
    };
    let c = ctx.clone();
    r.func(
        exec_doc.clone(),
        move |ns: &mut Netns, cmd: &str| -> Res<Map> {
            let argv = lab::shell(cmd);
            let opts = RunOpts::default();
            Ok(exec_map(c.lab()?.exec(ns.id, &argv, &opts).map_err(err)?))
        },
    );
    let c = ctx.clone();
    r.func(
        exec_doc.clone(),
        move |ns: &mut Netns, items: Array| -> Res<Map> {
            let argv = argv(items)?;
            let opts = RunOpts::default();
            Ok(exec_map(c.lab()?.exec(ns.id, &argv, &opts).map_err(err)?))
        },
    );
    let c = ctx.clone();
    r.func(
        exec_doc.clone(),
        move |ns: &mut Netns, cmd: &str, opts: Map| -> Res<Map> {
            let argv = lab::shell(cmd);
            let opts = exec_opts(&opts)?;
            Ok(exec_map(c.lab()?.exec(ns.id, &argv, &opts).map_err(err)?))
        },
    );
    let c = ctx.clone();
    r.func(
        exec_doc,
        move |ns: &mut Netns, items: Array, opts: Map| -> Res<Map> {
            let argv = argv(items)?;
            let opts = exec_opts(&opts)?;
            Ok(exec_map(c.lab()?.exec(ns.id, &argv, &opts).map_err(err)?))
        },
    );
    let run_doc = Doc {
        area: "probes",
        name: "run",
        sig: "ns.run(\"cmd\") / ns.run([\"prog\", \"arg\"]) / ns.run(cmd, #{timeout_ms, stdin, env}) -> stdout",
        doc: "Run a command inside ns as exec does and return its standard output; a non-zero exit is an error at the line that shows the exit code and the end of its standard error. For steps that must work (`set -e` in a tutorial).",
        example: "let mac = ns1.run(\"cat /sys/class/net/eth0/address\");",
    };
    let c = ctx.clone();
    r.func(
        run_doc.clone(),
        move |ns: &mut Netns, cmd: &str| -> Res<String> {
            let argv = lab::shell(cmd);
            ran(&argv, c.lab()?.exec(ns.id, &argv, &RunOpts::default()))
        },
    );
    let c = ctx.clone();
    r.func(
        run_doc.clone(),
        move |ns: &mut Netns, items: Array| -> Res<String> {
            let argv = argv(items)?;
            ran(&argv, c.lab()?.exec(ns.id, &argv, &RunOpts::default()))
        },
    );
    let c = ctx.clone();
    r.func(
        run_doc.clone(),
        move |ns: &mut Netns, cmd: &str, opts: Map| -> Res<String> {
            let argv = lab::shell(cmd);
            let opts = exec_opts(&opts)?;
            ran(&argv, c.lab()?.exec(ns.id, &argv, &opts))
        },
    );
    let c = ctx.clone();
    r.func(
        run_doc,
        move |ns: &mut Netns, items: Array, opts: Map| -> Res<String> {
            let argv = argv(items)?;
            let opts = exec_opts(&opts)?;
            ran(&argv, c.lab()?.exec(ns.id, &argv, &opts))
        },
    );
}

/// ns.run's answer: the output of a command that succeeded, else an error
/// with its exit code and the end of what it said on stderr.
fn ran(argv: &[String], out: crate::lab::Result<lab::Output>) -> Res<String> {
    let out = out.map_err(err)?;
    if out.code == 0 {
        return Ok(out.stdout);
    }
    let shown = match argv {
        [sh, c, line] if sh == "sh" && c == "-c" => line.clone(),
        _ => argv.join(" "),
    };
    let tail: Vec<&str> = out.stderr.lines().rev().take(5).collect();
    let said = if tail.is_empty() {
        " and printed nothing on stderr".to_string()
    } else {
        let lines: Vec<&str> = tail.into_iter().rev().collect();
        format!(": {}", lines.join(" / "))
    };
    let help = if switched_user(&out.stderr) {
        crate::isolate::ids::own_only_help()
    } else {
        "fix the command, or use ns.exec(…) when a failure is an answer (it returns #{code, stdout, stderr})".into()
    };
    Err(bad(
        format!("command '{shown}' exited with code {}{said}", out.code),
        help,
    ))
}

/// Did a program fail to switch to a user of its own in a lab that maps
/// only the caller's id (rootless without subordinate ids)? Such a lab has
/// no other user: the fix is outside the script.
fn switched_user(stderr: &str) -> bool {
    const SAID: [&str; 7] = [
        "setresuid",
        "setresgid",
        "setgroups",
        "setuid",
        "setgid",
        "privs_init",
        "initgroups",
    ];
    crate::isolate::ids() == Some(crate::isolate::ids::Ids::OwnOnly)
        && !crate::isolate::is_root_outside()
        && SAID.iter().any(|w| stderr.contains(w))
}

/// The `size` option of ping and the probes: data bytes in one echo.
pub(super) fn payload_size(n: i64) -> Res<usize> {
    usize::try_from(n)
        .ok()
        .filter(|s| *s <= lab::MAX_PAYLOAD)
        .ok_or_else(|| {
            bad(
                format!("size = {n} is out of range"),
                format!("a ping carries 0..={} bytes of data", lab::MAX_PAYLOAD),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_takes_size_and_df() {
        let mut m = Map::new();
        m.insert("size".into(), Dynamic::from_int(1400));
        m.insert("df".into(), Dynamic::from_bool(true));
        let dst = "10.0.0.2".parse().unwrap();
        let o = ping_opts(&m, dst).unwrap();
        assert_eq!((o.size, o.df), (1400, true));
        m.insert("df".into(), Dynamic::from_int(1));
        let e = ping_opts(&m, dst).unwrap_err();
        assert!(super::super::message_of(&e).contains("'df' must be true or false"));
        m.remove("df");
        m.insert("size".into(), Dynamic::from_int(-1));
        let e = ping_opts(&m, dst).unwrap_err();
        assert!(super::super::message_of(&e).contains("size = -1 is out of range"));
    }

    #[test]
    fn why_reaches_the_map_the_output_and_the_summary() {
        let lost = PingReport {
            sent: 3,
            why: Some("the kernel's neighbour table is full".into()),
            ..Default::default()
        };
        let m = ping_map("10.0.0.2".parse().unwrap(), "a", 56, &lost, None);
        assert_eq!(
            m["why"].clone().into_string().unwrap(),
            "the kernel's neighbour table is full"
        );
        let out = m["output"].clone().into_string().unwrap();
        assert!(
            out.ends_with("\nwhy: the kernel's neighbour table is full"),
            "{out}"
        );
        assert_eq!(
            ping_summary(&m).unwrap(),
            "ping 10.0.0.2: 0/3 replies, 100% loss; the kernel's neighbour table is full"
        );
        // Nothing found: () and no mention.
        let m = ping_map(
            "10.0.0.2".parse().unwrap(),
            "a",
            56,
            &PingReport {
                sent: 3,
                ..Default::default()
            },
            None,
        );
        assert!(m["why"].is_unit());
        assert!(!ping_summary(&m).unwrap().contains(';'));
    }
}
