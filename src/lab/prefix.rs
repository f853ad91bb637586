//! `--prefix`: the one place where the script's names of links the lab
//! makes outside its own namespaces (in the host) turn into the kernel's,
//! and back. Namespaces get theirs in `Spaces` (space.rs).
//!
//! Only links the lab made there carry the prefix: `host().link("eth0")`
//! is the host's own eth0, whatever the prefix.

use std::borrow::Cow;

use super::{Lab, NsId, Result, RouteReq, names};
use crate::net::rtnl::LinkInfoRow;

impl Lab {
    /// Does a link the lab makes in `id` get the prefix in the kernel?
    fn prefixes(&self, id: NsId) -> bool {
        !self.sp.prefix().is_empty() && !self.sp.is_created(id)
    }

    /// The kernel's name of the script's link `name` in `id`.
    pub(super) fn kernel_link<'a>(&self, id: NsId, name: &'a str) -> Cow<'a, str> {
        if self.prefixes(id) && self.topo.is_made_outside(id, name) {
            Cow::Owned(format!("{}{name}", self.sp.prefix()))
        } else {
            Cow::Borrowed(name)
        }
    }

    /// The kernel's name of a link the lab made as `name` in `id`, also
    /// once the topology has forgotten it (a journal step's name).
    pub(super) fn made_kernel_link(&self, id: NsId, name: &str) -> String {
        if self.prefixes(id) {
            format!("{}{name}", self.sp.prefix())
        } else {
            name.to_string()
        }
    }

    /// The kernel's name for a link the lab is about to make as `name` in
    /// `id` (checked: the prefix can make a valid name too long).
    pub(super) fn new_kernel_link(&self, id: NsId, name: &str) -> Result<String> {
        if !self.prefixes(id) {
            return Ok(name.to_string());
        }
        let kname = format!("{}{name}", self.sp.prefix());
        names::check_prefixed_ifname(name, &kname)?;
        Ok(kname)
    }

    /// The script's name of the kernel's link `kname` in `id`.
    pub(super) fn script_link(&self, id: NsId, kname: &str) -> String {
        if self.prefixes(id)
            && let Some(n) = kname.strip_prefix(self.sp.prefix())
            && self.topo.is_made_outside(id, n)
        {
            return n.to_string();
        }
        kname.to_string()
    }

    /// Rows read from the kernel in `id`, named as the script knows them.
    pub(super) fn script_rows(&self, id: NsId, mut rows: Vec<LinkInfoRow>) -> Vec<LinkInfoRow> {
        if self.prefixes(id) {
            for r in &mut rows {
                r.name = self.script_link(id, &r.name);
            }
        }
        rows
    }

    /// `req` with its devices named as the kernel has them.
    pub(super) fn kernel_route(&self, id: NsId, req: &RouteReq) -> RouteReq {
        let mut k = req.clone();
        let devs = k
            .dev
            .iter_mut()
            .chain(k.nexthops.iter_mut().filter_map(|h| h.dev.as_mut()));
        for d in devs {
            *d = self.kernel_link(id, d).into_owned();
        }
        k
    }

    /// A per-link sysctl key (`net.ipv4.conf.LINK.…`, `net/ipv6/neigh/LINK/…`)
    /// with the link named as the kernel has it.
    pub(super) fn kernel_key<'a>(&self, id: NsId, key: &'a str) -> Cow<'a, str> {
        if !self.prefixes(id) {
            return Cow::Borrowed(key);
        }
        // Slashes when a link name holds dots (as `sysctl` takes them).
        let sep = if key.contains('/') { '/' } else { '.' };
        let parts: Vec<&str> = key.splitn(5, sep).collect();
        if let [net, ip, area, dev, rest] = parts[..]
            && net == "net"
            && matches!(ip, "ipv4" | "ipv6")
            && matches!(area, "conf" | "neigh")
        {
            let kdev = self.kernel_link(id, dev);
            if kdev != dev {
                return Cow::Owned([net, ip, area, &kdev, rest].join(&sep.to_string()));
            }
        }
        Cow::Borrowed(key)
    }
}
