//! A probe on a busy machine. The kernel's neighbour tables and each CPU's
//! input backlog are shared by every namespace (see `net::kstat`), so
//! another lab's traffic can lose a probe's packets. A probe lost while
//! such a limit was hit is no answer: it is sent again, a bounded number
//! of times, before it concludes. A drop that the path itself shows (two
//! isolated bridge ports, a missing route) is an answer whatever the
//! machine did meanwhile: the probe is lost, and that is why (at once for
//! a check that wants it blocked, after the retries for one that wants it
//! through).
//!
//! `conclude` is the decision alone, over the `Tries` seam: the lab sends
//! real probes and walks the real path (lab/explain.rs), the unit tests
//! below script both.

use std::time::Duration;

use super::Result;
use crate::explain::Finding;
use crate::net::kstat::{self, Limit};

/// How a reachability probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    Reached,
    /// Refused by the other end (TCP reset, ICMP port unreachable).
    Refused,
    /// Lost on the way, or an error came back.
    Lost,
    /// Lost every time it was sent, each time while the kernel dropped
    /// packets machine-wide, and nothing on the path loses it: no answer
    /// either way. `why` and `help` name the limits that were hit.
    Unsure {
        why: String,
        help: String,
    },
}

/// One probe sent: how it ended and the machine-wide limits hit while it
/// ran (looked at only when it was lost).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub probed: Probed,
    pub hit: Vec<Limit>,
}

/// What `conclude` needs of the world.
pub trait Tries {
    /// Sends the probe once, waiting at most `timeout`.
    fn send(&mut self, timeout: Duration) -> Result<Attempt>;
    /// A drop on the packet's path, read from the kernel without sending
    /// anything (`trace`'s `lost`): proof that the probe cannot get through.
    fn drop_on_path(&mut self) -> Result<Option<Finding>>;
    /// Waits between two sends (Ctrl-C ends it).
    fn pause(&mut self, d: Duration) -> Result<()>;
}

/// How many times a probe lost to machine-wide drops is sent again.
pub const RETRIES: u32 = 4;
/// The wait before each of them: a CPU's backlog drains in microseconds,
/// but a burst of another lab's lasts a little longer.
pub const PAUSE: Duration = Duration::from_millis(50);

/// The wait of one retry: half of the probe's timeout. All the retries
/// together add at most two more timeouts (and the pauses) to the whole
/// wait, long enough for the neighbour to be asked again (ARP and
/// neighbour discovery ask once a second) when a first answer was lost.
pub fn retry_timeout(timeout: Duration) -> Duration {
    timeout / 2
}

/// Sends the probe and concludes: a probe that got through, was refused,
/// or was lost while no machine-wide limit was hit is the answer. One lost
/// while a limit was hit is sent again, up to `RETRIES` times, each with
/// `retry_timeout` after `PAUSE`; lost every time, it is `Lost` when the
/// path shows a drop, else `Unsure`. A check that wants it blocked
/// (`blocked`) takes a drop on the path as the answer at once: a state that
/// passes (a tentative address, an STP port still learning) is worth the
/// retries only to a check that wants it through.
pub fn conclude(t: &mut dyn Tries, timeout: Duration, blocked: bool) -> Result<Probed> {
    let mut hit: Vec<Limit> = Vec::new();
    let mut sent = 0;
    let mut a = t.send(timeout)?;
    loop {
        sent += 1;
        if a.probed != Probed::Lost || a.hit.is_empty() {
            return Ok(a.probed);
        }
        add(&mut hit, a.hit);
        if (blocked || sent > RETRIES) && t.drop_on_path()?.is_some() {
            return Ok(Probed::Lost);
        }
        if sent > RETRIES {
            break;
        }
        t.pause(PAUSE)?;
        a = t.send(retry_timeout(timeout))?;
    }
    let (why, help) = words(sent, &hit);
    Ok(Probed::Unsure { why, help })
}

/// The limits of two attempts as one list: counts of the same limit add up.
fn add(into: &mut Vec<Limit>, more: Vec<Limit>) {
    for l in more {
        let same = into.iter_mut().find(|x| match (&**x, &l) {
            (Limit::NeighFull { v6: a, .. }, Limit::NeighFull { v6: b, .. }) => a == b,
            (Limit::Backlog { .. }, Limit::Backlog { .. }) => true,
            _ => false,
        });
        match (same, l) {
            (Some(Limit::NeighFull { refused, .. }), Limit::NeighFull { refused: r, .. }) => {
                *refused += r;
            }
            (Some(Limit::Backlog { dropped }), Limit::Backlog { dropped: d }) => *dropped += d,
            (_, l) => into.push(l),
        }
    }
}

/// Why an `Unsure` probe says nothing, and what to do: the help of the
/// limits that were hit, and only theirs.
fn words(sent: u32, hit: &[Limit]) -> (String, String) {
    let why = kstat::why(hit).unwrap_or_default();
    let help = kstat::help(hit).unwrap_or_default();
    (
        format!("{why} (the probe was lost all {sent} times it was sent)"),
        help,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::fake::Fake;
    use crate::explain::{Ns, Packet, trace};

    const BACKLOG: Limit = Limit::Backlog { dropped: 7 };
    const ARP_FULL: Limit = Limit::NeighFull {
        v6: false,
        thresh3: 1024,
        refused: 3,
    };

    /// Scripted attempts and a path read from a fake lab: what `conclude`
    /// asked for, in order.
    struct Script {
        attempts: Vec<Attempt>,
        path: Fake,
        from: Ns,
        pkt: Packet,
        log: Vec<String>,
    }

    impl Tries for Script {
        fn send(&mut self, timeout: Duration) -> Result<Attempt> {
            self.log.push(format!("send {}", timeout.as_millis()));
            Ok(self.attempts.remove(0))
        }
        fn drop_on_path(&mut self) -> Result<Option<Finding>> {
            self.log.push("path".into());
            Ok(trace(&mut self.path, self.from, &self.pkt).lost)
        }
        fn pause(&mut self, d: Duration) -> Result<()> {
            self.log.push(format!("pause {}", d.as_millis()));
            Ok(())
        }
    }

    /// x (10.9.0.1) eth0 - p1 [br0 of sw] p2 - eth0 y (10.9.0.2), the two
    /// ports isolated when `isolated`.
    fn switch(isolated: bool, attempts: Vec<Attempt>) -> Script {
        let mut f = Fake::new();
        let (x, sw, y) = (f.ns("x"), f.ns("sw"), f.ns("y"));
        f.bridge(sw, "br0")
            .veth(x, "eth0", sw, "p1")
            .veth(sw, "p2", y, "eth0")
            .attach(sw, "br0", "p1")
            .attach(sw, "br0", "p2")
            .addr(x, "eth0", "10.9.0.1/24")
            .addr(y, "eth0", "10.9.0.2/24");
        if isolated {
            f.port(sw, "p1", 3, true).port(sw, "p2", 3, true);
        }
        Script {
            attempts,
            path: f,
            from: x,
            pkt: Packet::ping("10.9.0.2".parse().expect("an address")),
            log: Vec::new(),
        }
    }

    fn lost(hit: &[Limit]) -> Attempt {
        Attempt {
            probed: Probed::Lost,
            hit: hit.to_vec(),
        }
    }

    fn reached() -> Attempt {
        Attempt {
            probed: Probed::Reached,
            hit: vec![BACKLOG],
        }
    }

    const MS: Duration = Duration::from_millis(1500);

    #[test]
    fn a_drop_on_the_path_is_proof_enough_under_load() {
        // Two isolated ports, and the backlog overflowed while the probe
        // was lost: blocked, without sending it again.
        let mut s = switch(true, vec![lost(&[BACKLOG])]);
        assert_eq!(conclude(&mut s, MS, true).unwrap(), Probed::Lost);
        assert_eq!(s.log, ["send 1500", "path"]);
        // A check that wants it through sends it again first (the drop
        // may pass), then takes the drop as the answer.
        let mut s = switch(true, vec![lost(&[BACKLOG]); 5]);
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Lost);
        assert_eq!(s.log.len(), 10);
        assert_eq!(s.log.last().map(String::as_str), Some("path"));
        let mut s = switch(true, vec![lost(&[BACKLOG]), reached()]);
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Reached);
        assert_eq!(s.log, ["send 1500", "pause 50", "send 750"]);
    }

    #[test]
    fn a_loss_under_load_with_a_clear_path_is_sent_again_until_it_gets_through() {
        let mut s = switch(false, vec![lost(&[BACKLOG]), reached()]);
        assert_eq!(conclude(&mut s, MS, true).unwrap(), Probed::Reached);
        assert_eq!(s.log, ["send 1500", "path", "pause 50", "send 750"]);
    }

    #[test]
    fn retries_are_bounded_and_the_answer_names_what_was_hit() {
        let mut s = switch(false, vec![lost(&[BACKLOG]); 6]);
        let Probed::Unsure { why, help } = conclude(&mut s, MS, false).unwrap() else {
            panic!("not unsure");
        };
        // Five sends in all, within two more timeouts (and four pauses);
        // the path is read once, at the end.
        assert_eq!(
            s.log,
            [
                "send 1500",
                "pause 50",
                "send 750",
                "pause 50",
                "send 750",
                "pause 50",
                "send 750",
                "pause 50",
                "send 750",
                "path"
            ]
        );
        assert_eq!(s.attempts.len(), 1);
        assert!(
            why.starts_with("the kernel dropped 35 incoming packets because a CPU's input backlog (net.core.netdev_max_backlog) was full")
                && why.ends_with("(the probe was lost all 5 times it was sent)"),
            "{why}"
        );
        // The help is the backlog's: nothing about the neighbour table.
        assert!(help.contains("net.core.netdev_max_backlog"), "{help}");
        assert!(help.contains("busy"), "{help}");
        assert!(
            !help.contains("gc_thresh") && !help.contains("neighbour"),
            "{help}"
        );
        assert!(!why.contains("neighbour"), "{why}");
    }

    #[test]
    fn a_full_neighbour_table_gets_its_own_help() {
        let mut s = switch(false, vec![lost(&[ARP_FULL]); 5]);
        let Probed::Unsure { why, help } = conclude(&mut s, MS, true).unwrap() else {
            panic!("not unsure");
        };
        assert!(
            why.contains("neighbour table is full: 1024 IPv4 (ARP)"),
            "{why}"
        );
        assert!(
            help.contains("net.ipv4.neigh.default.gc_thresh3") && !help.contains("backlog"),
            "{help}"
        );
    }

    #[test]
    fn a_loss_with_no_limit_hit_is_the_answer_at_once() {
        let mut s = switch(false, vec![lost(&[])]);
        assert_eq!(conclude(&mut s, MS, true).unwrap(), Probed::Lost);
        assert_eq!(s.log, ["send 1500"]);
        // A retry lost with no limit hit is a real loss too.
        let mut s = switch(false, vec![lost(&[BACKLOG]), lost(&[])]);
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Lost);
        // Refused is an answer whatever the machine did.
        let mut s = switch(
            false,
            vec![Attempt {
                probed: Probed::Refused,
                hit: vec![BACKLOG],
            }],
        );
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Refused);
    }

    #[test]
    fn limits_of_several_attempts_add_up_by_kind() {
        let mut all = Vec::new();
        add(&mut all, vec![BACKLOG, ARP_FULL]);
        add(&mut all, vec![BACKLOG]);
        add(
            &mut all,
            vec![Limit::NeighFull {
                v6: true,
                thresh3: 1024,
                refused: 1,
            }],
        );
        assert_eq!(
            all,
            vec![
                Limit::Backlog { dropped: 14 },
                ARP_FULL,
                Limit::NeighFull {
                    v6: true,
                    thresh3: 1024,
                    refused: 1
                }
            ]
        );
    }
}
