//! `nslab plan`: the lab written down as a shell script.
//!
//! The script runs for real (isolated), so probes give real answers and its
//! branches go as they would; while it runs, every kernel change the Lab
//! makes is also written down here as the `ip`/`sysctl`/`nft`/`tc` command
//! that makes it, under the script position of the statement that caused it
//! (the engine's debugger hook keeps `Cursor` up to date). Probes become the
//! equivalent commands with the result nslab saw as a comment. Ops that have
//! no shell form yet refuse to run in a plan (`unplanned`), naming the call,
//! rather than leave a plan that builds something else than the script.
//!
//! Each command that needs undoing outside the plan's own namespaces pushes
//! its undo (`undo '…'`) right after it, and `teardown` runs what was pushed
//! in reverse: a plan that stops half-way undoes exactly what it did.

use super::events::Event;
use super::firewall::Site;
use super::nodes::{NodeSpec, escape};
use super::space::NsRef;
use super::steps::ip;
use super::steps::links::{delete_link_shell, set_master_shell, set_mtu_shell, set_up_shell};
use super::steps::netns::delete_netns_shell;
use super::steps::nft::delete_table_shell;
use super::steps::routing::{delete_addr_shell, delete_neigh_shell};
use super::steps::tc::delete_qdisc_shell;
use super::{HOST, Lab, LabError, NsId, Result, RouteReq, RunOpts, routes};
use crate::net::probe::Proto;
use crate::net::rtnl::{BridgeOpts, RouteKind, RuleAction, RuleSpec};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::net::rtnl::PortOpts;

/// Where the script is: (source, line) of the statement running. rhai names
/// the main script by its path and modules by theirs; `None` is the main
/// script.
pub type Cursor = Arc<Mutex<(Option<String>, usize)>>;

/// The commands of one script statement.
pub struct Step {
    pub source: Option<String>,
    pub line: usize,
    pub lines: Vec<String>,
}

/// The recorder: off unless `Lab::start_plan` was called.
pub struct Plan {
    cursor: Cursor,
    pub steps: Vec<Step>,
    /// The call that queued the firewall rules being applied now.
    pub(super) site: Option<Site>,
}

impl Plan {
    fn push_at(&mut self, source: Option<String>, line: usize, text: String) {
        match self.steps.last_mut() {
            Some(s) if s.source == source && s.line == line => s.lines.push(text),
            _ => self.steps.push(Step {
                source,
                line,
                lines: vec![text],
            }),
        }
    }

    fn push(&mut self, text: String) {
        let (source, line) = self.cursor.lock().map(|c| c.clone()).unwrap_or((None, 0));
        self.push_at(source, line, text);
    }
}

/// One line of a plan: a command, or (`undo`) the command that undoes it
/// at teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Do(String),
    Undo(String),
}

/// What the plan's lines need to know of the lab.
pub trait Ctx {
    /// The lab's name.
    fn lab(&self) -> &str;
    /// A namespace as the journal names it.
    fn at(&self, id: NsId) -> NsRef;
    /// Whether the lab made the namespace (what is made there needs no
    /// undo of its own).
    fn created(&self, id: NsId) -> bool;
    /// The name of the lab's nft table.
    fn table(&self) -> String;
    /// The kernel's name of link `name` in `id` (under `--prefix`, a link
    /// the lab made in the host has the prefix; see prefix.rs).
    fn dev(&self, _id: NsId, name: &str) -> String {
        name.to_string()
    }
    /// The private directories and host name of a namespace's programs.
    fn node(&self, _id: NsId) -> Option<NodeSpec> {
        None
    }
}

impl Ctx for Lab {
    fn lab(&self) -> &str {
        self.id.name()
    }

    fn at(&self, id: NsId) -> NsRef {
        self.sp.nsref(id).clone()
    }

    fn created(&self, id: NsId) -> bool {
        self.sp.is_created(id)
    }

    fn node(&self, id: NsId) -> Option<NodeSpec> {
        self.node_spec(id)
    }

    fn table(&self) -> String {
        self.table_name()
    }

    fn dev(&self, id: NsId, name: &str) -> String {
        self.kernel_link(id, name).into_owned()
    }
}

/// A link the lab made outside its own namespaces: deleted at teardown
/// (if it still exists: a veth goes with its peer's namespace), and
/// labelled as nslab labels it.
fn own_link(cx: &dyn Ctx, id: NsId, name: &str) -> Vec<Line> {
    if cx.created(id) {
        return Vec::new();
    }
    let at = cx.at(id);
    let name = &cx.dev(id, name);
    vec![
        Line::Do(format!(
            "{}link set dev {} alias {}",
            ip(&at),
            q(name),
            q(&format!("nslab:{}", cx.lab()))
        )),
        Line::Undo(delete_link_shell(&at, name)),
    ]
}

fn veth_lines(cx: &dyn Ctx, (ns_a, a0): (NsId, &str), (ns_b, b0): (NsId, &str)) -> Vec<Line> {
    let (at_a, at_b) = (cx.at(ns_a), cx.at(ns_b));
    let (ka, kb) = (cx.dev(ns_a, a0), cx.dev(ns_b, b0));
    let (a, b) = (ka.as_str(), kb.as_str());
    let mut v = Vec::new();
    let peer_ns = if ns_a == ns_b || ns_b == HOST {
        // The host has no name: the peer is made there and moved.
        String::new()
    } else {
        format!(" netns {}", q(at_b.display()))
    };
    if ns_b == HOST && ns_a != HOST {
        // Made in the host, the other end moved into its namespace.
        v.push(Line::Do(format!(
            "ip link add {} {ONE_QUEUE} type veth peer name {} {ONE_QUEUE}",
            q(b),
            q(a)
        )));
        v.push(Line::Do(format!(
            "ip link set dev {} netns {}",
            q(a),
            q(at_a.display())
        )));
    } else {
        v.push(Line::Do(format!(
            "{}link add {} {ONE_QUEUE} type veth peer name {} {ONE_QUEUE}{peer_ns}",
            ip(&at_a),
            q(a),
            q(b)
        )));
    }
    v.push(Line::Do(set_up_shell(&at_a, a, true)));
    v.push(Line::Do(set_up_shell(&at_b, b, true)));
    if !cx.created(ns_a) {
        v.extend(own_link(cx, ns_a, a0));
    } else if !cx.created(ns_b) {
        v.extend(own_link(cx, ns_b, b0));
    }
    v
}

fn bridge_lines(cx: &dyn Ctx, id: NsId, name: &str, o: &BridgeOpts) -> Vec<Line> {
    let at = cx.at(id);
    let mut opts = String::new();
    let flag = |b: bool| if b { 1 } else { 0 };
    if let Some(s) = o.stp {
        opts += &format!(" stp_state {}", flag(s));
    }
    if let Some(v) = o.vlan_filtering {
        opts += &format!(" vlan_filtering {}", flag(v));
    }
    for (k, v) in [
        ("ageing_time", o.ageing_cs),
        ("forward_delay", o.forward_delay_cs),
        ("hello_time", o.hello_cs),
        ("max_age", o.max_age_cs),
    ] {
        if let Some(v) = v {
            opts += &format!(" {k} {v}");
        }
    }
    if let Some(p) = o.priority {
        opts += &format!(" priority {p}");
    }
    let kname = cx.dev(id, name);
    let mut v = vec![
        Line::Do(format!(
            "{}link add {} type bridge{opts}",
            ip(&at),
            q(&kname)
        )),
        Line::Do(set_up_shell(&at, &kname, true)),
    ];
    v.extend(own_link(cx, id, name));
    v
}

/// The plan's lines for what an op did (`Event`).
pub fn lines(e: &Event, cx: &dyn Ctx) -> Vec<Line> {
    let at = |id| cx.at(id);
    match *e {
        Event::NetnsMade { name } => vec![
            Line::Do(format!("ip netns add {}", q(name))),
            Line::Undo(delete_netns_shell(name)),
            Line::Do(format!("ip -n {} link set lo up", q(name))),
        ],
        Event::NetnsDeleted { name } => vec![
            Line::Do(format!("ip netns del {}", q(name))),
            Line::Do(format!("forget {}", q(&delete_netns_shell(name)))),
        ],
        Event::AddrAdded {
            ns,
            dev,
            addr,
            foreign,
        } => {
            let at = at(ns);
            let dev = &cx.dev(ns, dev);
            let mut v = vec![Line::Do(format!(
                "{}addr add {addr} dev {}",
                ip(&at),
                q(dev)
            ))];
            if foreign {
                v.push(Line::Undo(delete_addr_shell(&at, dev, addr)));
            }
            v
        }
        Event::LinkUp { ns, dev, up, old } => {
            let at = at(ns);
            let dev = &cx.dev(ns, dev);
            let mut v = vec![Line::Do(set_up_shell(&at, dev, up))];
            v.extend(old.map(|o| Line::Undo(set_up_shell(&at, dev, o))));
            v
        }
        Event::LinkMtu { ns, dev, mtu, old } => {
            let at = at(ns);
            let dev = &cx.dev(ns, dev);
            let mut v = vec![Line::Do(set_mtu_shell(&at, dev, mtu))];
            v.extend(old.map(|o| Line::Undo(set_mtu_shell(&at, dev, o))));
            v
        }
        // A host link's own undo (`del_link`) then finds nothing to do.
        Event::LinkDeleted { ns, dev } => {
            vec![Line::Do(format!(
                "{}link del dev {}",
                ip(&at(ns)),
                q(&cx.dev(ns, dev))
            ))]
        }
        Event::NeighAdded {
            ns,
            dev,
            addr,
            mac,
            foreign,
        } => {
            let at = at(ns);
            let dev = &cx.dev(ns, dev);
            let mut v = vec![Line::Do(format!(
                "{}neigh replace {addr} lladdr {mac} dev {} nud permanent",
                ip(&at),
                q(dev)
            ))];
            if foreign {
                v.push(Line::Undo(delete_neigh_shell(&at, dev, addr)));
            }
            v
        }
        Event::VethMade { a, b } => veth_lines(cx, a, b),
        Event::BridgeMade { ns, name, opts } => bridge_lines(cx, ns, name, opts),
        Event::Slept { d } => vec![Line::Do(format!("sleep {}", secs(d)))],
        Event::Ran {
            ns,
            argv,
            opts,
            code,
        } => vec![Line::Do(exec_line(&node_exec_in(cx, ns), argv, opts, code))],
        Event::Spawned { ns, argv, idx } => vec![
            Line::Do(format!(
                "P{idx}=$(bg {}{})",
                node_exec_in(cx, ns),
                words(argv)
            )),
            // Pushed as written: `$P{idx}` is expanded when it runs.
            Line::Do(format!("undo \"stop $P{idx}\"")),
        ],
        Event::Stopped { idx } => vec![Line::Do(format!("stop \"$P{idx}\""))],
        Event::NodeMade { ns, dirs, first } => {
            // Pushed as written: `$N{ns}` is expanded at teardown.
            let mut v = if first {
                vec![
                    Line::Do(format!("N{ns}=$(mktemp -d)")),
                    Line::Do(format!("undo \"rm -rf $N{ns}\"")),
                ]
            } else {
                Vec::new()
            };
            for d in dirs {
                v.push(Line::Do(format!("mkdir \"$N{ns}\"/{}", q(&escape(d)))));
            }
            v
        }
        Event::NodeWritten {
            ns,
            dir,
            rest,
            text,
        } => {
            let file = format!("{}{rest}", escape(dir));
            let mut v = Vec::new();
            if let Some((parent, _)) = file.rsplit_once('/')
                && parent != escape(dir)
            {
                v.push(Line::Do(format!("mkdir -p \"$N{ns}\"/{}", q(parent))));
            }
            v.push(Line::Do(format!(
                "printf %s {} > \"$N{ns}\"/{}",
                q(text),
                q(&file)
            )));
            v
        }
        Event::RouteAdded { ns, req } => {
            let at = at(ns);
            let r = route_text(req);
            let mut v = vec![Line::Do(format!("{}route add {r}", ip(&at)))];
            if !cx.created(ns) {
                // Gone already when its link went first: no error then.
                v.push(Line::Undo(format!(
                    "{}route del {r} 2>/dev/null || true",
                    ip(&at)
                )));
            }
            v
        }
        Event::RouteDeleted { ns, what } => vec![Line::Do(format!("{}{what}", ip(&at(ns))))],
        Event::Flushed { ns, what } => vec![Line::Do(format!("{}{what}", ip(&at(ns))))],
        Event::RuleAdded { ns, rule } => {
            let at = at(ns);
            let r = rule_text(rule);
            let mut v = vec![Line::Do(format!("{}{r}", ip(&at)))];
            if !cx.created(ns) {
                v.push(Line::Undo(format!(
                    "{}{}",
                    ip(&at),
                    r.replacen("rule add", "rule del", 1)
                )));
            }
            v
        }
        Event::SysctlSet {
            ns,
            key,
            value,
            old,
        } => {
            let set = |v: &str| q(&format!("{key}={v}"));
            let mut v = vec![Line::Do(format!(
                "{}sysctl -qw {}",
                exec_in(&at(ns)),
                set(value)
            ))];
            if !cx.created(ns) {
                v.push(Line::Undo(format!("sysctl -qw {}", set(old))));
            }
            v
        }
        Event::LinkMade {
            ns,
            name,
            kind,
            parent,
        } => kind_lines(cx, ns, name, kind, parent),
        Event::MasterSet {
            ns,
            br,
            link,
            old,
            was_up,
        } => {
            let at = at(ns);
            let (link, br) = (&cx.dev(ns, link), &cx.dev(ns, br));
            let mut v = vec![
                Line::Do(format!(
                    "{}link set dev {} master {}",
                    ip(&at),
                    q(link),
                    q(br)
                )),
                Line::Do(format!("{}link set dev {} up", ip(&at), q(link))),
            ];
            if let Some(old) = old {
                v.push(Line::Undo(set_master_shell(&at, link, old)));
                if !was_up {
                    v.push(Line::Undo(set_up_shell(&at, link, false)));
                }
            }
            v
        }
        Event::PortSet {
            ns,
            link,
            port,
            old,
        } => {
            let (at, dev) = (at(ns), cx.dev(ns, link));
            let mut v = port_lines(&at, &dev, port);
            if let Some(old) = old.filter(|o| !o.is_empty()) {
                v.push(Line::Undo(port_shell(&at, &dev, old)));
            }
            v
        }
        Event::Shaped {
            ns,
            dev,
            lines,
            foreign,
        } => {
            let at = at(ns);
            let tc = tc(&at);
            let dev = &cx.dev(ns, dev);
            let mut v = vec![Line::Do(format!(
                "{tc}qdisc del dev {} root 2>/dev/null || true",
                q(dev)
            ))];
            for l in lines {
                v.push(Line::Do(format!("{tc}qdisc add dev {} {l}", q(dev))));
            }
            if foreign {
                v.push(Line::Undo(delete_qdisc_shell(&at, dev)));
            }
            v
        }
        Event::Unshaped { ns, dev } => vec![Line::Do(format!(
            "{}qdisc del dev {} root",
            tc(&at(ns)),
            q(&cx.dev(ns, dev))
        ))],
        Event::Moved {
            from,
            name,
            to,
            dest,
            up,
        } => {
            let target = match at(to) {
                // The plan's shell runs in the host.
                NsRef::Host => "$$".to_string(),
                NsRef::Named(n) => q(&n),
            };
            let rename = if dest != name {
                format!(" name {}", q(dest))
            } else {
                String::new()
            };
            let mut v = vec![Line::Do(format!(
                "{}link set dev {} netns {target}{rename}",
                ip(&at(from)),
                q(name)
            ))];
            if up {
                v.push(Line::Do(format!(
                    "{}link set dev {} up",
                    ip(&at(to)),
                    q(dest)
                )));
            }
            v.extend(own_link(cx, to, dest));
            v
        }
        Event::LinkSet { ns, dev, set, undo } => {
            let ip = ip(&at(ns));
            let dev = &cx.dev(ns, dev);
            let mut v = vec![Line::Do(format!("{ip}link set dev {} {set}", q(dev)))];
            if let Some(u) = undo {
                v.push(Line::Undo(format!("{ip}link set dev {} {u}", q(dev))));
            }
            v
        }
        Event::AddrDadWaited { ns, addr } => vec![Line::Do(format!(
            "for _ in $(seq 50); do {}route get {addr} | grep -q '^local' && break; sleep 0.1; done  # {addr} ready to receive on",
            ip(&at(ns))
        ))],
        Event::DadWaited { ns } => vec![Line::Do(format!(
            "for _ in $(seq 30); do [ -z \"$({}-6 addr show scope link tentative)\" ] && break; sleep 0.1; done  # a router's IPv6 link-locals done with DAD",
            ip(&at(ns))
        ))],
        Event::Pinged {
            ns,
            dst,
            opts,
            sent,
            got,
        } => {
            let cmd = format!(
                "{}ping -c {} -i {} -W {}{}{}{} {dst}",
                exec_in(&at(ns)),
                opts.count,
                secs(opts.interval),
                // ping -W counts whole seconds (older iputils).
                opts.timeout.as_secs_f64().ceil().max(1.0) as u64,
                opts.src.map(|s| format!(" -I {s}")).unwrap_or_default(),
                opts.dev
                    .as_ref()
                    .map(|d| format!(" -I {}", q(d)))
                    .unwrap_or_default(),
                opts.ttl.map(|t| format!(" -t {t}")).unwrap_or_default()
            );
            vec![probe(cmd, got > 0, &format!("{got}/{sent} replies"))]
        }
        Event::Connected {
            ns,
            dst,
            proto,
            port,
            timeout,
            ok,
            src,
        } => vec![connect_line(&at(ns), dst, proto, port, timeout, ok, src)],
        Event::Listening { ns, proto, port } => {
            let at = at(ns);
            let kind = proto.name();
            vec![
                Line::Do(format!(
                    "L=$(bg {}python3 -c \"$LISTEN\" {kind} {port})\nundo \"stop $L\"",
                    exec_in(&at)
                )),
                // Listening before the next line probes it (at most 10 s).
                Line::Do(wait_port_line(&at, proto, port, Duration::from_secs(10))),
            ]
        }
        Event::PortWaited {
            ns,
            proto,
            port,
            timeout,
        } => vec![Line::Do(wait_port_line(&at(ns), proto, port, timeout))],
        Event::Reached {
            nodes,
            srcs,
            count,
            timeout,
            pairs,
        } => {
            let w = timeout.as_secs_f64().ceil().max(1.0) as u64;
            pairs
                .iter()
                .map(|&(a, b, got)| {
                    let from = srcs
                        .get(a)
                        .copied()
                        .flatten()
                        .map(|s| format!(" -I {s}"))
                        .unwrap_or_default();
                    let cmd = format!(
                        "{}ping -c {count} -i 0.1 -W {w}{from} {}",
                        exec_in(&at(nodes[a].0)),
                        nodes[b].1
                    );
                    probe(cmd, got > 0, &format!("{got}/{count} replies"))
                })
                .collect()
        }
        Event::NftApplied { ns, json, first } => {
            let at = at(ns);
            let mut v = vec![Line::Do(nft_command(&at, json))];
            if first && !cx.created(ns) {
                v.push(Line::Undo(delete_table_shell(&at, &cx.table())));
            }
            v
        }
        Event::Measured {
            a,
            b,
            dst,
            proto,
            port,
            secs: d,
            rate,
            bits,
        } => {
            let udp = match (proto, rate) {
                (Proto::Tcp, _) => String::new(),
                (Proto::Udp, Some(r)) => format!(" -u -b {r}"),
                (Proto::Udp, None) => " -u -b 0".to_string(),
            };
            vec![
                Line::Do(format!("{}iperf3 -s -1 -D -p {port}", exec_in(&at(b)))),
                Line::Do("sleep 0.2".to_string()),
                probe(
                    // iperf3 -t counts whole seconds.
                    format!(
                        "{}iperf3 -c {dst} -p {port} -t {}{udp}",
                        exec_in(&at(a)),
                        d.as_secs_f64().ceil().max(1.0) as u64
                    ),
                    true,
                    &format!("{bits} bit/s"),
                ),
            ]
        }
        Event::RouteWaited {
            ns,
            dst,
            protocol,
            timeout,
        } => {
            let proto = protocol
                .map(|p| format!(" proto {}", super::wait::proto_word(p)))
                .unwrap_or_default();
            let wait = format!(
                "until ip route show table all exact {dst}{proto} | grep -q .; do sleep 0.05; done"
            );
            vec![Line::Do(format!(
                "{}timeout {} sh -c {}",
                exec_in(&at(ns)),
                secs(timeout),
                q(&wait)
            ))]
        }
        Event::NetnsDeleting => Vec::new(),
    }
}

/// A link of another kind (`kind`: its `type …` as `ip link add` takes
/// it), made beside its parent link if it has one.
fn kind_lines(
    cx: &dyn Ctx,
    ns: NsId,
    name: &str,
    kind: &str,
    parent: Option<(NsId, &str)>,
) -> Vec<Line> {
    let at = cx.at(ns);
    let kname = cx.dev(ns, name);
    let line = match parent {
        // Made beside the parent, directly in its own namespace.
        Some((pns, p)) if pns != ns => format!(
            "{}link add link {} name {} netns {} type {kind}",
            ip(&cx.at(pns)),
            q(&cx.dev(pns, p)),
            q(&kname),
            match &at {
                // The plan's shell runs in the host.
                NsRef::Host => "$$".to_string(),
                NsRef::Named(n) => q(n),
            }
        ),
        Some((_, p)) => format!(
            "{}link add link {} name {} type {kind}",
            ip(&at),
            q(&cx.dev(ns, p)),
            q(&kname)
        ),
        None => format!("{}link add {} type {kind}", ip(&at), q(&kname)),
    };
    let mut v = vec![
        Line::Do(line),
        Line::Do(format!("{}link set dev {} up", ip(&at), q(&kname))),
    ];
    v.extend(own_link(cx, ns, name));
    v
}

/// A bridge port's settings (nothing when none is set).
fn port_lines(at: &NsRef, link: &str, p: &PortOpts) -> Vec<Line> {
    if p.is_empty() {
        return Vec::new();
    }
    vec![Line::Do(port_shell(at, link, p))]
}

/// `ip link set dev LINK type bridge_slave …`.
fn port_shell(at: &NsRef, link: &str, p: &PortOpts) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    let mut opts = String::new();
    if let Some(v) = p.isolated {
        opts += &format!(" isolated {}", on(v));
    }
    if let Some(v) = p.hairpin {
        opts += &format!(" hairpin {}", on(v));
    }
    if let Some(v) = p.cost {
        opts += &format!(" cost {v}");
    }
    if let Some(v) = p.priority {
        opts += &format!(" priority {v}");
    }
    if let Some(v) = p.learning {
        opts += &format!(" learning {}", on(v));
    }
    if let Some(v) = p.flood {
        opts += &format!(" flood {}", on(v));
    }
    format!("{}link set dev {} type bridge_slave{opts}", ip(at), q(link))
}

/// `tc -n NS ` (no namespace for the host).
fn tc(at: &NsRef) -> String {
    match at {
        NsRef::Host => "tc ".to_string(),
        NsRef::Named(n) => format!("tc -n {} ", q(n)),
    }
}

/// A route as `ip route add` takes it.
fn route_text(req: &RouteReq) -> String {
    let mut r = String::new();
    if req.kind != RouteKind::Unicast {
        r += req.kind.name();
        r.push(' ');
    }
    r += &routes::dst_text(req.dst);
    if req.dst.prefix_len() == 0 && req.dst.addr().is_ipv6() {
        r = format!("-6 {r}");
    }
    if let Some(v) = req.via {
        r += &format!(" via {v}");
    }
    if let Some(d) = &req.dev {
        r += &format!(" dev {}", q(d));
    }
    if let Some(t) = req.table {
        r += &format!(" table {t}");
    }
    if let Some(m) = req.metric {
        r += &format!(" metric {m}");
    }
    if let Some(s) = req.src {
        r += &format!(" src {s}");
    }
    // nslab adds every route with scope universe; `ip route` would
    // give one without a gateway scope link.
    if req.via.is_none() && req.nexthops.is_empty() {
        r += " scope global";
    }
    r += " proto static";
    for h in &req.nexthops {
        r += " nexthop";
        if let Some(v) = h.via {
            r += &format!(" via {v}");
        }
        if let Some(d) = &h.dev {
            r += &format!(" dev {}", q(d));
        }
        r += &format!(" weight {}", h.weight);
    }
    r
}

/// `rule add …` as `ip` takes it (`-6 ` first for an IPv6 rule).
fn rule_text(rule: &RuleSpec) -> String {
    let mut r = String::new();
    if rule.v6 {
        r += "-6 ";
    }
    r += "rule add";
    if let Some(p) = rule.priority {
        r += &format!(" priority {p}");
    }
    if let Some(f) = rule.from {
        r += &format!(" from {f}");
    }
    if let Some(t) = rule.to {
        r += &format!(" to {t}");
    }
    if let Some(i) = &rule.iif {
        r += &format!(" iif {}", q(i));
    }
    if let Some(o) = &rule.oif {
        r += &format!(" oif {}", q(o));
    }
    if let Some(m) = rule.fwmark {
        r += &format!(" fwmark {m:#x}");
        if let Some(k) = rule.fwmask {
            r += &format!("/{k:#x}");
        }
    }
    match (rule.action, rule.table) {
        (RuleAction::Lookup, Some(t)) => r += &format!(" table {t}"),
        (RuleAction::Lookup, None) => {}
        (other, _) => r += &format!(" {}", other.name()),
    }
    r
}

/// A probe and what nslab saw. One that failed in nslab's run must not
/// stop the plan (scripts check that something does *not* work); one that
/// succeeded there and fails here says so, and the plan goes on.
fn probe(cmd: String, ok: bool, seen: &str) -> Line {
    let seen = comment_text(seen);
    Line::Do(if ok {
        format!(
            "{cmd} || echo {} >&2  # nslab saw: {seen}",
            q("nslab plan: this probe failed here, but succeeded in the nslab run")
        )
    } else {
        format!("{cmd} || true  # nslab saw: {seen}")
    })
}

/// A connection as bash makes one; nslab counts a UDP port reached when
/// something answers.
fn connect_line(
    at: &NsRef,
    dst: IpAddr,
    proto: Proto,
    port: u16,
    timeout: Duration,
    ok: bool,
    src: Option<IpAddr>,
) -> Line {
    let host = if dst.is_ipv6() {
        format!("[{dst}]")
    } else {
        dst.to_string()
    };
    let t = secs(timeout);
    let seen = if ok { "connected" } else { "no connection" };
    // bash's /dev/tcp cannot pick its source address; nc -s can.
    if let Some(src) = src {
        let cmd = match proto {
            Proto::Tcp => format!("{}timeout {t} nc -z -s {src} {dst} {port}", exec_in(at)),
            Proto::Udp => format!(
                "{}timeout {t} sh -c {}",
                exec_in(at),
                q(&format!(
                    "echo | nc -u -w {t} -s {src} {dst} {port} | grep -q ."
                ))
            ),
        };
        return probe(cmd, ok, seen);
    }
    let body = match proto {
        Proto::Tcp => format!("</dev/tcp/{host}/{port}"),
        Proto::Udp => format!("exec 3<>/dev/udp/{host}/{port}; echo >&3; read -t {t} -r _ <&3"),
    };
    let cmd = format!("{}timeout {t} bash -c {}", exec_in(at), q(&body));
    probe(cmd, ok, seen)
}

/// wait_port(): the same wait, with `ss`.
fn wait_port_line(at: &NsRef, proto: Proto, port: u16, timeout: Duration) -> String {
    let ss = match proto {
        Proto::Tcp => "-ltnH",
        Proto::Udp => "-lunH",
    };
    let wait = format!("until [ -n \"$(ss {ss} 'sport = :{port}')\" ]; do sleep 0.02; done");
    format!(
        "{}timeout {} sh -c {}",
        exec_in(at),
        secs(timeout),
        q(&wait)
    )
}

/// One nft transaction (JSON, as nslab hands it to `nft -j -f -`) in nft's
/// own syntax, one rule a line; JSON (indented: one line of it is hard to
/// read) for what has no translation.
fn nft_command(at: &NsRef, json: &str) -> String {
    let ex = exec_in(at);
    match crate::net::nft_text::text(json) {
        Some(text) => format!("{ex}nft -f - <<'NFT'\n{text}NFT"),
        None => {
            let pretty = serde_json::from_str::<serde_json::Value>(json)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| json.to_string());
            format!("{ex}nft -j -f - <<'NFT'\n{pretty}\nNFT")
        }
    }
}

/// `ip netns exec NS ` (empty for the host).
fn exec_in(at: &NsRef) -> String {
    match at {
        NsRef::Host => String::new(),
        NsRef::Named(n) => format!("ip netns exec {} ", q(n)),
    }
}

/// `ip netns exec NS ` for a program, and for one of a node with private
/// directories or a host name, the mount and UTS namespace of its own that
/// binds them (`$N{id}` holds the node's directories, see `NodeMade`).
fn node_exec_in(cx: &dyn Ctx, id: NsId) -> String {
    let ex = exec_in(&cx.at(id));
    let Some(spec) = cx.node(id) else {
        return ex;
    };
    let mut steps: Vec<String> = spec
        .dirs
        .iter()
        .map(|d| format!("mount --bind \"$0\"/{} {}", q(&escape(d)), q(d)))
        .collect();
    if let Some(h) = &spec.hostname {
        steps.push(format!("hostname {}", q(h)));
    }
    steps.push("exec \"$@\"".into());
    let mut flags = Vec::new();
    if !spec.dirs.is_empty() {
        flags.push("--mount");
    }
    if spec.hostname.is_some() {
        flags.push("--uts");
    }
    format!(
        "{ex}unshare {} sh -c {} \"$N{id}\" ",
        flags.join(" "),
        q(&steps.join(" && "))
    )
}

/// A command as nslab ran it: its input as nslab gave it (the bytes asked
/// for, else none); one that failed in nslab's run must not stop the plan.
fn exec_line(exec_in: &str, argv: &[String], o: &RunOpts, code: i64) -> String {
    let mut cmd = match &o.stdin {
        Some(b) => format!("printf %s {} | ", q(&String::from_utf8_lossy(b))),
        None => String::new(),
    };
    cmd += exec_in;
    if let Some(t) = o.timeout {
        cmd += &format!("timeout {} ", secs(t));
    }
    for (k, v) in &o.env {
        cmd += &format!("env {}={} ", q(k), q(v));
    }
    cmd += &words(argv);
    if o.stdin.is_none() {
        cmd += " </dev/null";
    }
    if code == 0 {
        cmd
    } else {
        format!("{cmd} || true  # exit {code} in nslab's run")
    }
}

/// nslab makes each veth end with one queue each way (see `add_veth`).
const ONE_QUEUE: &str = "numtxqueues 1 numrxqueues 1";

/// `s` as one shell word.
pub fn q(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn words(argv: &[String]) -> String {
    argv.iter().map(|a| q(a)).collect::<Vec<_>>().join(" ")
}

fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{:.3}", d.as_secs_f64())
            .trim_end_matches('0')
            .to_string()
    }
}

impl Lab {
    /// Records every kernel change from now on as shell commands.
    pub fn start_plan(&mut self, cursor: Cursor) {
        self.watch.start_plan(Plan {
            cursor,
            steps: Vec::new(),
            site: None,
        });
    }

    /// The recorded plan (ends the recording).
    pub fn take_plan(&mut self) -> Option<Plan> {
        self.watch.take_plan()
    }

    fn planning(&self) -> bool {
        self.watch.plan().is_some()
    }

    fn plan_line(&mut self, text: String) {
        if let Some(p) = self.watch.plan_mut() {
            p.push(text);
        }
    }

    fn plan_undo(&mut self, cmd: &str) {
        self.plan_line(format!("undo {}", q(cmd)));
    }

    /// Writes down what `lines` says an event came to.
    pub(super) fn plan_lines(&mut self, lines: Vec<Line>) {
        for l in lines {
            match l {
                Line::Do(text) => self.plan_line(text),
                Line::Undo(cmd) => self.plan_undo(&cmd),
            }
        }
    }

    /// An op with no shell form yet: refused while planning, so that the
    /// plan never silently differs from the script.
    pub(super) fn unplanned(&self, call: &str) -> Result<()> {
        if self.planning() {
            return Err(LabError::new(
                format!("nslab plan has no shell commands yet for {call}"),
                "run the script with `nslab run` instead, or leave this call out of the planned script",
            ));
        }
        Ok(())
    }

    /// `not_in_plan(call)`: a recipe whose work a plan cannot replay (it
    /// polls a daemon until it answers) refuses to be planned, by name.
    pub fn not_in_plan(&self, call: &str) -> Result<()> {
        self.unplanned(call)
    }

    /// Writes down an nft transaction's lines at the call that queued its
    /// first rule (`Plan::site`), else where the script is.
    pub(super) fn plan_lines_at_site(&mut self, lines: Vec<Line>) {
        let Some(p) = self.watch.plan_mut() else {
            return;
        };
        let site = p.site.clone().unwrap_or_else(|| {
            let (source, line) = p.cursor.lock().map(|c| c.clone()).unwrap_or((None, 0));
            Site {
                source,
                line,
                col: 0,
            }
        });
        for l in lines {
            let text = match l {
                Line::Do(text) => text,
                Line::Undo(cmd) => format!("undo {}", q(&cmd)),
            };
            p.push_at(site.source.clone(), site.line, text);
        }
    }
}

/// Text for a comment of the plan, on one line: a control character (a
/// newline in a file name, say) would end the comment and make the rest a
/// command of the plan, so each is written escaped (`\n`).
pub fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The header of every plan: what it is, and the helpers its lines use.
pub fn header(script: &str, lab: &str) -> String {
    let script = comment_text(script);
    let lab = comment_text(lab);
    format!(
        r#"#!/usr/bin/env bash
# What `nslab run {script}` builds, as shell commands: written by `nslab plan`,
# which ran the script (isolated) and recorded every change it made, under the
# script line that made it. Probes show what nslab saw when it ran them.
# Run it as root; or, to try it apart from the host's network, in a private host:
#   unshare -rnm --propagation private sh -c 'mount -t tmpfs tmpfs /run; bash ./plan.sh'
# (it needs ip, sysctl, ps, and nft, tc, python3 when the script uses them).
# Everything it builds is undone in reverse when it exits (`teardown`).
# NSLAB_PLAN_KEEP=1 leaves the lab up instead: source the plan in bash
# (NSLAB_PLAN_KEEP=1 . ./plan.sh) and call `teardown` when done.
# Lab: {lab}
set -euo pipefail

UNDO=()
# undo CMD: CMD runs at teardown (last pushed, first run).
undo() {{ UNDO+=("$1"); }}
# forget CMD: it was done early (e.g. `ip netns del`), not at teardown.
forget() {{
  local i
  for i in "${{!UNDO[@]}}"; do
    if [ "${{UNDO[$i]}}" = "$1" ]; then unset "UNDO[$i]"; fi
  done
}}
teardown() {{
  trap - EXIT
  local idx=("${{!UNDO[@]}}") k c
  for ((k = ${{#idx[@]}} - 1; k >= 0; k--)); do
    c=${{UNDO[${{idx[k]}}]}}
    eval "$c" || echo "teardown: '$c' failed" >&2
  done
  UNDO=()
}}
# A link of the host this plan made: a veth goes with its peer's namespace.
del_link() {{ if ip link show dev "$1" >/dev/null 2>&1; then ip link del dev "$1"; fi; }}
# bg CMD…: starts CMD in the background, its output on stderr, and prints
# its pid. Not a job of this shell: bash 5.2 ending background jobs in an
# EXIT trap warns "wait_for: No record of process" about other children.
# In a session of its own (setsid), so that stop ends whatever it started.
bg() {{ sh -c 'exec setsid "$@" >&2 </dev/null & echo $!' sh "$@"; }}
# A process started with bg (it may be stopped already): it and everything
# it started (its session: a server run through `sh -c` is its child)
# killed, and waited for until each is gone or a zombie.
stop() {{
  kill -- -"$1" 2>/dev/null || kill "$1" 2>/dev/null || return 0
  while ps -o stat= -s "$1" | grep -qv '^Z'; do sleep 0.01; done
}}
# A TCP/UDP server for ns.listen(): accepts and closes (what nslab's own does).
LISTEN='
import socket, sys
udp = sys.argv[1] == "udp"
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[2])))
if not udp:
    s.listen(64)
while True:
    if udp:
        d, a = s.recvfrom(65536)
        s.sendto(d, a)
    else:
        c, _ = s.accept()
        c.close()
'
# Only when this shell exits: under set -e, bash also runs the EXIT trap
# when a subshell ($(…), a pipeline) ends.
if [ "${{NSLAB_PLAN_KEEP:-}}" != 1 ]; then trap '[ "$BASHPID" = $$ ] && teardown' EXIT; fi
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_the_shell_would_split_or_expand_them() {
        assert_eq!(q("10.0.0.1/24"), "10.0.0.1/24");
        assert_eq!(q("nslab:lab-1"), "nslab:lab-1");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("$HOME"), "'$HOME'");
        assert_eq!(q("it's"), r"'it'\''s'");
        assert_eq!(q(""), "''");
    }

    /// A namespace made and deleted, an address on a link of the lab's and
    /// on one of the host's, as the plan writes them.
    #[test]
    fn events_become_shell_lines() {
        assert_eq!(
            text(Event::NetnsMade { name: "r1" }),
            [
                "ip netns add r1",
                "undo 'ip netns del r1'",
                "ip -n r1 link set lo up"
            ]
        );
        assert_eq!(
            text(Event::NetnsDeleted { name: "a" }),
            ["ip netns del a", "forget 'ip netns del a'"]
        );
        let addr = "10.0.0.1/24".parse().unwrap();
        assert_eq!(
            text(Event::AddrAdded {
                ns: 1,
                dev: "eth0",
                addr,
                foreign: false
            }),
            ["ip -n r1 addr add 10.0.0.1/24 dev eth0"]
        );
        assert_eq!(
            text(Event::AddrAdded {
                ns: HOST,
                dev: "eth0",
                addr,
                foreign: true
            }),
            [
                "ip addr add 10.0.0.1/24 dev eth0",
                "undo 'ip addr del 10.0.0.1/24 dev eth0'"
            ]
        );
        assert_eq!(
            text(Event::LinkUp {
                ns: HOST,
                dev: "eth0",
                up: false,
                old: Some(true)
            }),
            [
                "ip link set dev eth0 down",
                "undo 'ip link set dev eth0 up'"
            ]
        );
        assert_eq!(
            text(Event::NeighAdded {
                ns: 1,
                dev: "eth0",
                addr: "10.0.0.9".parse().unwrap(),
                mac: "02:00:00:00:00:09",
                foreign: false
            }),
            ["ip -n r1 neigh replace 10.0.0.9 lladdr 02:00:00:00:00:09 dev eth0 nud permanent"]
        );
        assert_eq!(
            text(Event::LinkDeleted { ns: 1, dev: "v0" }),
            ["ip -n r1 link del dev v0"]
        );
        assert_eq!(
            text(Event::VethMade {
                a: (HOST, "h0"),
                b: (1, "r0")
            }),
            [
                "ip link add h0 numtxqueues 1 numrxqueues 1 type veth peer name r0 numtxqueues 1 numrxqueues 1 netns r1",
                "ip link set dev h0 up",
                "ip -n r1 link set dev r0 up",
                "ip link set dev h0 alias nslab:x",
                "undo 'del_link h0'"
            ]
        );
        assert_eq!(
            text(Event::BridgeMade {
                ns: 1,
                name: "br0",
                opts: &BridgeOpts {
                    stp: Some(true),
                    ..Default::default()
                }
            }),
            [
                "ip -n r1 link add br0 type bridge stp_state 1",
                "ip -n r1 link set dev br0 up"
            ]
        );
        assert_eq!(
            text(Event::BridgeMade {
                ns: 1,
                name: "br0",
                opts: &BridgeOpts {
                    stp: Some(true),
                    priority: Some(4096),
                    ..Default::default()
                }
            }),
            [
                "ip -n r1 link add br0 type bridge stp_state 1 priority 4096",
                "ip -n r1 link set dev br0 up"
            ]
        );
    }

    /// Lab "x" whose namespace 1 is its "r1"; the host is not its own.
    struct Fake;
    impl Ctx for Fake {
        fn lab(&self) -> &str {
            "x"
        }
        fn at(&self, id: NsId) -> NsRef {
            if id == HOST {
                NsRef::Host
            } else {
                NsRef::Named("r1".into())
            }
        }
        fn created(&self, id: NsId) -> bool {
            id != HOST
        }
        fn table(&self) -> String {
            "nslab-x".into()
        }
    }

    /// `Fake` whose r1 has /etc/frr private and host name r1.
    struct FakeNode;
    impl Ctx for FakeNode {
        fn lab(&self) -> &str {
            Fake.lab()
        }
        fn at(&self, id: NsId) -> NsRef {
            Fake.at(id)
        }
        fn created(&self, id: NsId) -> bool {
            Fake.created(id)
        }
        fn table(&self) -> String {
            Fake.table()
        }
        fn node(&self, id: NsId) -> Option<NodeSpec> {
            (id != HOST).then(|| NodeSpec {
                dirs: vec!["/etc/frr".into()],
                hostname: Some("r1".into()),
            })
        }
    }

    /// A node's directories are a temporary directory of the plan's,
    /// bound over each target in a mount (and UTS) namespace of each
    /// program's own.
    #[test]
    fn a_node_s_programs_bind_its_directories_and_set_its_host_name() {
        let text = |e: Event| -> Vec<String> {
            lines(&e, &FakeNode)
                .into_iter()
                .map(|l| match l {
                    Line::Do(t) => t,
                    Line::Undo(t) => format!("undo {}", q(&t)),
                })
                .collect()
        };
        let dirs = ["/etc/frr".to_string()];
        assert_eq!(
            text(Event::NodeMade {
                ns: 1,
                dirs: &dirs,
                first: true
            }),
            [
                "N1=$(mktemp -d)",
                "undo \"rm -rf $N1\"",
                "mkdir \"$N1\"/etc%2Ffrr"
            ]
        );
        assert_eq!(
            text(Event::NodeWritten {
                ns: 1,
                dir: "/etc/frr",
                rest: "/a/frr.conf",
                text: "x y\n",
            }),
            [
                "mkdir -p \"$N1\"/etc%2Ffrr/a",
                "printf %s 'x y\n' > \"$N1\"/etc%2Ffrr/a/frr.conf"
            ]
        );
        let argv = ["hostname".to_string()];
        assert_eq!(
            text(Event::Ran {
                ns: 1,
                argv: &argv,
                opts: &RunOpts::default(),
                code: 0,
            }),
            [
                "ip netns exec r1 unshare --mount --uts sh -c 'mount --bind \"$0\"/etc%2Ffrr /etc/frr && hostname r1 && exec \"$@\"' \"$N1\" hostname </dev/null"
            ]
        );
        // The host is no node: as before.
        assert_eq!(
            text(Event::Ran {
                ns: HOST,
                argv: &argv,
                opts: &RunOpts::default(),
                code: 0,
            }),
            ["hostname </dev/null"]
        );
    }

    fn text(e: Event) -> Vec<String> {
        lines(&e, &Fake)
            .into_iter()
            .map(|l| match l {
                Line::Do(t) => t,
                Line::Undo(t) => format!("undo {}", q(&t)),
            })
            .collect()
    }

    #[test]
    fn routes_rules_and_sysctls_become_shell_lines() {
        let req = RouteReq::via("10.2.0.0/16".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert_eq!(
            text(Event::RouteAdded { ns: 1, req: &req }),
            ["ip -n r1 route add 10.2.0.0/16 via 10.0.0.2 proto static"]
        );
        let mut host = RouteReq::via("::/0".parse().unwrap(), "fe80::1".parse().unwrap());
        host.via = None;
        host.dev = Some("eth0".into());
        host.table = Some(7);
        assert_eq!(
            text(Event::RouteAdded {
                ns: HOST,
                req: &host
            }),
            [
                "ip route add -6 default dev eth0 table 7 scope global proto static",
                "undo 'ip route del -6 default dev eth0 table 7 scope global proto static 2>/dev/null || true'"
            ]
        );
        assert_eq!(
            text(Event::RouteDeleted {
                ns: 1,
                what: "route del 10.2.0.0/16 table 254 metric 0"
            }),
            ["ip -n r1 route del 10.2.0.0/16 table 254 metric 0"]
        );
        let rule = RuleSpec {
            v6: false,
            priority: Some(100),
            from: Some("10.0.0.0/8".parse().unwrap()),
            to: None,
            iif: None,
            oif: None,
            fwmark: Some(1),
            fwmask: Some(0xff),
            table: Some(7),
            action: RuleAction::Lookup,
        };
        assert_eq!(
            text(Event::RuleAdded {
                ns: HOST,
                rule: &rule
            }),
            [
                "ip rule add priority 100 from 10.0.0.0/8 fwmark 0x1/0xff table 7",
                "undo 'ip rule del priority 100 from 10.0.0.0/8 fwmark 0x1/0xff table 7'"
            ]
        );
        assert_eq!(
            text(Event::SysctlSet {
                ns: 1,
                key: "net.ipv4.ip_forward",
                value: "1",
                old: "0"
            }),
            ["ip netns exec r1 sysctl -qw net.ipv4.ip_forward=1"]
        );
        assert_eq!(
            text(Event::SysctlSet {
                ns: HOST,
                key: "net.ipv4.ip_forward",
                value: "1",
                old: "0"
            }),
            [
                "sysctl -qw net.ipv4.ip_forward=1",
                "undo 'sysctl -qw net.ipv4.ip_forward=0'"
            ]
        );
    }

    #[test]
    fn link_changes_become_shell_lines() {
        assert_eq!(
            text(Event::LinkMade {
                ns: 1,
                name: "mv0",
                kind: "macvlan mode bridge",
                parent: Some((HOST, "eth0"))
            }),
            [
                "ip link add link eth0 name mv0 netns r1 type macvlan mode bridge",
                "ip -n r1 link set dev mv0 up"
            ]
        );
        assert_eq!(
            text(Event::LinkMade {
                ns: HOST,
                name: "vx0",
                kind: "vxlan id 5 dstport 4789",
                parent: None
            }),
            [
                "ip link add vx0 type vxlan id 5 dstport 4789",
                "ip link set dev vx0 up",
                "ip link set dev vx0 alias nslab:x",
                "undo 'del_link vx0'"
            ]
        );
        assert_eq!(
            text(Event::MasterSet {
                ns: 1,
                br: "br0",
                link: "v0",
                old: None,
                was_up: true
            }),
            [
                "ip -n r1 link set dev v0 master br0",
                "ip -n r1 link set dev v0 up"
            ]
        );
        assert_eq!(
            text(Event::MasterSet {
                ns: HOST,
                br: "br0",
                link: "eth1",
                old: Some(None),
                was_up: false
            }),
            [
                "ip link set dev eth1 master br0",
                "ip link set dev eth1 up",
                format!("undo {}", q(&set_master_shell(&NsRef::Host, "eth1", None))).as_str(),
                "undo 'ip link set dev eth1 down'"
            ]
        );
        let port = PortOpts {
            isolated: Some(true),
            cost: Some(10),
            ..Default::default()
        };
        assert_eq!(
            text(Event::PortSet {
                ns: 1,
                link: "v0",
                port: &port,
                old: None
            }),
            ["ip -n r1 link set dev v0 type bridge_slave isolated on cost 10"]
        );
        assert!(
            text(Event::PortSet {
                ns: 1,
                link: "v0",
                port: &PortOpts::default(),
                old: None
            })
            .is_empty()
        );
        // br.port on a link the lab did not make: its old values come back.
        let port = PortOpts {
            hairpin: Some(true),
            learning: Some(false),
            flood: Some(false),
            ..Default::default()
        };
        let old = PortOpts {
            hairpin: Some(false),
            learning: Some(true),
            flood: Some(true),
            ..Default::default()
        };
        assert_eq!(
            text(Event::PortSet {
                ns: HOST,
                link: "eth1",
                port: &port,
                old: Some(&old)
            }),
            [
                "ip link set dev eth1 type bridge_slave hairpin on learning off flood off",
                "undo 'ip link set dev eth1 type bridge_slave hairpin off learning on flood on'"
            ]
        );
        let tbf = ["root handle 10: tbf rate 1mbit burst 32kb latency 50ms".to_string()];
        assert_eq!(
            text(Event::Shaped {
                ns: HOST,
                dev: "eth0",
                lines: &tbf,
                foreign: true
            }),
            [
                "tc qdisc del dev eth0 root 2>/dev/null || true",
                "tc qdisc add dev eth0 root handle 10: tbf rate 1mbit burst 32kb latency 50ms",
                format!("undo {}", q(&delete_qdisc_shell(&NsRef::Host, "eth0"))).as_str()
            ]
        );
        assert_eq!(
            text(Event::Unshaped { ns: 1, dev: "v0" }),
            ["tc -n r1 qdisc del dev v0 root"]
        );
        assert_eq!(
            text(Event::Moved {
                from: 1,
                name: "v0",
                to: HOST,
                dest: "h0",
                up: true
            }),
            [
                "ip -n r1 link set dev v0 netns $$ name h0",
                "ip link set dev h0 up",
                "ip link set dev h0 alias nslab:x",
                "undo 'del_link h0'"
            ]
        );
        assert_eq!(
            text(Event::LinkSet {
                ns: HOST,
                dev: "eth0",
                set: "address 02:00:00:00:00:01",
                undo: Some("address 02:00:00:00:00:02")
            }),
            [
                "ip link set dev eth0 address 02:00:00:00:00:01",
                "undo 'ip link set dev eth0 address 02:00:00:00:00:02'"
            ]
        );
    }

    #[test]
    fn probes_become_commands_with_what_nslab_saw() {
        let fail_here = q("nslab plan: this probe failed here, but succeeded in the nslab run");
        let opts = crate::net::ping::PingOpts {
            count: 3,
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(1500),
            size: 56,
            df: false,
            src: None,
            ttl: None,
            dev: None,
        };
        assert_eq!(
            text(Event::Pinged {
                ns: 1,
                dst: "10.0.0.2".parse().unwrap(),
                opts: &opts,
                sent: 3,
                got: 2
            }),
            [format!(
                "ip netns exec r1 ping -c 3 -i 0.2 -W 2 10.0.0.2 || echo {fail_here} >&2  # nslab saw: 2/3 replies"
            )]
        );
        assert_eq!(
            text(Event::Connected {
                ns: HOST,
                dst: "fd00::2".parse().unwrap(),
                proto: Proto::Tcp,
                port: 80,
                timeout: Duration::from_secs(1),
                ok: false,
                src: None
            }),
            ["timeout 1 bash -c '</dev/tcp/[fd00::2]/80' || true  # nslab saw: no connection"]
        );
        // From a source address: nc -s, which bash's /dev/tcp cannot do.
        assert_eq!(
            text(Event::Connected {
                ns: 1,
                dst: "10.0.0.2".parse().unwrap(),
                proto: Proto::Tcp,
                port: 80,
                timeout: Duration::from_secs(1),
                ok: false,
                src: Some("10.255.0.1".parse().unwrap())
            }),
            [
                "ip netns exec r1 timeout 1 nc -z -s 10.255.0.1 10.0.0.2 80 || true  # nslab saw: no connection"
            ]
        );
        assert_eq!(
            text(Event::Listening {
                ns: 1,
                proto: Proto::Udp,
                port: 53
            }),
            [
                "L=$(bg ip netns exec r1 python3 -c \"$LISTEN\" udp 53)\nundo \"stop $L\"",
                "ip netns exec r1 timeout 10 sh -c 'until [ -n \"$(ss -lunH '\\''sport = :53'\\'')\" ]; do sleep 0.02; done'"
            ]
        );
        let nodes = [
            (1, "10.0.0.1".parse().unwrap()),
            (HOST, "10.0.0.2".parse().unwrap()),
        ];
        assert_eq!(
            text(Event::Reached {
                nodes: &nodes,
                srcs: &[],
                count: 1,
                timeout: Duration::from_millis(500),
                pairs: &[(0, 1, 0)]
            }),
            ["ip netns exec r1 ping -c 1 -i 0.1 -W 1 10.0.0.2 || true  # nslab saw: 0/1 replies"]
        );
        assert_eq!(
            text(Event::Reached {
                nodes: &nodes,
                srcs: &[Some("10.255.0.1".parse().unwrap()), None],
                count: 1,
                timeout: Duration::from_millis(500),
                pairs: &[(0, 1, 0)]
            }),
            [
                "ip netns exec r1 ping -c 1 -i 0.1 -W 1 -I 10.255.0.1 10.0.0.2 || true  # nslab saw: 0/1 replies"
            ]
        );
        assert_eq!(
            text(Event::Measured {
                a: 1,
                b: HOST,
                dst: "10.0.0.2".parse().unwrap(),
                proto: Proto::Udp,
                port: 5201,
                secs: Duration::from_secs(2),
                rate: Some(5_000_000),
                bits: 4_990_000
            }),
            [
                "iperf3 -s -1 -D -p 5201",
                "sleep 0.2",
                &format!(
                    "ip netns exec r1 iperf3 -c 10.0.0.2 -p 5201 -t 2 -u -b 5000000 || echo {fail_here} >&2  # nslab saw: 4990000 bit/s"
                )
            ]
        );
        assert_eq!(
            text(Event::RouteWaited {
                ns: 1,
                dst: "10.255.0.3/32".parse().unwrap(),
                protocol: Some(188),
                timeout: Duration::from_secs(30)
            }),
            [
                "ip netns exec r1 timeout 30 sh -c 'until ip route show table all exact 10.255.0.3/32 proto ospf | grep -q .; do sleep 0.05; done'"
            ]
        );
        assert_eq!(
            text(Event::DadWaited { ns: 1 }),
            [
                "for _ in $(seq 30); do [ -z \"$(ip -n r1 -6 addr show scope link tentative)\" ] && break; sleep 0.1; done  # a router's IPv6 link-locals done with DAD"
            ]
        );
        assert_eq!(
            text(Event::AddrDadWaited {
                ns: 1,
                addr: "fd00:2::2".parse().expect("an address")
            }),
            [
                "for _ in $(seq 50); do ip -n r1 route get fd00:2::2 | grep -q '^local' && break; sleep 0.1; done  # fd00:2::2 ready to receive on"
            ]
        );
    }

    #[test]
    fn an_nft_transaction_reads_as_nft_writes_it() {
        let json =
            r#"{"nftables": [{"create": {"table": {"family": "inet", "name": "nslab-x"}}}]}"#;
        let nft = crate::net::nft_text::text(json).unwrap();
        assert_eq!(
            text(Event::NftApplied {
                ns: HOST,
                json,
                first: true
            }),
            [
                format!("nft -f - <<'NFT'\n{nft}NFT"),
                format!("undo {}", q(&delete_table_shell(&NsRef::Host, "nslab-x")))
            ]
        );
        // The lab's own namespace goes with its table; no translation: JSON.
        assert_eq!(
            text(Event::NftApplied {
                ns: 1,
                json: "not json",
                first: true
            }),
            ["ip netns exec r1 nft -j -f - <<'NFT'\nnot json\nNFT"]
        );
    }

    #[test]
    fn processes_and_waits_become_shell_lines() {
        assert_eq!(
            text(Event::Slept {
                d: Duration::from_millis(1500)
            }),
            ["sleep 1.5"]
        );
        let argv = ["echo".to_string(), "a b".to_string()];
        let plain = RunOpts::default();
        assert_eq!(
            text(Event::Ran {
                ns: 1,
                argv: &argv,
                opts: &plain,
                code: 0
            }),
            ["ip netns exec r1 echo 'a b' </dev/null"]
        );
        let fed = RunOpts {
            timeout: Some(Duration::from_secs(2)),
            stdin: Some(b"hi".to_vec()),
            env: vec![("K".into(), "v".into())],
        };
        assert_eq!(
            text(Event::Ran {
                ns: HOST,
                argv: &argv,
                opts: &fed,
                code: 3
            }),
            ["printf %s hi | timeout 2 env K=v echo 'a b' || true  # exit 3 in nslab's run"]
        );
        assert_eq!(
            text(Event::Spawned {
                ns: 1,
                argv: &argv,
                idx: 4
            }),
            ["P4=$(bg ip netns exec r1 echo 'a b')", "undo \"stop $P4\""]
        );
        assert_eq!(text(Event::Stopped { idx: 4 }), ["stop \"$P4\""]);
    }

    #[test]
    fn durations_are_written_as_seconds() {
        assert_eq!(secs(Duration::from_secs(30)), "30");
        assert_eq!(secs(Duration::from_millis(100)), "0.1");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5");
    }
}
