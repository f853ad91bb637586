//! The settle state: links brought up since the last probe (which waits
//! until they carry traffic; see `Lab::settle`), the namespaces the lab made
//! forward IPv6, and the kernel's counters read around probes.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::space::NsId;
use super::topology::At;
use crate::explain::Trace;
use crate::net::kstat;

#[derive(Default)]
pub struct Settle {
    /// Links brought up since the last probe; see `settle`.
    unsettled: Vec<At>,
    /// Links brought up since the last IPv6 probe; see `settle_v6`.
    v6_unsettled: Vec<At>,
    /// Namespaces the lab made forward IPv6 (see `settle_v6`).
    v6_forwarding: HashSet<NsId>,
    /// IPv6 addresses the lab added that no probe has waited for yet, and
    /// where each is (see `settle_dad`).
    v6_fresh: HashMap<IpAddr, NsId>,
    /// The kernel's machine-wide counters, read around probes: when one
    /// fails, a counter that rose meanwhile says why.
    kstat: kstat::Watch,
    /// The path read while the last probe ran (`busy::conclude` reads it
    /// inside the probe's timeout): the explanation of that probe, if it
    /// was lost, without reading it again past the timeout.
    walked: Option<Trace>,
    /// A probe is being sent again after machine-wide drops (lab/busy.rs):
    /// the plan shows the script's probe once, not each retry.
    retrying: bool,
}

impl Settle {
    /// Link `name` came up (or was made, moved, attached).
    pub fn came_up(&mut self, id: NsId, name: &str) {
        self.unsettled.push((id, name.to_string()));
    }

    /// Link `l` is gone: nothing to wait for.
    pub fn gone(&mut self, l: &At) {
        self.unsettled.retain(|x| x != l);
        self.v6_unsettled.retain(|x| x != l);
    }

    /// The links to wait for before a probe, each once; an IPv6 probe
    /// waits for them again (`take_v6`).
    pub fn take(&mut self) -> Vec<At> {
        let mut pending = std::mem::take(&mut self.unsettled);
        pending.sort_unstable();
        pending.dedup();
        self.v6_unsettled.extend(pending.iter().cloned());
        pending
    }

    /// The links to wait for before an IPv6 probe: those in namespaces
    /// that forward IPv6. The others are kept for a later probe: a
    /// namespace made to forward after its links came up (a lab that
    /// shows the fault first, then turns forwarding on) has its links
    /// waited for then; on a busy machine their DAD took seconds.
    pub fn take_v6(&mut self) -> Vec<At> {
        let (mut pending, later): (Vec<At>, Vec<At>) = std::mem::take(&mut self.v6_unsettled)
            .into_iter()
            .partition(|(id, _)| self.v6_forwarding.contains(id));
        self.v6_unsettled = later;
        self.v6_unsettled.sort_unstable();
        self.v6_unsettled.dedup();
        pending.sort_unstable();
        pending.dedup();
        pending
    }

    pub fn v6_forwarding(&mut self, id: NsId, on: bool) {
        if on {
            self.v6_forwarding.insert(id);
        } else {
            self.v6_forwarding.remove(&id);
        }
    }

    pub fn set_retrying(&mut self, on: bool) {
        self.retrying = on;
    }

    pub fn retrying(&self) -> bool {
        self.retrying
    }

    /// Keeps the path read during the probe being sent.
    pub fn walked(&mut self, t: Trace) {
        self.walked = Some(t);
    }

    /// The path read during the last probe, once; None: not read (or a
    /// new probe started since, see `forget_walk`).
    pub fn take_walk(&mut self) -> Option<Trace> {
        self.walked.take()
    }

    /// A new probe starts: the last one's path explains nothing of it.
    pub fn forget_walk(&mut self) {
        self.walked = None;
    }

    pub fn kstat(&mut self) -> &mut kstat::Watch {
        &mut self.kstat
    }

    /// IPv6 address `ip` was added in `id`: it is tentative until duplicate
    /// address detection is done with it.
    pub fn fresh_v6(&mut self, id: NsId, ip: IpAddr) {
        self.v6_fresh.insert(ip, id);
    }

    /// Which of `dsts`, and of the addresses of the namespaces `from`
    /// (where the replies come back to), are fresh IPv6 addresses, by
    /// namespace; each is waited for once.
    pub fn take_fresh(&mut self, from: &[NsId], dsts: &[IpAddr]) -> HashMap<NsId, HashSet<IpAddr>> {
        let mut out: HashMap<NsId, HashSet<IpAddr>> = HashMap::new();
        if self.v6_fresh.is_empty() {
            return out;
        }
        for d in dsts {
            if let Some(id) = self.v6_fresh.remove(d) {
                out.entry(id).or_default().insert(*d);
            }
        }
        let mine: Vec<IpAddr> = self
            .v6_fresh
            .iter()
            .filter(|(_, id)| from.contains(id))
            .map(|(a, _)| *a)
            .collect();
        for a in mine {
            if let Some(id) = self.v6_fresh.remove(&a) {
                out.entry(id).or_default().insert(a);
            }
        }
        out
    }

    /// Namespace `id` is gone.
    pub fn forget_ns(&mut self, id: NsId) {
        self.v6_fresh.retain(|_, x| *x != id);
        self.v6_forwarding.remove(&id);
        self.v6_unsettled.retain(|(x, _)| *x != id);
    }
}
