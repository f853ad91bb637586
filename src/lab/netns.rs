//! Namespaces: `ip netns add/del/list`.

use super::events::Event;
use super::ledger::{Undo, Undone};
use super::{HOST, Lab, LabError, NsId, Result, names};
use crate::lab::steps::netns::DeleteNetns;
use crate::net::ns;
use std::time::Duration;

/// The longest `ns.delete()` waits for the kernel to destroy the
/// namespace's veth peers elsewhere: at once on a quiet machine, but the
/// kernel destroys namespaces one batch at a time on one work queue for the
/// whole machine, so ours waits behind another lab's thousands (seen: over
/// a second beside a benchmark deleting 2000).
const GONE_WAIT: Duration = Duration::from_secs(10);

impl Lab {
    /// `ip netns add NAME` (+ lo up); under the lab's prefix, the kernel's
    /// name is PREFIX + NAME.
    pub fn netns(&mut self, name: &str) -> Result<NsId> {
        names::check_nsname(name)?;
        let kname = self.sp.kernel_name(name);
        if kname != name {
            names::check_prefixed_nsname(name, &kname)?;
        }
        if self.sp.created_named(name).is_some() {
            return Err(LabError::new(
                format!("namespace '{name}' already exists: this lab made it earlier"),
                format!(
                    "use the handle the first netns(\"{name}\") returned (ns(\"{name}\") hands it out again), or pick another name"
                ),
            ));
        }
        let as_kernel = if kname != name {
            format!(" (as '{kname}', under this lab's prefix)")
        } else {
            String::new()
        };
        if ns::named_path(&kname).exists() {
            return Err(LabError::new(
                format!("namespace '{name}' already exists{as_kernel}"),
                format!(
                    "pick another name, or remove the old one (`ip netns del {kname}`, or `nslab down LAB` if a kept lab made it); to run a second copy of a lab beside the first, give it --prefix"
                ),
            ));
        }
        // Made first and named last: the journal knows which namespace the
        // name will be before the name exists.
        let made = self.sp.make().map_err(|e| {
            LabError::kernel("create a namespace", &format!("namespace '{name}'"), e)
        })?;
        let (dev, ino) = made.identity().map_err(|e| {
            LabError::kernel("create a namespace", &format!("namespace '{name}'"), e)
        })?;
        let undo = Undo::DeleteNetns(DeleteNetns {
            name: kname.clone(),
            dev,
            ino,
            cookie: made.cookie(),
        });
        let id = self.recorded(None, undo, |lab| {
            lab.sp.create(made, name).map_err(|e| match e.raw_errno() {
                Some(libc::EEXIST) => LabError::new(
                    format!("namespace '{name}' already exists{as_kernel}"),
                    format!("pick another name, or remove the old one with `ip netns del {kname}`"),
                ),
                _ => LabError::kernel("create a namespace", &format!("namespace '{name}'"), e),
            })
        })?;
        self.tell(Event::NetnsMade { name: &kname });
        Ok(id)
    }

    /// `ip netns del NAME`, now rather than at teardown; only for namespaces
    /// this lab made.
    pub fn delete_netns(&mut self, id: NsId) -> Result<()> {
        if let Some(r) = self.remote_delete_netns(id) {
            return r;
        }
        let name = self.sp.name(id).to_string();
        let kname = self.sp.nsref(id).display().to_string();
        if id == HOST || !self.sp.is_created(id) {
            return Err(LabError::new(
                format!("namespace '{name}' was not made by this lab"),
                "nslab only deletes what it made; use `ip netns del` for others",
            ));
        }
        self.tell(Event::NetnsDeleting);
        let Some(pos) = self.ledger.position(
            |u| matches!(u, Undo::DeleteNetns(DeleteNetns { name: n, .. }) if *n == kname),
        ) else {
            return Err(LabError::new(
                format!("namespace '{name}' was deleted earlier in this script"),
                "a namespace can be deleted once",
            ));
        };
        // Links of others in it would die with it.
        self.send_home_links_in(id)?;
        // Its listeners', pings' and captures' sockets would keep the
        // namespace alive.
        // (A file that failed to write says so again at teardown.)
        self.stop_captures(Some(id));
        self.running.forget_ns(id);
        match self
            .ledger
            .undo_now(pos, &mut self.sp, self.id.header(), false)?
        {
            Ok(Undone::LeftAlone(why)) => Err(LabError::new(
                why,
                "its name now belongs to a namespace someone else made",
            )),
            Ok(Undone::Done) => {
                let peers = self.topo.forget_ns(id);
                self.settle.forget_ns(id);
                self.fw.forget_ns(id);
                self.nodes.forget_ns(id);
                self.wait_gone(peers);
                self.tell(Event::NetnsDeleted { name: &kname });
                Ok(())
            }
            Err(e) => Err(LabError::kernel(
                "delete a namespace",
                &format!("namespace '{name}'"),
                e,
            )),
        }
    }

    /// After a namespace is deleted: the kernel destroys it, and the other
    /// ends of its veths elsewhere (`peers`), a moment later, in the
    /// background. Waits (at most GONE_WAIT) until those ends are gone, so
    /// that the script can reuse their names at once. Not while a process
    /// the lab started is running: it may be what keeps the namespace alive.
    fn wait_gone(&mut self, peers: Vec<(NsId, String)>) {
        if self.running.any_proc_running() {
            return;
        }
        let mut left = peers;
        let deadline = std::time::Instant::now() + GONE_WAIT;
        while !left.is_empty() && std::time::Instant::now() < deadline && !self.id.cancel().is_set()
        {
            self.retain_links(&mut left, |_| true);
            if !left.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// `ip netns list`, the lab's own namespaces by the script's names.
    pub fn netns_list(&self) -> Vec<String> {
        ns::list_named()
            .into_iter()
            .map(|k| match self.sp.created_kernel_named(&k) {
                Some(id) => self.sp.name(id).to_string(),
                None => k,
            })
            .collect()
    }
}
