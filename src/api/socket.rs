//! TCP/UDP probes: ns.listen() and ns.connect() — firewall labs without `nc`.

use std::rc::Rc;
use std::time::Duration;

use rhai::{Array, Dynamic, Map};

use super::addr::{parse_ip, str_opt};
use super::{Ctx, Doc, Netns, Registrar, Res, bad, err};
use crate::lab::Proto;

/// A native server started by ns.listen().
#[derive(Clone)]
pub struct Listen {
    idx: usize,
    port: u16,
    proto: Proto,
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Listener({}/{})", self.port, self.proto.name())
    }
}

fn port_of(v: i64) -> Res<u16> {
    port_in_range(v, "port")
}

/// A TCP/UDP port given as `key` (port, sport, dport): 1..=65535.
pub(super) fn port_in_range(v: i64, key: &str) -> Res<u16> {
    u16::try_from(v)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad(format!("{key} {v} is out of range"), "ports are 1..=65535"))
}

/// A `timeout_ms` option: 1..=`max` milliseconds.
pub(super) fn timeout_opt(v: &Dynamic, max: u64) -> Res<Duration> {
    v.as_int()
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| (1..=max).contains(n))
        .map(Duration::from_millis)
        .ok_or_else(|| {
            bad(
                format!("timeout_ms = {v} is out of range"),
                format!("use 1..={max} milliseconds"),
            )
        })
}

fn proto_of(s: &str) -> Res<Proto> {
    match s {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        other => Err(bad(
            format!("unknown protocol '{other}'"),
            "use proto: \"tcp\" or proto: \"udp\"",
        )),
    }
}

/// #{proto, port, timeout_ms} with tcp and 1000 ms as defaults.
fn opts(m: &Map, with_timeout: bool) -> Res<(Proto, u16, Duration)> {
    opts_src(m, with_timeout).map(|(p, port, t, _)| (p, port, t))
}

/// A `src` option: an address of the probing namespace, of `dst`'s family.
pub(super) fn src_opt(v: &Dynamic, dst: std::net::IpAddr) -> Res<std::net::IpAddr> {
    let s = parse_ip(&str_opt(v, "src")?, "source address")?;
    if s.is_ipv4() != dst.is_ipv4() {
        return Err(bad(
            format!("source {s} and destination {dst} are not of one family"),
            "give an IPv4 source for an IPv4 destination, IPv6 for IPv6",
        ));
    }
    Ok(s)
}

/// `opts` and connect's `src` (an address, checked against the
/// destination's family by the caller).
fn opts_src(m: &Map, with_timeout: bool) -> Res<(Proto, u16, Duration, Option<Dynamic>)> {
    let mut proto = Proto::Tcp;
    let mut port = None;
    let mut timeout = Duration::from_millis(1000);
    let mut src = None;
    for (k, v) in m {
        match k.as_str() {
            "src" if with_timeout => src = Some(v.clone()),
            "proto" => proto = proto_of(&str_opt(v, "proto")?)?,
            "port" => {
                port = Some(port_of(v.as_int().map_err(|t| {
                    bad(format!("port must be a number, not {t}"), "e.g. port: 80")
                })?)?)
            }
            "timeout_ms" if with_timeout => timeout = timeout_opt(v, 60_000)?,
            other => {
                let keys = if with_timeout {
                    "proto, port, timeout_ms and src"
                } else {
                    "proto and port"
                };
                return Err(bad(
                    format!("unknown option '{other}'"),
                    format!("the options are {keys}"),
                ));
            }
        }
    }
    let port = port.ok_or_else(|| bad("no port given", "give one: #{proto: \"udp\", port: 53}"))?;
    Ok((proto, port, timeout, src))
}

/// #{port, proto, addr, timeout_ms} of wait_port: tcp, every address and
/// 5 s by default.
fn wait_opts(m: &Map) -> Res<(Proto, u16, Option<std::net::IpAddr>, Duration)> {
    let mut proto = Proto::Tcp;
    let mut port = None;
    let mut addr = None;
    let mut timeout = Duration::from_millis(5000);
    for (k, v) in m {
        match k.as_str() {
            "proto" => proto = proto_of(&str_opt(v, "proto")?)?,
            "port" => {
                port = Some(port_of(v.as_int().map_err(|t| {
                    bad(format!("port must be a number, not {t}"), "e.g. port: 80")
                })?)?)
            }
            "addr" => addr = Some(parse_ip(&str_opt(v, "addr")?, "wait_port address")?),
            "timeout_ms" => timeout = timeout_opt(v, 600_000)?,
            other => {
                return Err(bad(
                    format!("unknown option '{other}'"),
                    "the options are port, proto, addr and timeout_ms",
                ));
            }
        }
    }
    let port = port.ok_or_else(|| bad("no port given", "give one: #{port: 8080}"))?;
    Ok((proto, port, addr, timeout))
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    r.engine.register_type_with_name::<Listen>("Listener");
    let listen_doc = Doc {
        area: "probes",
        name: "listen",
        sig: "ns.listen(port) / ns.listen(#{proto: \"udp\", port: 53}) -> Listener",
        doc: "A native server in ns (what `nc -l` does in labs): TCP peers get a line, UDP datagrams are echoed; l.peers lists source addresses seen.",
        example: "let web = inet.listen(80); ...; print(web.peers);",
    };
    let c = ctx.clone();
    r.func(
        listen_doc.clone(),
        move |ns: &mut Netns, port: i64| -> Res<Listen> {
            let port = port_of(port)?;
            let idx = c.lab()?.listen(ns.id, Proto::Tcp, port).map_err(err)?;
            Ok(Listen {
                idx,
                port,
                proto: Proto::Tcp,
            })
        },
    );
    let c = ctx.clone();
    r.func(listen_doc, move |ns: &mut Netns, m: Map| -> Res<Listen> {
        let (proto, port, _) = opts(&m, false)?;
        let idx = c.lab()?.listen(ns.id, proto, port).map_err(err)?;
        Ok(Listen { idx, port, proto })
    });
    let c = ctx.clone();
    r.getter(
        Doc {
            area: "probes",
            name: "peers",
            sig: "listener.peers -> [string]",
            doc: "Source addresses of every peer the listener answered, oldest first (shows NAT at work).",
            example: "print(web.peers);",
        },
        move |l: &mut Listen| -> Array {
            // What was seen so far: queued rules can wait.
            match c.lab_queued() {
                Ok(lab) => lab.peers(l.idx).into_iter().map(|ip| Dynamic::from(ip.to_string())).collect(),
                Err(_) => Array::new(),
            }
        },
    );
    r.engine
        .register_fn("to_string", |l: &mut Listen| l.to_string());
    r.engine
        .register_fn("to_debug", |l: &mut Listen| l.to_string());
    let connect_doc = Doc {
        area: "probes",
        name: "connect",
        sig: "ns.connect(ip, port) / ns.connect(ip, #{proto, port, timeout_ms, src}) -> bool",
        doc: "Can ns open a TCP connection to ip:port (or get a UDP answer)? false when refused, dropped or unreachable; an error when the kernel's machine-wide neighbour table or backlog ran out meanwhile, every time it was tried (it is tried up to 4 more times, as expect_reach says: no answer either way). src: the address of ns to connect from (`nc -s`), so the answer must find its way back to it.",
        example: "if !ns1.connect(\"10.0.0.2\", 80) { throw \"web blocked\"; }",
    };
    let c = ctx.clone();
    r.func(
        connect_doc.clone(),
        move |ns: &mut Netns, ip: &str, port: i64| -> Res<bool> {
            let ip = parse_ip(ip, "connect target")?;
            let port = port_of(port)?;
            c.lab()?
                .connect(
                    ns.id,
                    ip,
                    Proto::Tcp,
                    port,
                    Duration::from_millis(1000),
                    None,
                )
                .map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(
        connect_doc,
        move |ns: &mut Netns, ip: &str, m: Map| -> Res<bool> {
            let ip = parse_ip(ip, "connect target")?;
            let (proto, port, timeout, src) = opts_src(&m, true)?;
            let src = src.map(|v| src_opt(&v, ip)).transpose()?;
            c.lab()?
                .connect(ns.id, ip, proto, port, timeout, src)
                .map_err(err)
        },
    );
    let wait_doc = Doc {
        area: "probes",
        name: "wait_port",
        sig: "ns.wait_port(port) / ns.wait_port(#{port, proto, addr, timeout_ms})",
        doc: "Returns once something listens on port in ns (tcp by default; udp: a socket bound to it), on addr or on every address, as `ss -ltn` would show it: the step between ns.spawn(server) and the first connection. An error past timeout_ms (default 5000).",
        example: "ns1.spawn(\"python3 -m http.server 8000\"); ns1.wait_port(8000);",
    };
    let c = ctx.clone();
    r.func(
        wait_doc.clone(),
        move |ns: &mut Netns, port: i64| -> Res<()> {
            let port = port_of(port)?;
            c.lab()?
                .wait_port(ns.id, Proto::Tcp, port, None, Duration::from_millis(5000))
                .map_err(err)
        },
    );
    let c = ctx.clone();
    r.func(wait_doc, move |ns: &mut Netns, m: Map| -> Res<()> {
        let (proto, port, addr, timeout) = wait_opts(&m)?;
        c.lab()?
            .wait_port(ns.id, proto, port, addr, timeout)
            .map_err(err)
    });
}
