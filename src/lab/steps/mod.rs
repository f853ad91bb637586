//! What undoing each kind of change takes, one file per concern: every
//! step is a struct that says what it undoes (`describe`), whether a
//! journal may ask for it (`validate`: a journal is data, and `nslab down`
//! runs as root), and how (`apply`). `Undo` (in ledger.rs) is the list of
//! them, as the journal writes it. Beside each step, the shell command that
//! undoes it (`*_shell`), as `nslab plan` writes it; the plan's undo of a
//! route, a rule, a host sysctl or a process is written from what the
//! script asked (the route as written, the old value, a shell variable),
//! which the step does not keep.
//!
//! Each step carries the identity of what the lab made or changed, not just
//! its name: a namespace's nsfs inode, a link's ifindex (chosen by nslab and
//! given to the kernel in the request that makes the link, so it is known
//! before the link exists), the marker set inside an nf_tables table. A step
//! whose object no longer has that identity is left alone, with a note that
//! says so: whatever else carries the name now is someone else's.

pub mod host;
pub mod links;
pub mod netns;
pub mod nft;
pub mod nodes;
pub mod procs;
pub mod routing;
pub mod tc;

use super::journal::Header;
use super::names;
use super::plan::q;
use super::space::{NsRef, Spaces};
use crate::net::Result;
use crate::net::rtnl::Rtnl;

/// One undo step.
pub trait Step {
    /// What it undoes, for errors and notes ("delete link 'x' in 'host'").
    fn describe(&self) -> String;
    /// Checks a step read from a journal with the rules the script API
    /// applies to the same values; returns why it is refused.
    fn validate(&self, header: &Header) -> std::result::Result<(), String>;
    /// Undoes the change, if what the step names is still what the lab
    /// made; `header` says which lab that is.
    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone>;
}

/// `ip ` or `ip -n NS `: the start of an iproute2 command in `ns`.
pub fn ip(ns: &NsRef) -> String {
    match ns {
        NsRef::Host => "ip ".into(),
        NsRef::Named(n) => format!("ip -n {} ", q(n)),
    }
}

/// What undoing a step came to, when it did not simply work.
pub enum Undone {
    Done,
    /// Not applied, on purpose: why (e.g. the name is someone else's now).
    LeftAlone(String),
}

pub(super) fn check_ref(r: &NsRef) -> std::result::Result<(), String> {
    match r {
        NsRef::Host => Ok(()),
        NsRef::Named(n) => names::check_nsname(n).map_err(|e| e.message),
    }
}

pub(super) fn check_if(name: &str) -> std::result::Result<(), String> {
    names::check_ifname(name).map_err(|e| e.message)
}

pub(in crate::lab) fn rtnl_of(sp: &mut Spaces, r: &NsRef) -> Result<Rtnl> {
    let id = sp.resolve(r)?;
    sp.rtnl(id)
}

/// Runs `act` on link `dev` of `ns` (with its index) if the link still has
/// the index the lab knew it by; else leaves it alone and says why.
pub(in crate::lab) fn on_own_link(
    sp: &mut Spaces,
    ns: &NsRef,
    dev: &str,
    ifindex: u32,
    lab: &str,
    act: impl AsyncFnOnce(&Rtnl, u32) -> Result<()>,
) -> Result<Undone> {
    on_own_link_with(sp, ns, dev, ifindex, lab, async |r, i| {
        act(r, i).await.map(|_| Undone::Done)
    })
}

/// `on_own_link` for a step that may itself find it should leave the link
/// alone.
pub(super) fn on_own_link_with(
    sp: &mut Spaces,
    ns: &NsRef,
    dev: &str,
    ifindex: u32,
    lab: &str,
    act: impl AsyncFnOnce(&Rtnl, u32) -> Result<Undone>,
) -> Result<Undone> {
    let r = rtnl_of(sp, ns)?;
    sp.block_on(async {
        let have = r.link(dev).await?.index;
        if have != ifindex {
            return Ok(Undone::LeftAlone(format!(
                "link '{dev}' in '{}' is not the one lab '{lab}' made (it has index {have}, the lab's had {ifindex}): left alone",
                ns.display()
            )));
        }
        act(&r, have).await
    })
}

#[cfg(test)]
mod tests {
    use super::NsRef;
    use super::links::{delete_link_shell, set_master_shell, set_mtu_shell, set_up_shell};
    use super::netns::delete_netns_shell;
    use super::nft::delete_table_shell;
    use super::routing::{delete_addr_shell, delete_neigh_shell};
    use super::tc::delete_qdisc_shell;

    /// The undo lines `nslab plan` writes, in the host and in a namespace.
    #[test]
    fn undo_commands_name_the_namespace_and_quote_what_the_shell_would_split() {
        let (h, a) = (NsRef::Host, NsRef::Named("r 1".into()));
        assert_eq!(delete_netns_shell("r1"), "ip netns del r1");
        assert_eq!(delete_link_shell(&h, "v0"), "del_link v0");
        assert_eq!(delete_link_shell(&a, "v0"), "ip -n 'r 1' link del dev v0");
        assert_eq!(set_up_shell(&h, "eth0", false), "ip link set dev eth0 down");
        assert_eq!(
            set_mtu_shell(&a, "eth0", 1500),
            "ip -n 'r 1' link set dev eth0 mtu 1500"
        );
        assert_eq!(
            set_master_shell(&h, "eth0", None),
            "ip link set dev eth0 nomaster"
        );
        assert_eq!(
            set_master_shell(&h, "eth0", Some("br0")),
            "ip link set dev eth0 master br0"
        );
        let addr = "10.0.0.1/24".parse().unwrap();
        assert_eq!(
            delete_addr_shell(&h, "eth0", addr),
            "ip addr del 10.0.0.1/24 dev eth0"
        );
        let ip = "10.0.0.9".parse().unwrap();
        assert_eq!(
            delete_neigh_shell(&a, "eth0", ip),
            "ip -n 'r 1' neigh del 10.0.0.9 dev eth0"
        );
        assert_eq!(
            delete_qdisc_shell(&a, "eth0"),
            "tc -n 'r 1' qdisc del dev eth0 root"
        );
        assert_eq!(
            delete_table_shell(&h, "nslab-x"),
            "nft delete table inet nslab-x"
        );
    }
}
