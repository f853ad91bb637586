//! Traffic shaping: `link.shape(#{rate, delay_ms, …})` puts a token bucket
//! (`tbf`) and/or `netem` at the root of a link's egress, `link.unshape()`
//! takes them off again.
//!
//! The lab only ever replaces a link's default root qdisc (the one the
//! kernel attached by itself, handle 0:), and marks its own with a handle
//! of this run (see `qdisc_major`): a qdisc someone else put there is never
//! destroyed, and at teardown only the lab's own is removed, which brings
//! the kernel's default back.

use super::events::Event;
use super::ledger::Undo;
use super::{Lab, LabError, NsId, Result, net_err};
use crate::lab::steps::tc::DeleteQdisc;
use crate::net::rtnl::{Netem, Tbf};
use netlink_packet_route::tc::TcHandle;
use std::time::Duration;

/// What `link.shape()` asks for, in the user's units.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// Bits per second.
    pub rate: Option<u64>,
    /// Bytes; a default from the rate when not given.
    pub burst: Option<u32>,
    /// How long a packet may wait in the bucket's queue (default 50 ms).
    pub latency: Option<Duration>,
    pub delay: Option<Duration>,
    pub jitter: Option<Duration>,
    pub loss_pct: Option<f64>,
}

impl Shape {
    fn wants_netem(&self) -> bool {
        self.delay.is_some() || self.jitter.is_some() || self.loss_pct.is_some()
    }
}

/// The root qdisc handles nslab gives: 1000:..6fff: (tc picks 8000: and
/// up for qdiscs added without a handle).
pub fn is_lab_major(major: u16) -> bool {
    (0x1000..0x7000).contains(&major)
}

/// The smallest bucket nslab gives, in bytes: enough for a few full-size
/// packets, so a low rate still passes TSO-sized bursts in pieces.
const MIN_BURST: u64 = 32 * 1024;

/// A token bucket for `s`: burst defaults to 10 ms at the rate (at least
/// 32 KiB), and the queue holds `latency` worth of traffic on top, as tc
/// computes `limit` from `latency`.
fn tbf_of(s: &Shape, bits: u64) -> Tbf {
    let rate = (bits / 8).max(1);
    let burst = s
        .burst
        .map(u64::from)
        .unwrap_or_else(|| (rate / 100).max(MIN_BURST));
    let latency = s.latency.unwrap_or(Duration::from_millis(50));
    let queued = u128::from(rate) * latency.as_micros() / 1_000_000;
    let limit = u128::from(burst) + queued;
    Tbf {
        rate,
        burst: u32::try_from(burst).unwrap_or(u32::MAX),
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
    }
}

fn netem_of(s: &Shape) -> Netem {
    let ns = |d: Option<Duration>| {
        d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    };
    Netem {
        delay_ns: ns(s.delay),
        jitter_ns: ns(s.jitter),
        loss_pct: s.loss_pct.unwrap_or(0.0),
    }
}

fn qdisc_err(kind: &str, what: &str, e: crate::net::NetError) -> LabError {
    match (kind, e.raw_errno()) {
        // "Specified qdisc kind is unknown": no such scheduler, built in or
        // loadable.
        ("netem", Some(libc::ENOENT) | Some(libc::EOPNOTSUPP)) => LabError::new(
            "the kernel has no netem support: load sch_netem (modprobe sch_netem) or CONFIG_NET_SCH_NETEM",
            "delay_ms, jitter_ms and loss_pct need netem; on this kernel shape with rate (and burst, latency_ms) only",
        ),
        ("tbf", Some(libc::ENOENT) | Some(libc::EOPNOTSUPP)) => LabError::new(
            "the kernel has no tbf support: load sch_tbf (modprobe sch_tbf) or CONFIG_NET_SCH_TBF",
            "rate needs the token bucket filter (tbf)",
        ),
        (_, Some(libc::EINVAL) | Some(libc::ERANGE)) => LabError::new(
            format!("the kernel refused the {kind} settings for {what}"),
            "check the values: rate above 0, burst at least a packet (e.g. \"32kb\")",
        ),
        _ => LabError::kernel(&format!("add a {kind} qdisc"), what, e),
    }
}

impl Lab {
    /// The handle major of this run's qdiscs: one per run, from its id, so
    /// that it tells the lab's own qdisc from anyone else's.
    fn qdisc_major(&self) -> u16 {
        let seed =
            u16::from_str_radix(self.id.header().id.get(..4).unwrap_or("0"), 16).unwrap_or(0);
        0x1000 + seed % 0x6000
    }

    /// `tc qdisc replace dev DEV root tbf … / netem …`.
    pub fn shape(&mut self, id: NsId, name: &str, s: &Shape) -> Result<()> {
        if let Some(r) = self.remote_do(id, "shape", &(name, s)) {
            return r;
        }
        let cur = self.link(id, name)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("link '{name}' in '{}'", self.sp.name(id));
        let major = self.qdisc_major();
        let root = self
            .sp
            .block_on(r.root_qdisc(cur.index))
            .map_err(|e| LabError::kernel("list qdiscs", &what, e))?;
        let ours = match &root {
            Some(q) if q.major == major => true,
            Some(q) if q.major != 0 => {
                return Err(LabError::new(
                    format!(
                        "{what} already has a root qdisc nslab did not put there ({} {:x}:)",
                        q.kind, q.major
                    ),
                    format!(
                        "nslab replaces only a link's default qdisc and will not destroy this one: remove it first (tc qdisc del dev {name} root) or shape another link"
                    ),
                ));
            }
            _ => false,
        };
        let tbf = s.rate.map(|bits| tbf_of(s, bits));
        let netem = s.wants_netem().then(|| netem_of(s));
        let index = cur.index;
        let act = |lab: &mut Lab| -> Result<()> {
            if ours {
                lab.sp
                    .block_on(r.del_root_qdisc(index))
                    .map_err(|e| LabError::kernel("remove the old shaping", &what, e))?;
            }
            let root = TcHandle::ROOT;
            match (netem, tbf) {
                (Some(n), t) => {
                    // netem at the root (so that a kernel without it fails
                    // before anything changed), the bucket as its child.
                    lab.sp
                        .block_on(r.add_netem(index, root, major, &n))
                        .map_err(|e| qdisc_err("netem", &what, e))?;
                    if let Some(t) = t {
                        let parent = TcHandle { major, minor: 1 };
                        if let Err(e) = lab.sp.block_on(r.add_tbf(index, parent, major + 1, &t)) {
                            let _ = lab.sp.block_on(r.del_root_qdisc(index));
                            return Err(qdisc_err("tbf", &what, e));
                        }
                    }
                    Ok(())
                }
                (None, Some(t)) => lab
                    .sp
                    .block_on(r.add_tbf(index, root, major, &t))
                    .map_err(|e| qdisc_err("tbf", &what, e)),
                (None, None) => Err(LabError::new(
                    "nothing to shape: give rate, delay_ms, jitter_ms or loss_pct",
                    "e.g. link.shape(#{rate: \"10mbit\"})",
                )),
            }
        };
        let foreign = self.foreign_link(id, name) && !ours;
        if foreign {
            let undo = Undo::DeleteQdisc(DeleteQdisc {
                ns: self.sp.nsref(id).clone(),
                dev: name.to_string(),
                ifindex: cur.index,
                major,
            });
            self.recorded(Some(id), undo, act)?;
        } else {
            act(self)?;
        }
        if self.watch.plan().is_some() {
            let tbf_line = |t: &Tbf| {
                format!(
                    "tbf rate {}bit burst {} limit {}",
                    t.rate * 8,
                    t.burst,
                    t.limit
                )
            };
            let mut lines = Vec::new();
            match (netem, tbf) {
                (Some(n), t) => {
                    lines.push(format!(
                        "root handle {major:x}: netem delay {}us jitter {}us loss {}%",
                        n.delay_ns / 1000,
                        n.jitter_ns / 1000,
                        n.loss_pct
                    ));
                    if let Some(t) = t {
                        lines.push(format!(
                            "parent {major:x}:1 handle {:x}: {}",
                            major + 1,
                            tbf_line(&t)
                        ));
                    }
                }
                (None, Some(t)) => lines.push(format!("root handle {major:x}: {}", tbf_line(&t))),
                (None, None) => {}
            }
            self.tell(Event::Shaped {
                ns: id,
                dev: name,
                lines: &lines,
                foreign,
            });
        }
        Ok(())
    }

    /// `tc qdisc del dev DEV root`, for the lab's own shaping only.
    pub fn unshape(&mut self, id: NsId, name: &str) -> Result<()> {
        if let Some(r) = self.remote_do(id, "unshape", &name) {
            return r;
        }
        let cur = self.link(id, name)?;
        let r = self.sp.rtnl(id).map_err(net_err("open netlink"))?;
        let what = format!("link '{name}' in '{}'", self.sp.name(id));
        let major = self.qdisc_major();
        let root = self
            .sp
            .block_on(r.root_qdisc(cur.index))
            .map_err(|e| LabError::kernel("list qdiscs", &what, e))?;
        match root {
            Some(q) if q.major == major => {
                self.sp
                    .block_on(r.del_root_qdisc(cur.index))
                    .map_err(|e| LabError::kernel("remove the shaping", &what, e))?;
                self.tell(Event::Unshaped { ns: id, dev: name });
                Ok(())
            }
            None => Ok(()),
            Some(q) if q.major == 0 => Ok(()),
            Some(q) => Err(LabError::new(
                format!(
                    "the root qdisc of {what} ({} {:x}:) is not the lab's shaping",
                    q.kind, q.major
                ),
                format!(
                    "unshape() removes only what shape() put there; tc qdisc del dev {name} root removes another"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_defaults_to_10ms_of_rate_but_at_least_32k_and_queues_50ms() {
        let s = Shape::default();
        let t = tbf_of(&s, 8_000_000);
        assert_eq!(t.rate, 1_000_000);
        assert_eq!(t.burst, 32 * 1024);
        assert_eq!(t.limit, 32 * 1024 + 50_000);
        let t = tbf_of(&s, 1_000_000_000);
        assert_eq!(t.burst, 1_250_000);
        let s = Shape {
            burst: Some(2000),
            latency: Some(Duration::from_millis(10)),
            ..Shape::default()
        };
        let t = tbf_of(&s, 8_000_000);
        assert_eq!((t.burst, t.limit), (2000, 2000 + 10_000));
    }

    #[test]
    fn lab_handles_stay_clear_of_tc_s_own() {
        assert!(is_lab_major(0x1000) && is_lab_major(0x6fff));
        assert!(!is_lab_major(0) && !is_lab_major(0x8001) && !is_lab_major(0x7000));
    }
}
