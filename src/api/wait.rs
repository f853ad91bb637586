//! wait_until(|| …) and ns.wait_route(…): waiting for a lab to converge
//! (a routing daemon's routes, a server coming up) without a hand-written
//! loop of sleeps.

use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, FnPtr, Map, NativeCallContext};

use super::addr::str_opt;
use super::probe::Process;
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err};
use crate::lab::ROUTE_PROTOCOLS;

/// `#{timeout_ms, every_ms}` of wait_until: 30 s and 200 ms by default.
fn until_opts(m: &Map) -> Res<(Duration, Duration)> {
    let mut timeout = Duration::from_millis(30_000);
    let mut every = Duration::from_millis(200);
    for (k, v) in m {
        match k.as_str() {
            "timeout_ms" => timeout = super::socket::timeout_opt(v, 3_600_000)?,
            "every_ms" => {
                every = v
                    .as_int()
                    .ok()
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|n| (1..=60_000).contains(n))
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        bad(
                            format!("every_ms = {v} is out of range"),
                            "use 1..=60000 milliseconds between two calls",
                        )
                    })?
            }
            other => {
                return Err(bad(
                    format!("unknown wait_until option '{other}'"),
                    "the options are timeout_ms and every_ms",
                ));
            }
        }
    }
    Ok((timeout, every))
}

/// What a closure returned, as the REPL would show it, short.
fn shown(v: &Dynamic) -> String {
    let s = super::show_value(v, &|_| None);
    let s = crate::text::clip(&s, 120).into_owned();
    if v.is_bool() {
        s
    } else {
        format!("{s} (a {}, not true)", v.type_name())
    }
}

fn wait_until(
    c: &Ctx,
    cx: &NativeCallContext,
    f: &FnPtr,
    timeout: Duration,
    every: Duration,
) -> Res<()> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut tries = 0u32;
    loop {
        let v = f.call_within_context::<Dynamic>(cx, ())?;
        tries += 1;
        if v.as_bool() == Ok(true) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(bad(
                format!(
                    "wait_until: not true after {} ms ({tries} calls); the closure returned {} last",
                    timeout.as_millis(),
                    shown(&v)
                ),
                "the closure must return true once the lab is ready: check what it tests (print it inside), or give it longer with #{timeout_ms: 60000}",
            ));
        }
        c.lab()?.pause(every.min(deadline - now)).map_err(err)?;
    }
}

/// A route protocol by its name in /etc/iproute2/rt_protos, or its number.
fn protocol_of(v: &Dynamic) -> Res<u8> {
    let names = || {
        ROUTE_PROTOCOLS
            .iter()
            .map(|(w, n)| format!("{w} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Ok(n) = v.as_int() {
        return u8::try_from(n).map_err(|_| {
            bad(
                format!("protocol {n} is out of range"),
                "a route's protocol is 0..=255, or a name: ospf, bgp, static, kernel, …",
            )
        });
    }
    let s = str_opt(v, "protocol")?;
    ROUTE_PROTOCOLS
        .iter()
        .find(|(w, _)| *w == s.to_ascii_lowercase())
        .map(|(_, n)| *n)
        .ok_or_else(|| {
            bad(
                format!("unknown route protocol '{}'", crate::text::clip(&s, 40)),
                format!("use one of {}, or a number", names()),
            )
        })
}

/// `#{timeout_ms, protocol}` of wait_route: 30 s, any protocol.
fn route_opts(m: &Map) -> Res<(Duration, Option<u8>)> {
    let mut timeout = Duration::from_millis(30_000);
    let mut protocol = None;
    for (k, v) in m {
        match k.as_str() {
            "timeout_ms" => timeout = super::socket::timeout_opt(v, 3_600_000)?,
            "protocol" => protocol = Some(protocol_of(v)?),
            other => {
                return Err(bad(
                    format!("unknown wait_route option '{other}'"),
                    "the options are timeout_ms and protocol",
                ));
            }
        }
    }
    Ok((timeout, protocol))
}

/// `#{timeout_ms, process}` of wait_socket: 5 s, no process.
fn socket_opts(m: &Map) -> Res<(Duration, Option<crate::lab::ProcId>)> {
    let mut timeout = Duration::from_millis(5000);
    let mut process = None;
    for (k, v) in m {
        match k.as_str() {
            "timeout_ms" => timeout = super::socket::timeout_opt(v, 3_600_000)?,
            "process" => {
                let p = v.clone().try_cast::<Process>().ok_or_else(|| {
                    bad(
                        format!("process must be a Process, not {}", v.type_name()),
                        "give the handle ns.spawn(…) returned: #{process: p}",
                    )
                })?;
                process = Some(p.id());
            }
            other => {
                return Err(bad(
                    format!("unknown wait_socket option '{other}'"),
                    "the options are timeout_ms and process",
                ));
            }
        }
    }
    Ok((timeout, process))
}

fn wait_socket(c: &Ctx, ns: &Netns, path: &str, m: &Map) -> Res<()> {
    let (timeout, process) = socket_opts(m)?;
    c.lab()?
        .wait_socket(ns.id, path, timeout, process)
        .map_err(err)
}

fn wait_route(c: &Ctx, ns: &Netns, dst: &str, m: &Map) -> Res<()> {
    let (timeout, protocol) = route_opts(m)?;
    let net = super::routing::parse_dst(dst, None)?;
    c.lab()?
        .wait_route(ns.id, net, protocol, timeout)
        .map_err(err)
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let route_doc = Doc {
        area: "routing",
        name: "wait_route",
        sig: "ns.wait_route(dst) / ns.wait_route(dst, #{timeout_ms, protocol})",
        doc: "Return once dst (a prefix, an address or \"default\") is a route in ns's tables (`ip route show table all`), installed by protocol when given (\"ospf\", \"bgp\", \"isis\", \"rip\", \"static\", \"kernel\", \"boot\", \"zebra\", … as /etc/iproute2/rt_protos names them, or a number): the wait for a routing daemon to converge. Past timeout_ms (30000) an error at this line says what the table has instead: the route from another protocol, the nearest route that covers it, or none.",
        example: "r1.wait_route(\"10.255.0.3/32\", #{protocol: \"ospf\", timeout_ms: 60000});",
    };
    let c = ctx.clone();
    r.func(
        route_doc.clone(),
        move |ns: &mut Netns, dst: &str| -> Res<()> { wait_route(&c, ns, dst, &Map::new()) },
    );
    let c = ctx.clone();
    r.func(
        route_doc,
        move |ns: &mut Netns, dst: &str, m: Map| -> Res<()> { wait_route(&c, ns, dst, &m) },
    );
    let socket_doc = Doc {
        area: "probes",
        name: "wait_socket",
        sig: "ns.wait_socket(path) / ns.wait_socket(path, #{timeout_ms, process})",
        doc: "Return once a program listens on the unix socket at path, as ns's programs see it (inside its private directories too): the step between ns.spawn(daemon) and its first client (vtysh, birdc), checked by connecting from nslab itself every 5 ms, with no process per look. process: the Process that should open it; if it exits meanwhile, an error at this line with the last lines it printed. Past timeout_ms (5000) an error says what is at path (no file, or a socket nobody listens on).",
        example: "let p = r1.spawn([\"/usr/sbin/bird\", \"-f\", \"-s\", \"/run/bird/bird.ctl\"]); r1.wait_socket(\"/run/bird/bird.ctl\", #{process: p});",
    };
    let c = ctx.clone();
    r.func(
        socket_doc.clone(),
        move |ns: &mut Netns, path: &str| -> Res<()> { wait_socket(&c, ns, path, &Map::new()) },
    );
    let c = ctx.clone();
    r.func(
        socket_doc,
        move |ns: &mut Netns, path: &str, m: Map| -> Res<()> { wait_socket(&c, ns, path, &m) },
    );
    let doc = Doc {
        area: "probes",
        name: "wait_until",
        sig: "wait_until(|| condition) / wait_until(|| condition, #{timeout_ms, every_ms})",
        doc: "Call the closure every every_ms (200) until it returns true: the wait for a lab to converge (routes learned, a server up) instead of a loop of sleeps. Past timeout_ms (30000) an error at this line says what the closure returned last; an error inside the closure stops the wait at its own line; Ctrl-C and SIGTERM end it at once.",
        example: "wait_until(|| r1.ping(\"10.255.0.3\", #{count: 1}).ok, #{timeout_ms: 60000});",
    };
    let c = ctx.clone();
    r.func(
        doc.clone(),
        move |cx: NativeCallContext, f: FnPtr| -> Res<()> {
            let (t, e) = until_opts(&Map::new())?;
            wait_until(&c, &cx, &f, t, e)
        },
    );
    let c = ctx.clone();
    r.func(
        doc,
        move |cx: NativeCallContext, f: FnPtr, m: Map| -> Res<()> {
            let (t, e) = until_opts(&m)?;
            wait_until(&c, &cx, &f, t, e)
        },
    );
}
