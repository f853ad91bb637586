//! Link changes put off until the script's next call (see `Lab::flush`).
//!
//! `veth()` promises both ends up, but the kernel cannot open the peer in
//! the request that makes the pair (veth_open: ENOTCONN before the first
//! end exists), so the peer's "up" is a request of its own. A script
//! nearly always plugs that end into a bridge next, and a port the lab
//! made gets its IPv6 turned off there: brought up at once, it got a
//! link-local address, an ff00::/8 and a fe80::/64 route (each insert O(N)
//! in a star's switch) and DAD and MLD timers, all torn down again a
//! moment later. So the up waits here: the script's next call brings it
//! up first, unless that call is the attach of this very link, which
//! turns its IPv6 off while it is still down and then brings it up (before
//! it joins the bridge: see `Lab::attach_with`). Nothing the script can do
//! sees the difference: every call but that attach flushes first, and so
//! does the end of the script or of a REPL input (bench/README.md, tenth
//! round).

use super::firewall::Site;
use super::space::NsId;

/// A veth end that is to come up.
pub struct DeferredUp {
    pub ns: NsId,
    /// The script's name of the link (what attach is given).
    pub name: String,
    /// The kernel's (with the lab's prefix, where it has one).
    pub kname: String,
    /// The `veth()` call that made it: an error bringing it up is shown there.
    pub site: Site,
}

#[derive(Default)]
pub struct Deferred {
    ups: Vec<DeferredUp>,
}

impl Deferred {
    pub fn put_up(&mut self, up: DeferredUp) {
        self.ups.push(up);
    }

    /// The up waiting for link `name` of `ns`, taken out.
    pub fn take_up(&mut self, ns: NsId, name: &str) -> Option<DeferredUp> {
        let i = self.ups.iter().position(|u| u.ns == ns && u.name == name)?;
        Some(self.ups.remove(i))
    }

    /// Every up waiting, in the order they were put off.
    pub fn take_ups(&mut self) -> Vec<DeferredUp> {
        std::mem::take(&mut self.ups)
    }

    pub fn is_empty(&self) -> bool {
        self.ups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(ns: NsId, name: &str) -> DeferredUp {
        DeferredUp {
            ns,
            name: name.into(),
            kname: name.into(),
            site: Site::default(),
        }
    }

    #[test]
    fn an_up_is_taken_once_by_its_namespace_and_name() {
        let mut d = Deferred::default();
        d.put_up(up(1, "p1"));
        d.put_up(up(2, "p1"));
        assert!(d.take_up(1, "p2").is_none());
        assert_eq!(d.take_up(2, "p1").map(|u| u.ns), Some(2));
        assert!(d.take_up(2, "p1").is_none());
        let rest: Vec<NsId> = d.take_ups().iter().map(|u| u.ns).collect();
        assert_eq!(rest, [1]);
        assert!(d.is_empty());
    }
}
