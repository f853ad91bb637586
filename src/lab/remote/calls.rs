//! The lab calls carried to an agent as `Op::Call`: bridges and their
//! ports, the other link kinds, MTU, MAC, routes, rules, neighbours,
//! shaping, firewall and NAT rules, reads, `show()`'s rows and captures on
//! a namespace placed on another machine. Each call's arguments are the
//! lab's own serde types as JSON; the agent's side is cmd/agent/calls.rs.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{refused, unexpected};
use crate::lab::capture::CaptureView;
use crate::lab::view::Namespace;
use crate::lab::{AttachOpts, BridgeOpts, CaptureOpts, Lab, LabError, NsId, Result};
use crate::net::nft;
use crate::remote::proto::CapState;
use crate::remote::{Answer, Op};

/// Captures on other machines are numbered from here, so one `usize`
/// (the script's Capture handle) names local and placed ones alike.
pub(in crate::lab) const REMOTE_CAPS: usize = usize::MAX / 2;

/// A capture running on another machine; its file comes back here.
pub(in crate::lab) struct RemoteCap {
    machine: String,
    /// The agent's number for it.
    idx: usize,
    /// The file on this machine, as the script named it.
    path: PathBuf,
    /// Its state when it was stopped and its file fetched for the last
    /// time (then nothing changes on the agent any more).
    last: Option<CapState>,
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v)
        .map_err(|e| LabError::new(format!("cannot encode a call: {e}"), "this is a bug"))
}

fn decode<T: DeserializeOwned>(machine: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|_| unexpected(machine))
}

impl Lab {
    /// `call` on the placed namespace `id` (None: `id` is here): the
    /// machine, the answer's JSON and its bytes.
    fn call_placed<A: Serialize>(
        &mut self,
        id: NsId,
        call: &str,
        args: &A,
    ) -> Option<Result<(String, String, Vec<u8>)>> {
        let (m, ns) = self.placed(id)?;
        Some(self.call_there(&m, ns, call, args))
    }

    fn call_there<A: Serialize>(
        &mut self,
        m: &str,
        ns: u64,
        call: &str,
        args: &A,
    ) -> Result<(String, String, Vec<u8>)> {
        let op = Op::Call {
            ns,
            call: call.into(),
            args: json(args)?,
        };
        match self.call_on(m, op)? {
            Answer::Value { json, bytes } => Ok((m.to_string(), json, bytes)),
            _ => Err(unexpected(m)),
        }
    }

    /// A lab call on a placed namespace (`call` as the agent names it),
    /// its answer decoded: the changes with no more to them than their
    /// arguments (mtu, mac, rules, neighbours, routes of every kind,
    /// shaping, the flushes).
    pub(in crate::lab) fn remote_do<A: Serialize, R: DeserializeOwned>(
        &mut self,
        id: NsId,
        call: &str,
        args: &A,
    ) -> Option<Result<R>> {
        self.call_placed(id, call, args)
            .map(|r| r.and_then(|(m, json, _)| decode(&m, &json)))
    }

    /// A macvlan or ipvlan (`call`) with its namespace or its parent's on
    /// another machine: both in the same namespace there.
    pub(in crate::lab) fn remote_kind(
        &mut self,
        id: NsId,
        name: &str,
        parent: (NsId, &str),
        call: &str,
        mode: &str,
    ) -> Option<Result<()>> {
        let (pl, pp) = (self.placed(id), self.placed(parent.0));
        if pl.is_none() && pp.is_none() {
            return None;
        }
        if id != parent.0 {
            let at = |p: &Option<(String, u64)>| match p {
                Some((m, _)) => format!("machine '{m}'"),
                None => "this machine".to_string(),
            };
            return Some(Err(LabError::new(
                format!(
                    "a {call} on another machine is made beside its parent: '{name}' would be in '{}' on {} and its parent '{}' in '{}' on {}",
                    self.sp.name(id),
                    at(&pl),
                    parent.1,
                    self.sp.name(parent.0),
                    at(&pp)
                ),
                "make it in the parent's namespace, or join the namespaces with a veth",
            )));
        }
        self.remote_do(id, call, &(name, parent.1, mode))
    }

    /// `bridge(ns, name, opts)` on a placed namespace.
    pub(in crate::lab) fn remote_bridge(
        &mut self,
        id: NsId,
        name: &str,
        opts: &BridgeOpts,
    ) -> Option<Result<()>> {
        self.call_placed(id, "bridge", &(name, opts))
            .map(|r| r.map(|_| ()))
    }

    /// `br.attach(link, opts)` (`attach`) or `br.port(link, opts)` with the
    /// bridge or the link on another machine: both in the same namespace
    /// there, as on one machine.
    pub(in crate::lab) fn remote_port(
        &mut self,
        br_ns: NsId,
        br: &str,
        link_ns: NsId,
        link: &str,
        opts: &AttachOpts,
        attach: bool,
    ) -> Option<Result<()>> {
        let (pb, pl) = (self.placed(br_ns), self.placed(link_ns));
        if pb.is_none() && pl.is_none() {
            return None;
        }
        if br_ns != link_ns {
            let at = |p: &Option<(String, u64)>| match p {
                Some((m, _)) => format!("machine '{m}'"),
                None => "this machine".to_string(),
            };
            return Some(Err(LabError::new(
                format!(
                    "link '{link}' is in namespace '{}' on {} but bridge '{br}' is in '{}' on {}",
                    self.sp.name(link_ns),
                    at(&pl),
                    self.sp.name(br_ns),
                    at(&pb)
                ),
                format!(
                    "a bridge takes links of its own namespace: make a veth with one end beside the bridge, e.g. veth({}, \"p1\", {}, \"eth0\") (between machines its ends are VXLAN links), and attach that end",
                    self.sp.name(br_ns),
                    self.sp.name(link_ns)
                ),
            )));
        }
        let call = if attach { "attach" } else { "port" };
        self.call_placed(br_ns, call, &(br, link, opts))
            .map(|r| r.map(|_| ()))
    }

    /// A firewall or NAT rule on a placed namespace: applied there at once
    /// (the agent queues and flushes it), so its error is at its call.
    pub(in crate::lab) fn remote_rule(&mut self, id: NsId, op: &nft::Op) -> Option<Result<()>> {
        self.call_placed(id, "rule", op).map(|r| r.map(|_| ()))
    }

    /// A read of a placed namespace (`call` names it as the script API
    /// does; `args` its arguments as JSON): the agent computes the value
    /// the script gets, as JSON.
    pub fn read_placed(
        &mut self,
        id: NsId,
        call: &str,
        args: &serde_json::Value,
    ) -> Option<Result<serde_json::Value>> {
        self.call_placed(id, "read", &(call, args))
            .map(|r| r.and_then(|(m, json, _)| decode(&m, &json)))
    }

    /// The placed namespaces, in the order they were made.
    fn placed_ids(&self) -> Vec<NsId> {
        let mut ids: Vec<NsId> = self.remote.placed.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// `show()`'s and `view`'s rows of the namespaces on other machines,
    /// as their agents read them.
    pub(in crate::lab) fn placed_views(&mut self) -> Result<Vec<Namespace>> {
        let mut out = Vec::new();
        for id in self.placed_ids() {
            let Some(r) = self.call_placed(id, "view", &()) else {
                continue;
            };
            let (m, json, _) = r?;
            let (mut n, fw): (Namespace, Vec<String>) = decode(&m, &json)?;
            n.name = self.sp.name(id).to_string();
            n.firewall = fw;
            n.machine = Some(m);
            out.push(n);
        }
        Ok(out)
    }

    /// `lab()`'s parts on other machines: each namespace, then its links
    /// but lo.
    pub(in crate::lab) fn placed_parts(&mut self) -> Result<Vec<crate::lab::attach::Part>> {
        let mut out = Vec::new();
        for id in self.placed_ids() {
            let Some(r) = self.call_placed(id, "link_names", &()) else {
                continue;
            };
            let (m, json, _) = r?;
            let names: Vec<String> = decode(&m, &json)?;
            let ns_name = self.sp.name(id).to_string();
            out.push(crate::lab::attach::Part {
                ns: id,
                ns_name: ns_name.clone(),
                link: None,
            });
            out.extend(
                names
                    .into_iter()
                    .filter(|l| l != "lo")
                    .map(|l| crate::lab::attach::Part {
                        ns: id,
                        ns_name: ns_name.clone(),
                        link: Some(l),
                    }),
            );
        }
        Ok(out)
    }

    /// The agent's side of "view": namespace `id` as `show()` has it, and
    /// its firewall lines (which the view's serde form leaves out).
    pub fn view_here(&mut self, id: NsId) -> Result<(Namespace, Vec<String>)> {
        let mut n = self.view_one(id)?;
        let fw = std::mem::take(&mut n.firewall);
        Ok((n, fw))
    }

    /// `link.capture(file, opts)` on a placed namespace: the capture runs
    /// there, its file comes back to `file` here at cap.stop(),
    /// cap.packets() and the end of the lab.
    pub(in crate::lab) fn remote_capture(
        &mut self,
        id: NsId,
        link: &str,
        file: &str,
        opts: &CaptureOpts,
    ) -> Option<Result<usize>> {
        let (m, ns) = self.placed(id)?;
        Some(self.start_remote_capture(&m, ns, link, file, opts))
    }

    fn start_remote_capture(
        &mut self,
        m: &str,
        ns: u64,
        link: &str,
        file: &str,
        opts: &CaptureOpts,
    ) -> Result<usize> {
        let path = crate::lab::capture::capture_path(file)?;
        if self
            .remote
            .caps
            .iter()
            .any(|c| c.path == path && c.last.is_none())
        {
            return Err(LabError::new(
                format!(
                    "{} is being written by another capture already",
                    path.display()
                ),
                "give each capture a file of its own, or stop the other one first (cap.stop())",
            ));
        }
        // Made here first: a file that cannot be written fails before
        // anything starts there.
        crate::lab::capture::create(&path)?;
        let (_, json, _) = self.call_there(m, ns, "capture", &(link, opts.snaplen, opts.count))?;
        let idx: usize = decode(m, &json)?;
        self.remote.caps.push(RemoteCap {
            machine: m.to_string(),
            idx,
            path,
            last: None,
        });
        Ok(REMOTE_CAPS + self.remote.caps.len() - 1)
    }

    /// Capture `idx` (one of REMOTE_CAPS's) as the agent has it now.
    pub(in crate::lab) fn remote_capture_view(&self, idx: usize) -> Option<CaptureView> {
        let c = self.remote.caps.get(idx.checked_sub(REMOTE_CAPS)?)?;
        let s = match c.last {
            Some(s) => s,
            None => self.capture_state(c, false).ok()?,
        };
        Some(CaptureView {
            packets: s.packets,
            running: s.running,
            path: c.path.clone(),
            dropped: s.dropped,
        })
    }

    /// Asks the agent for capture `c`'s state (stopping it first with
    /// `stop`).
    fn capture_state(&self, c: &RemoteCap, stop: bool) -> Result<CapState> {
        let m = self.remote.open.get(&c.machine).ok_or_else(|| {
            LabError::new(format!("lost machine '{}'", c.machine), "see the error")
        })?;
        let op = Op::Call {
            ns: 0,
            call: if stop {
                "capture_stop"
            } else {
                "capture_state"
            }
            .into(),
            args: json(&c.idx)?,
        };
        match m.call(op).map_err(refused)? {
            Answer::Value { json, .. } => decode(&c.machine, &json),
            _ => Err(unexpected(&c.machine)),
        }
    }

    /// Copies capture `c`'s file from the agent to its place here, as it
    /// is there now.
    fn fetch_capture(&self, c: &RemoteCap) -> Result<CapState> {
        let m = self.remote.open.get(&c.machine).ok_or_else(|| {
            LabError::new(format!("lost machine '{}'", c.machine), "see the error")
        })?;
        let cant = |e: std::io::Error| {
            LabError::new(
                format!("cannot write the capture file {}: {e}", c.path.display()),
                "pick another place for it, e.g. /tmp",
            )
        };
        let mut f = crate::lab::capture::create(&c.path)?;
        let mut offset = 0u64;
        loop {
            let op = Op::Call {
                ns: 0,
                call: "capture_data".into(),
                args: json(&(c.idx, offset))?,
            };
            let (s, bytes) = match m.call(op).map_err(refused)? {
                Answer::Value { json, bytes } => (decode::<CapState>(&c.machine, &json)?, bytes),
                _ => return Err(unexpected(&c.machine)),
            };
            f.write_all(&bytes).map_err(cant)?;
            offset += bytes.len() as u64;
            if bytes.is_empty() || offset >= s.len {
                f.flush().map_err(cant)?;
                return Ok(s);
            }
        }
    }

    /// `cap.packets()` of a capture elsewhere: its file, fetched now.
    pub(in crate::lab) fn remote_capture_file(&self, idx: usize) -> Option<Result<PathBuf>> {
        let c = self.remote.caps.get(idx.checked_sub(REMOTE_CAPS)?)?;
        if c.last.is_some() {
            return Some(Ok(c.path.clone()));
        }
        Some(self.fetch_capture(c).map(|_| c.path.clone()))
    }

    /// `cap.stop()` of a capture elsewhere: stopped there, its whole file
    /// fetched.
    pub(in crate::lab) fn remote_capture_stop(&mut self, idx: usize) -> Option<Result<()>> {
        let i = idx.checked_sub(REMOTE_CAPS)?;
        let c = self.remote.caps.get(i)?;
        if c.last.is_some() {
            return Some(Ok(()));
        }
        let r = self
            .capture_state(c, true)
            .and_then(|_| self.fetch_capture(c));
        Some(r.map(|s| {
            if let Some(c) = self.remote.caps.get_mut(i) {
                c.last = Some(s);
            }
        }))
    }

    /// Every capture elsewhere stopped and fetched (before the agents'
    /// parts go).
    pub(in crate::lab) fn stop_remote_captures(&mut self) -> Vec<LabError> {
        (0..self.remote.caps.len())
            .filter_map(|i| self.remote_capture_stop(REMOTE_CAPS + i)?.err())
            .collect()
    }
}

impl Lab {
    /// `ns.delete()` on a placed namespace: its agent deletes it; here it
    /// is then gone as a deleted local one is (a later call on it says
    /// it was deleted earlier).
    pub(in crate::lab) fn remote_delete_netns(&mut self, id: NsId) -> Option<Result<()>> {
        let r: Result<()> = self.remote_do(id, "delete_netns", &())?;
        Some(r.map(|()| {
            self.remote.placed.remove(&id);
            self.sp.unplace(id);
        }))
    }

    /// `link.move(to)` with either namespace on another machine: both on
    /// the same one, the agent there moves it; a link cannot leave its
    /// machine.
    pub(in crate::lab) fn remote_move_link(
        &mut self,
        id: NsId,
        name: &str,
        to: NsId,
        new_name: Option<&str>,
    ) -> Option<Result<String>> {
        let (from, dest) = (self.placed(id), self.placed(to));
        if from.is_none() && dest.is_none() {
            return None;
        }
        match (&from, &dest) {
            (Some((ma, _)), Some((mb, rb))) if ma == mb => {
                self.remote_do(id, "move_link", &(*rb, name, new_name))
            }
            _ => Some(Err(self.between_machines(
                &format!("link '{name}' cannot move"),
                id,
                to,
                "a link stays on its machine: join namespaces on two machines with a veth between them (a VXLAN link on each side)",
            ))),
        }
    }

    /// `a.throughput(b)` with either end on another machine: both on the
    /// same one, its agent measures there.
    pub(in crate::lab) fn remote_throughput(
        &mut self,
        a: NsId,
        b: NsId,
        o: &super::super::ThroughputOpts,
    ) -> Option<Result<super::super::Throughput>> {
        let (pa, pb) = (self.placed(a), self.placed(b));
        if pa.is_none() && pb.is_none() {
            return None;
        }
        match (&pa, &pb) {
            (Some((ma, _)), Some((mb, rb))) if ma == mb => {
                self.remote_do(a, "throughput", &(*rb, o))
            }
            _ => Some(Err(self.between_machines(
                "throughput is measured between two namespaces of one machine so far",
                a,
                b,
                "measure between namespaces on the same machine, or send across with exec/spawn of a tool such as iperf3 on each",
            ))),
        }
    }

    fn between_machines(&self, what: &str, a: NsId, b: NsId, help: &str) -> LabError {
        let at = |id: NsId| match self.machine_of(id) {
            Some(m) => format!("'{}' on machine '{m}'", self.sp.name(id)),
            None => format!("'{}' on this machine", self.sp.name(id)),
        };
        LabError::new(format!("{what}: {} and {}", at(a), at(b)), help)
    }
}

/// Where the numbers of listeners on other machines start: `Lab::listen`
/// numbers local and placed ones alike, and `peers` tells them apart.
pub(in crate::lab) const PLACED_LISTENER: usize = 1 << 40;

impl Lab {
    /// `ns.listen(...)` on a placed namespace: the listener runs there.
    pub(in crate::lab) fn remote_listen(
        &mut self,
        id: NsId,
        proto: crate::net::probe::Proto,
        port: u16,
    ) -> Option<Result<usize>> {
        let machine = self.machine_of(id)?.to_string();
        let r: Result<usize> = self.remote_do(id, "listen", &(proto, port))?;
        Some(r.map(|idx| {
            self.remote.listens.push((machine, idx));
            PLACED_LISTENER + self.remote.listens.len() - 1
        }))
    }

    /// The peers a listener on another machine saw (none when its agent
    /// cannot say: `peers` is a property, never an error).
    pub(in crate::lab) fn remote_peers(&self, idx: usize) -> Option<Vec<std::net::IpAddr>> {
        let k = idx.checked_sub(PLACED_LISTENER)?;
        let Some((machine, there)) = self.remote.listens.get(k) else {
            return Some(Vec::new());
        };
        let m = self.remote.open.get(machine)?;
        let op = Op::Call {
            ns: 0,
            call: "listener_peers".into(),
            args: json(there).ok()?,
        };
        Some(match m.call(op) {
            Ok(Answer::Value { json, .. }) => serde_json::from_str(&json).unwrap_or_default(),
            _ => Vec::new(),
        })
    }
}
