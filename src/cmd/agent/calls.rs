//! The agent's side of `Op::Call` (the driver's is lab/remote/calls.rs):
//! the lab calls on a namespace of this machine's part of a lab that have
//! no `Op` of their own (bridges, link kinds, routes, rules, firewall,
//! reads, captures, ...), each call's arguments the lab's own serde types
//! as JSON, named as the driver names them.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::lab::{self, AttachOpts, BridgeOpts, CaptureOpts, Lab, LabError, NsId, Site};
use crate::remote::proto::{CHUNK, CapState};
use crate::remote::{Answer, Refusal};

/// The calls on a capture the agent numbered: they name no namespace.
pub(super) fn names_ns(call: &str) -> bool {
    !matches!(
        call,
        "capture_state" | "capture_stop" | "capture_data" | "listener_peers"
    )
}

/// The second namespace a call names (its first argument), which must be
/// one of this lab's here too: `move_link`'s destination, `throughput`'s
/// receiver.
pub(super) fn other_ns(call: &str, args: &str) -> Option<u64> {
    if !matches!(call, "move_link" | "throughput") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(args).ok()?;
    // Unreadable: `u64::MAX` is no namespace, so the call is refused.
    Some(v.get(0).and_then(|n| n.as_u64()).unwrap_or(u64::MAX))
}

/// The state a lab's calls leave here: the directory of its capture files
/// (they go to the driver, then with the lab).
#[derive(Default)]
pub(super) struct Calls {
    dir: Option<PathBuf>,
    made: usize,
}

fn refusal(e: LabError) -> Refusal {
    Refusal::new(e.message, e.help.unwrap_or_default())
}

fn args<T: DeserializeOwned>(call: &str, s: &str) -> Result<T, Refusal> {
    serde_json::from_str(s).map_err(|e| {
        Refusal::new(
            format!("cannot read the arguments of '{call}': {e}"),
            "the driver and this agent may be different versions: run the same nslab on every machine",
        )
    })
}

fn value<T: Serialize>(v: &T) -> Result<Answer, Refusal> {
    let json = serde_json::to_string(v)
        .map_err(|e| Refusal::new(format!("cannot encode an answer: {e}"), "this is a bug"))?;
    Ok(Answer::Value {
        json,
        bytes: Vec::new(),
    })
}

fn done(r: lab::Result<()>) -> Result<Answer, Refusal> {
    r.map_err(refusal)?;
    value(&())
}

impl Calls {
    pub(super) fn run(
        &mut self,
        lab: &mut Lab,
        id: NsId,
        call: &str,
        a: &str,
    ) -> Result<Answer, Refusal> {
        match call {
            "bridge" => {
                let (name, opts): (String, BridgeOpts) = args(call, a)?;
                done(lab.bridge(id, &name, &opts))
            }
            "attach" | "port" => {
                let (br, link, opts): (String, String, AttachOpts) = args(call, a)?;
                done(if call == "attach" {
                    lab.attach_with(id, &br, id, &link, &opts)
                } else {
                    lab.port_with(id, &br, id, &link, &opts)
                })
            }
            "mtu" => {
                let (name, mtu): (String, u32) = args(call, a)?;
                done(lab.set_mtu(id, &name, mtu))
            }
            "set_mac" => {
                let (name, mac): (String, String) = args(call, a)?;
                done(lab.set_mac(id, &name, &mac))
            }
            "route" => done(lab.add_route(id, args(call, a)?)),
            "route_delete" => done(lab.delete_route(id, args(call, a)?)),
            "rule_add" => done(lab.add_rule(id, args(call, a)?)),
            "neigh" => {
                let (dev, addr, mac): (String, std::net::IpAddr, [u8; 6]) = args(call, a)?;
                done(lab.add_neigh(id, &dev, addr, mac))
            }
            "neigh_flush" => {
                let dev: Option<String> = args(call, a)?;
                value(&lab.neigh_flush(id, dev.as_deref()).map_err(refusal)?)
            }
            "route_flush_cache" => done(lab.route_flush_cache(id)),
            "delete_netns" => done(lab.delete_netns(id)),
            "listen" => {
                let (proto, port): (crate::net::probe::Proto, u16) = args(call, a)?;
                value(&lab.listen(id, proto, port).map_err(refusal)?)
            }
            "listener_peers" => {
                let idx: usize = args(call, a)?;
                value(&lab.peers(idx))
            }
            "wait_port" => {
                type WaitPort = (
                    crate::net::probe::Proto,
                    u16,
                    Option<std::net::IpAddr>,
                    std::time::Duration,
                );
                let (proto, port, addr, timeout): WaitPort = args(call, a)?;
                done(lab.wait_port(id, proto, port, addr, timeout))
            }
            "move_link" => {
                let (to, name, new_name): (u64, String, Option<String>) = args(call, a)?;
                let to = NsId::try_from(to).unwrap_or(usize::MAX);
                value(
                    &lab.move_link(id, &name, to, new_name.as_deref())
                        .map_err(refusal)?,
                )
            }
            "throughput" => {
                let (to, o): (u64, lab::ThroughputOpts) = args(call, a)?;
                let to = NsId::try_from(to).unwrap_or(usize::MAX);
                value(&lab.throughput(id, to, &o).map_err(refusal)?)
            }
            "shape" => {
                let (name, s): (String, lab::Shape) = args(call, a)?;
                done(lab.shape(id, &name, &s))
            }
            "unshape" => {
                let name: String = args(call, a)?;
                done(lab.unshape(id, &name))
            }
            "vlan" => {
                let (parent, vid, name): (String, i64, Option<String>) = args(call, a)?;
                value(
                    &lab.vlan(id, &parent, vid, name.as_deref())
                        .map_err(refusal)?,
                )
            }
            "vrf" => {
                let (name, table): (String, i64) = args(call, a)?;
                done(lab.vrf(id, &name, table))
            }
            "vxlan" => {
                let (name, req): (String, lab::VxlanReq) = args(call, a)?;
                done(lab.vxlan(id, &name, req))
            }
            "macvlan" | "ipvlan" => {
                let (name, parent, mode): (String, String, String) = args(call, a)?;
                done(if call == "macvlan" {
                    lab.macvlan(id, &name, (id, &parent), &mode)
                } else {
                    lab.ipvlan(id, &name, (id, &parent), &mode)
                })
            }
            "delete_link" => {
                let name: String = args(call, a)?;
                done(lab.delete_link(id, &name))
            }
            "rule" => {
                let op: lab::Op = args(call, a)?;
                lab.queue(id, op, Site::default()).map_err(refusal)?;
                lab.flush().map_err(|r| refusal(r.error))?;
                value(&())
            }
            "read" => {
                let (name, v): (String, serde_json::Value) = args(call, a)?;
                let out = crate::api::placed::read_here(lab, id, &name, &v).map_err(refusal)?;
                value(&out)
            }
            "capture" => {
                let (link, snaplen, count): (String, u32, Option<u64>) = args(call, a)?;
                let path = self.next_file()?;
                let idx = lab
                    .capture(
                        id,
                        &link,
                        &path.to_string_lossy(),
                        CaptureOpts { snaplen, count },
                    )
                    .map_err(refusal)?;
                value(&idx)
            }
            "view" => value(&lab.view_here(id).map_err(refusal)?),
            "link_names" => {
                let names: Vec<String> = lab
                    .links(id)
                    .map_err(refusal)?
                    .into_iter()
                    .map(|l| l.name)
                    .collect();
                value(&names)
            }
            "capture_state" => value(&state(lab, args(call, a)?)?),
            "capture_stop" => {
                let idx: usize = args(call, a)?;
                lab.capture_stop(idx).map_err(refusal)?;
                value(&state(lab, idx)?)
            }
            "capture_data" => {
                let (idx, offset): (usize, u64) = args(call, a)?;
                let s = state(lab, idx)?;
                let bytes = chunk(lab, idx, offset)?;
                Ok(Answer::Value {
                    json: serde_json::to_string(&s).unwrap_or_default(),
                    bytes,
                })
            }
            other => Err(Refusal::new(
                format!("this agent does not know the call '{other}'"),
                "the driver and this agent may be different versions: run the same nslab on every machine",
            )),
        }
    }

    /// A new file for a capture, in a directory of this lab's own.
    fn next_file(&mut self) -> Result<PathBuf, Refusal> {
        static N: AtomicUsize = AtomicUsize::new(0);
        if self.dir.is_none() {
            let d = std::env::temp_dir().join(format!(
                "nslab-agent-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir(&d).map_err(|e| {
                Refusal::new(
                    format!("cannot make {} for capture files: {e}", d.display()),
                    "the agent writes captures under its temporary directory ($TMPDIR, else /tmp): make it writable",
                )
            })?;
            self.dir = Some(d);
        }
        self.made += 1;
        let dir = self.dir.as_deref().unwrap_or(std::path::Path::new("/tmp"));
        Ok(dir.join(format!("cap-{}.pcap", self.made)))
    }

    /// The lab is gone (its captures stopped): their files too.
    pub(super) fn end(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn state(lab: &Lab, idx: usize) -> Result<CapState, Refusal> {
    let v = lab.capture_view(idx).ok_or_else(|| {
        Refusal::new(
            format!("no capture #{idx} in this lab here"),
            "run the same nslab on every machine",
        )
    })?;
    let len = std::fs::metadata(&v.path).map(|m| m.len()).unwrap_or(0);
    Ok(CapState {
        packets: v.packets,
        running: v.running,
        dropped: v.dropped,
        len,
    })
}

/// Up to CHUNK bytes of capture `idx`'s file from `offset`.
fn chunk(lab: &Lab, idx: usize, offset: u64) -> Result<Vec<u8>, Refusal> {
    let Some(v) = lab.capture_view(idx) else {
        return Ok(Vec::new());
    };
    let cant = |e: std::io::Error| {
        Refusal::new(
            format!("cannot read the capture file {}: {e}", v.path.display()),
            "something removed the agent's capture files",
        )
    };
    let mut f = std::fs::File::open(&v.path).map_err(cant)?;
    f.seek(SeekFrom::Start(offset)).map_err(cant)?;
    let mut buf = Vec::new();
    f.take(CHUNK).read_to_end(&mut buf).map_err(cant)?;
    Ok(buf)
}
