//! The driver's side of a lab across machines: namespaces placed on other
//! machines (`netns("r3", #{on: "m2"})`) and the ops on them, carried out
//! by the agent there (see `crate::remote`). A placed namespace has an
//! entry in `Spaces` without a descriptor, so a call not carried across
//! yet fails with its name and machine instead of touching this machine.

mod calls;
pub(super) use calls::REMOTE_CAPS;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::{Lab, LabError, NsId, Result, RouteKind, RouteReq};
use crate::net::exec;
use crate::net::ping::{PingOpts, PingReport, Reply};
use crate::remote::across::AcrossOp;
use crate::remote::{Answer, Machine, Op, Refusal, proto::RemoteNs};

mod hosts;
mod node;
mod reach;
mod walk;

/// The lowest VNI a lab gives its links between machines.
const FIRST_VNI: u32 = 10_000;

/// Where a run starts counting VNIs: somewhere of its own between
/// FIRST_VNI and 2^23, so two labs driven from one machine (whose ends
/// share its underlay namespace and port) seldom meet; an agent refusing
/// one makes the driver take the next.
fn first_vni() -> u32 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().rotate_left(16);
    FIRST_VNI + seed % (0x80_0000 - FIRST_VNI)
}

#[derive(Default)]
pub struct Remotes {
    /// `--machines`: name and agent address, as given.
    known: Vec<(String, String)>,
    token: Option<Vec<u8>>,
    /// Connected on first use.
    open: HashMap<String, Machine>,
    placed: HashMap<NsId, (String, RemoteNs)>,
    next_vni: u32,
    /// Processes spawned on placed namespaces: machine, the agent's number.
    procs: Vec<(String, u64)>,
    /// The VXLAN ends of links between machines (remote/walk.rs).
    across: walk::Crossings,
    /// Captures running on other machines (calls.rs).
    caps: Vec<calls::RemoteCap>,
    /// Listeners on other machines: machine, the agent's number.
    listens: Vec<(String, usize)>,
    /// Hosts lines across machines (remote/hosts.rs).
    hosts: hosts::Hosts,
}

impl Remotes {
    fn on(&self, id: NsId) -> Option<(&str, RemoteNs)> {
        self.placed.get(&id).map(|(m, r)| (m.as_str(), *r))
    }
}

fn refused(r: Refusal) -> LabError {
    LabError::new(r.message, r.help)
}

impl Lab {
    /// `--machines` and the token: where `on` may place namespaces.
    pub fn set_machines(&mut self, machines: Vec<(String, String)>, token: Vec<u8>) {
        self.remote.known = machines;
        self.remote.token = Some(token);
    }

    /// The machine a namespace is on, if not this one.
    pub fn machine_of(&self, id: NsId) -> Option<&str> {
        self.remote.on(id).map(|(m, _)| m)
    }

    fn machine(&mut self, name: &str) -> Result<&Machine> {
        if !self.remote.open.contains_key(name) {
            let Some((_, addr)) = self.remote.known.iter().find(|(n, _)| n == name) else {
                let known: Vec<&str> = self.remote.known.iter().map(|(n, _)| n.as_str()).collect();
                let help = if known.is_empty() {
                    "place namespaces on other machines with `nslab run --machines m2=ADDR:PORT --token-file F`, each running `nslab agent`".to_string()
                } else {
                    let near = crate::text::nearest(name, known.iter().copied())
                        .map(|n| format!("did you mean '{n}'? "))
                        .unwrap_or_default();
                    format!("{near}the machines are: {}", known.join(", "))
                };
                return Err(LabError::new(
                    format!("no machine '{}' was given", crate::text::clip(name, 40)),
                    help,
                ));
            };
            let token = self.remote.token.clone().unwrap_or_default();
            let addr = addr.clone();
            let prefix = Some(self.sp.prefix().to_string()).filter(|p| !p.is_empty());
            let mut m =
                Machine::connect(name, &addr, &token, self.id.name(), prefix).map_err(refused)?;
            let cancel = self.id.cancel().clone();
            m.stop_when(move || cancel.is_set());
            self.remote.open.insert(name.to_string(), m);
        }
        self.remote
            .open
            .get(name)
            .ok_or_else(|| LabError::new("lost a machine", "this is a bug"))
    }

    fn call_on(&mut self, machine: &str, op: Op) -> Result<Answer> {
        hosts::may_change(&mut self.remote.hosts, machine, &op);
        self.machine(machine)?.call_or_stop(op).map_err(refused)
    }

    /// `netns(name, #{on: machine})`: a namespace made by the agent there.
    pub fn netns_on(&mut self, name: &str, machine: &str) -> Result<NsId> {
        self.placed_netns(name, machine, Op::Netns { name: name.into() })
    }

    /// A namespace made by the agent of `machine` with `op`.
    fn placed_netns(&mut self, name: &str, machine: &str, op: Op) -> Result<NsId> {
        super::names::check_nsname(name)?;
        if self.sp.created_named(name).is_some() || self.sp.placed_named(name).is_some() {
            return Err(LabError::new(
                format!("namespace '{name}' already exists: this lab made it earlier"),
                "pick another name: a lab's namespace names are one list across its machines",
            ));
        }
        let Answer::Ns(r) = self.call_on(machine, op)? else {
            return Err(unexpected(machine));
        };
        let id = self.sp.place(name, machine);
        self.remote.placed.insert(id, (machine.to_string(), r));
        Ok(id)
    }

    /// The op for a placed namespace, if `id` is one.
    fn placed(&self, id: NsId) -> Option<(String, RemoteNs)> {
        self.remote.on(id).map(|(m, r)| (m.to_string(), r))
    }

    pub(super) fn remote_addr(&mut self, id: NsId, dev: &str, addr: IpNet) -> Option<Result<()>> {
        let (m, ns) = self.placed(id)?;
        let op = Op::Addr {
            ns,
            dev: dev.into(),
            addr,
        };
        Some(self.call_on(&m, op).map(|_| ()))
    }

    pub(super) fn remote_up(&mut self, id: NsId, dev: &str, up: bool) -> Option<Result<()>> {
        let (m, ns) = self.placed(id)?;
        let op = Op::Up {
            ns,
            dev: dev.into(),
            up,
        };
        Some(self.call_on(&m, op).map(|_| ()))
    }

    pub(super) fn remote_sysctl(
        &mut self,
        id: NsId,
        key: &str,
        value: &str,
    ) -> Option<Result<String>> {
        let (m, ns) = self.placed(id)?;
        let op = Op::Sysctl {
            ns,
            key: key.into(),
            value: value.into(),
        };
        Some(match self.call_on(&m, op) {
            Ok(Answer::Text(old)) => Ok(old),
            Ok(_) => Err(unexpected(&m)),
            Err(e) => Err(e),
        })
    }

    pub(super) fn remote_forwarding(&mut self, id: NsId, on: bool) -> Option<Result<()>> {
        let (m, ns) = self.placed(id)?;
        Some(self.call_on(&m, Op::Forwarding { ns, on }).map(|_| ()))
    }

    pub(super) fn remote_route(&mut self, id: NsId, req: &RouteReq) -> Option<Result<()>> {
        let (m, ns) = self.placed(id)?;
        if req.table.is_some()
            || req.kind != RouteKind::Unicast
            || req.src.is_some()
            || !req.nexthops.is_empty()
        {
            // The whole request, as the lab takes it (calls.rs).
            return self.remote_do(id, "route", req);
        }
        let op = Op::Route {
            ns,
            dst: req.dst,
            via: req.via,
            dev: req.dev.clone(),
            metric: req.metric,
        };
        Some(self.call_on(&m, op).map(|_| ()))
    }

    pub(super) fn remote_exec(
        &mut self,
        id: NsId,
        argv: &[String],
        opts: &exec::RunOpts,
    ) -> Option<Result<exec::Output>> {
        let (m, ns) = self.placed(id)?;
        self.send_hosts(&m);
        let op = Op::Exec {
            ns,
            argv: argv.to_vec(),
            timeout_ms: opts.timeout.map(|t| t.as_millis() as u64),
            stdin: opts.stdin.clone(),
            env: opts.env.clone(),
        };
        Some(match self.call_on(&m, op) {
            Ok(Answer::Exec {
                code,
                stdout,
                stderr,
                timed_out,
            }) => Ok(exec::Output {
                code,
                stdout,
                stderr,
                timed_out,
            }),
            Ok(_) => Err(unexpected(&m)),
            Err(e) => Err(e),
        })
    }

    pub(super) fn remote_ping(
        &mut self,
        id: NsId,
        dst: IpAddr,
        o: &PingOpts,
    ) -> Option<Result<PingReport>> {
        let (m, ns) = self.placed(id)?;
        let op = Op::Ping {
            ns,
            dst,
            count: o.count,
            interval_ms: o.interval.as_millis() as u64,
            timeout_ms: o.timeout.as_millis() as u64,
            size: o.size,
            df: o.df,
            src: o.src,
            ttl: o.ttl,
            dev: o.dev.clone(),
        };
        Some(match self.call_on(&m, op) {
            Ok(Answer::Ping(p)) => Ok(PingReport {
                sent: p.sent,
                replies: p
                    .replies
                    .into_iter()
                    .map(|(seq, ttl, us, from, bytes)| Reply {
                        seq,
                        ttl,
                        rtt: Duration::from_micros(us),
                        from,
                        bytes,
                    })
                    .collect(),
                error: p.error,
                why: p.why,
                busy: p.busy,
            }),
            Ok(_) => Err(unexpected(&m)),
            Err(e) => Err(e),
        })
    }

    /// A veth with an end on another machine: both ends on one machine
    /// there is a veth made by its agent; ends on two machines are a VXLAN
    /// link on each side, named as the end, with a VNI no other link of
    /// this lab has (and, the agents say, no other lab there uses).
    pub(super) fn remote_veth(
        &mut self,
        a: NsId,
        an: &str,
        b: NsId,
        bn: &str,
    ) -> Option<Result<()>> {
        let pa = self.placed(a);
        let pb = self.placed(b);
        if pa.is_none() && pb.is_none() {
            return None;
        }
        Some(self.veth_across(a, an, pa, b, bn, pb))
    }

    fn veth_across(
        &mut self,
        a: NsId,
        an: &str,
        pa: Option<(String, RemoteNs)>,
        b: NsId,
        bn: &str,
        pb: Option<(String, RemoteNs)>,
    ) -> Result<()> {
        if let (Some((ma, ra)), Some((mb, rb))) = (&pa, &pb)
            && ma == mb
        {
            let op = Op::Veth {
                a: *ra,
                an: an.into(),
                b: *rb,
                bn: bn.into(),
            };
            return self.call_on(ma, op).map(|_| ());
        }
        // Where each end sends: the other end's machine on the underlay.
        let addr_a = self.underlay(pa.as_ref().map(|p| p.0.as_str()), pb.as_ref())?;
        let addr_b = self.underlay(pb.as_ref().map(|p| p.0.as_str()), pa.as_ref())?;
        if self.remote.next_vni == 0 {
            self.remote.next_vni = first_vni();
        }
        let (ma, mb) = (ma_of(&pa), ma_of(&pb));
        // A placed end first: an agent that refuses the VNI (another lab
        // has it there) has made nothing, and the next VNI is tried.
        let (first, second) = if pa.is_some() {
            ((a, an, pa, addr_b, pb.clone()), (b, bn, pb, addr_a))
        } else {
            ((b, bn, pb, addr_a, pa.clone()), (a, an, pa, addr_b))
        };
        let far_of_first = first.4.as_ref().map(|p| p.0.clone());
        let far_of_second = first.2.as_ref().map(|p| p.0.clone());
        loop {
            let vni = self.remote.next_vni;
            self.remote.next_vni += 1;
            if vni > super::MAX_VNI {
                return Err(LabError::new(
                    "no VNI left for a link between machines",
                    "every VNI is taken on these machines",
                ));
            }
            match self.vxlan_end(
                first.0,
                first.1,
                &first.2,
                vni,
                first.3,
                far_of_first.as_deref(),
            ) {
                Err(e) if e.vni_taken => continue,
                Err(e) => return Err(refused(e)),
                Ok(()) => {}
            }
            let (id, name, placed, remote) = (second.0, second.1, &second.2, second.3);
            match self.vxlan_end(id, name, placed, vni, remote, far_of_second.as_deref()) {
                Err(e) if e.vni_taken => {
                    // The first end is made (its lab's teardown removes
                    // it) under the name the script gave: no retry.
                    return Err(LabError::new(
                        format!("VNI {vni} is used by another lab on the far machine"),
                        "run the script again: the next run starts at another VNI",
                    ));
                }
                Err(e) => return Err(refused(e)),
                Ok(()) => {
                    self.pair_vxlan_ends((a, an, ma.clone()), (b, bn, mb.clone()), vni);
                    if let (Some(ma), Some(mb)) = (ma, mb) {
                        self.between_agents((a, an, &ma, addr_a), (b, bn, &mb, addr_b))?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// A link between two agents' machines: the driver records both ends
    /// (it made neither), and each agent learns which machine its end
    /// leads to, so that the walk follows it from one to the other.
    fn between_agents(
        &mut self,
        a: (NsId, &str, &str, IpAddr),
        b: (NsId, &str, &str, IpAddr),
    ) -> Result<()> {
        let port_a = self.machine(a.2)?.welcome.vxlan_port;
        let port_b = self.machine(b.2)?.welcome.vxlan_port;
        self.note_ends_between_agents((a.0, a.1, a.3, port_a), (b.0, b.1, b.3, port_b));
        for (me, other) in [(&a, &b), (&b, &a)] {
            let Some((m, ns)) = self.placed(me.0) else {
                continue;
            };
            let op = Op::Across(AcrossOp::FarEnd {
                ns,
                link: me.1.to_string(),
                machine: other.2.to_string(),
            });
            self.call_on(&m, op)?;
        }
        Ok(())
    }

    /// The address of the machine `on` (None: this one) as the machine of
    /// `other` reaches it.
    fn underlay(&mut self, on: Option<&str>, other: Option<&(String, RemoteNs)>) -> Result<IpAddr> {
        match (on, other) {
            // This machine: as its connection to the other's agent left it.
            (None, Some((m, _))) => Ok(self.machine(m)?.local),
            (Some(m), _) => Ok(self.machine(m)?.welcome.underlay),
            (None, None) => Err(LabError::new("no machine", "this is a bug")),
        }
    }

    fn vxlan_end(
        &mut self,
        id: NsId,
        name: &str,
        placed: &Option<(String, RemoteNs)>,
        vni: u32,
        remote: IpAddr,
        far: Option<&str>,
    ) -> std::result::Result<(), Refusal> {
        match placed {
            Some((m, ns)) => {
                let op = Op::VxlanEnd {
                    ns: *ns,
                    name: name.into(),
                    vni,
                    remote,
                };
                let m = m.clone();
                self.machine(&m).map_err(to_refusal)?.call(op).map(|_| ())
            }
            None => {
                // This machine's end: its address toward the far machine,
                // and the port that machine's agent uses.
                let far = far.ok_or_else(|| Refusal::new("no far machine", "this is a bug"))?;
                let m = self.machine(far).map_err(to_refusal)?;
                let (local, port) = (m.local, m.welcome.vxlan_port);
                self.vxlan_underlay(id, name, vni, remote, local, port)
                    .map_err(to_refusal)
            }
        }
    }

    /// Ends the agents' parts: torn down, or kept with the lab.
    pub(super) fn remote_teardown(&mut self) -> Vec<LabError> {
        let keep = self.is_kept();
        // Their files come here before the agents' parts go.
        let mut errors = self.stop_remote_captures();
        let mut names: Vec<String> = self.remote.open.keys().cloned().collect();
        names.sort();
        for n in names {
            let Some(m) = self.remote.open.remove(&n) else {
                continue;
            };
            let op = if keep { Op::Keep } else { Op::Teardown };
            match m.call(op) {
                Ok(Answer::TornDown { errors: e }) => errors.extend(
                    e.into_iter()
                        .map(|e| LabError::new(format!("on machine '{n}': {e}"), "see the error")),
                ),
                Ok(_) => {}
                Err(e) => errors.push(refused(e)),
            }
        }
        self.remote.placed.clear();
        self.remote.procs.clear();
        errors
    }
}

fn to_refusal(e: LabError) -> Refusal {
    Refusal::new(e.message, e.help.unwrap_or_default())
}

fn unexpected(machine: &str) -> LabError {
    LabError::new(
        format!("the agent of machine '{machine}' answered something unexpected"),
        "the agent and this nslab may be different versions: run the same nslab on every machine",
    )
}

/// What a namespace on another machine takes so far (the help of a call
/// that is not carried across).
pub const WORKS_ACROSS: &str = "across machines work so far: netns (with dirs, hostname), veth, bridge, br.attach/port (bridge and port in one namespace), vlan, vrf, vxlan, macvlan/ipvlan (beside their parent), link.delete, addr, up/down, mtu, mac, route, route_delete, rule, neigh, sysctl, forwarding, shape/unshape, masquerade/snat/dnat/accept/drop/reject/policy, exec/run, ping, the reads (links, addrs, routes, neighbors, rules, route_get, fdb, ports, vlans, stats, qdisc, counters, firewall), neigh_flush, route_flush_cache, link.capture (its file comes back here), ns.delete, link.move and throughput (within one machine), listen (and its peers), wait_port, probe, expect_reach, expect_blocked, connect, trace, reach, private_dirs, read, write, exists, chown, spawn (and its Process), wait_socket, wait_route";
/// The machine of a placed end (`None`: this one).
fn ma_of(p: &Option<(String, RemoteNs)>) -> Option<String> {
    p.as_ref().map(|(m, _)| m.clone())
}
