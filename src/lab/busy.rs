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
    /// Time since some fixed point: the clock the budget is kept by.
    fn now(&self) -> Duration;
}

/// How many times a probe lost to machine-wide drops is sent again, at most.
pub const RETRIES: u32 = 4;
/// The wait before each of them: a CPU's backlog drains in microseconds,
/// but a burst of another lab's lasts a little longer.
pub const PAUSE: Duration = Duration::from_millis(50);
/// The shortest wait worth a send: less and a reply on a loaded machine
/// (or a neighbour asked again) cannot come back in time.
pub const MIN_TRY: Duration = Duration::from_millis(100);

/// How the probe's `timeout` is shared: the first send has all of it when
/// it is too short to leave room for one retry, else half of it; the
/// retries share what is left. The whole wait is `timeout`, retries and
/// pauses included (`expect_blocked(ip, #{timeout_ms: 500})` waits 500 ms).
pub fn first_timeout(timeout: Duration) -> Duration {
    if timeout >= (MIN_TRY + PAUSE) * 2 {
        timeout / 2
    } else {
        timeout
    }
}

/// The wait of the next retry, with `left` of the budget left after its
/// pause and `tries` retries still allowed: an equal share of what is
/// left, but never less than `MIN_TRY` (fewer retries then). None when
/// even that does not fit.
pub fn retry_timeout(left: Duration, tries: u32) -> Option<Duration> {
    if left < MIN_TRY || tries == 0 {
        return None;
    }
    let fit = (left.as_millis() / (MIN_TRY + PAUSE).as_millis()).max(1) as u32;
    Some(left / tries.min(fit))
}

/// The wait of the next send after `sent` sends were lost, with `left` of
/// the budget left: lost while a machine-wide limit was hit (`busy`), a
/// share of what is left after a `PAUSE` (`retry_timeout`); else only a
/// first loss is sent again, with all that is left (at least `MIN_TRY`).
/// None: no more sends.
pub fn next_wait(busy: bool, left: Duration, sent: u32) -> Option<Duration> {
    if busy {
        retry_timeout(
            left.saturating_sub(PAUSE),
            (RETRIES + 1).saturating_sub(sent),
        )
    } else if sent == 1 {
        Some(left).filter(|l| *l >= MIN_TRY)
    } else {
        None
    }
}

/// Sends the probe and concludes, all within `timeout`: a probe that got
/// through or was refused is the answer. The first send has half the
/// budget (`first_timeout`); lost with no machine-wide limit hit, it is
/// sent once more with the rest (one send with the whole timeout, split),
/// and a second loss is the answer. One lost while a limit was hit is sent
/// again, up to `RETRIES` times, each after a `PAUSE` with a share of what
/// is left (`retry_timeout`); lost every time, it is `Lost` when the path
/// shows a drop, else `Unsure`. A check that wants it blocked (`blocked`)
/// takes a drop on the path as the answer at once: a state that passes (a
/// tentative address, an STP port still learning) is worth the retries
/// only to a check that wants it through.
///
/// Reading the path takes time (on a busy machine, a second at times):
/// where it is read is chosen to keep the whole wait `timeout` (see the
/// loop), and the caller explains a lost probe with that read
/// (`Tries::drop_on_path` keeps it) instead of reading it again after.
pub fn conclude(t: &mut dyn Tries, timeout: Duration, blocked: bool) -> Result<Probed> {
    let start = t.now();
    let left = |t: &dyn Tries| timeout.saturating_sub(t.now().saturating_sub(start));
    let mut hit: Vec<Limit> = Vec::new();
    let mut sent = 0;
    let mut wait = first_timeout(timeout);
    // What the path showed when it was last read: a drop or not.
    let mut dropped = false;
    let mut read = false;
    let mut walk = Duration::ZERO;
    loop {
        let a = t.send(wait)?;
        sent += 1;
        if a.probed != Probed::Lost {
            return Ok(a.probed);
        }
        let busy = !a.hit.is_empty();
        if !busy && sent > 1 {
            return Ok(Probed::Lost);
        }
        add(&mut hit, a.hit);
        let mut next = next_wait(busy, left(t), sent);
        // When the path is read (the caller explains a lost probe with
        // that read, so it is read once at most for that):
        // - lost with no limit hit and a send to follow: now, inside the
        //   budget (a quiet machine reads it fast);
        // - lost under load, by a check that wants it blocked: now, as a
        //   drop is its answer at once, and again before each retry there
        //   is room for after a read as long as the last one;
        // - lost under load, by a check that wants it through: after the
        //   last send, as the retries need the time more than the read
        //   does (a busy machine reads slowly); the read decides Lost or
        //   Unsure, and is all that outlasts the timeout.
        let room = next.is_some() && left(t) >= walk + PAUSE + MIN_TRY;
        let now = match (busy, blocked) {
            (false, _) => !read && next.is_some(),
            (true, true) => !read || room,
            (true, false) => !read && next.is_none(),
        };
        if now {
            let before = t.now();
            dropped = t.drop_on_path()?.is_some();
            walk = t.now().saturating_sub(before);
            read = true;
            if dropped && blocked {
                return Ok(Probed::Lost);
            }
            next = next_wait(busy, left(t), sent);
        }
        let Some(w) = next else {
            if !busy || dropped {
                return Ok(Probed::Lost);
            }
            break;
        };
        if busy {
            t.pause(PAUSE)?;
        }
        wait = w;
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
        /// The scripted clock: a send takes its whole timeout, a pause its
        /// length, a path walk `walk`.
        clock: Duration,
        walk: Duration,
    }

    impl Tries for Script {
        fn send(&mut self, timeout: Duration) -> Result<Attempt> {
            self.log.push(format!("send {}", timeout.as_millis()));
            self.clock += timeout;
            Ok(self.attempts.remove(0))
        }
        fn drop_on_path(&mut self) -> Result<Option<Finding>> {
            self.log.push("path".into());
            self.clock += self.walk;
            Ok(trace(&mut self.path, self.from, &self.pkt).lost)
        }
        fn pause(&mut self, d: Duration) -> Result<()> {
            self.log.push(format!("pause {}", d.as_millis()));
            self.clock += d;
            Ok(())
        }
        fn now(&self) -> Duration {
            self.clock
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
            clock: Duration::ZERO,
            walk: Duration::ZERO,
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
        assert_eq!(s.log, ["send 750", "path"]);
        // A check that wants it through sends it again first (the drop
        // may pass), then reads the path once and takes the drop as the
        // answer.
        let mut s = switch(true, vec![lost(&[BACKLOG]); 4]);
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Lost);
        assert_eq!(s.log.len(), 8);
        assert_eq!(s.log.last().map(String::as_str), Some("path"));
        let mut s = switch(true, vec![lost(&[BACKLOG]), reached()]);
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Reached);
        assert_eq!(s.log, ["send 750", "pause 50", "send 175"]);
    }

    #[test]
    fn a_loss_under_load_with_a_clear_path_is_sent_again_until_it_gets_through() {
        let mut s = switch(false, vec![lost(&[BACKLOG]), reached()]);
        assert_eq!(conclude(&mut s, MS, true).unwrap(), Probed::Reached);
        assert_eq!(s.log, ["send 750", "path", "pause 50", "send 175"]);
    }

    #[test]
    fn retries_stay_inside_the_timeout_and_the_answer_names_what_was_hit() {
        let mut s = switch(false, vec![lost(&[BACKLOG]); 6]);
        let Probed::Unsure { why, help } = conclude(&mut s, MS, false).unwrap() else {
            panic!("not unsure");
        };
        // Half the timeout for the first send, the rest shared by the
        // retries (each at least MIN_TRY); the whole wait is the timeout.
        // The path is read once, at the end: the retries need the time
        // more (the read alone outlasts the timeout, see below).
        assert_eq!(
            s.log,
            [
                "send 750", "pause 50", "send 175", "pause 50", "send 158", "pause 50", "send 266",
                "path"
            ]
        );
        assert_eq!(s.clock, MS);
        assert_eq!(s.attempts.len(), 2);
        assert!(
            why.starts_with("the kernel dropped 28 incoming packets because a CPU's input backlog (net.core.netdev_max_backlog) was full")
                && why.ends_with("(the probe was lost all 4 times it was sent)"),
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
    fn retries_are_bounded_and_a_short_timeout_has_none() {
        // A long timeout: RETRIES more sends at most, and no longer than it.
        let long = Duration::from_millis(10_000);
        let mut s = switch(false, vec![lost(&[BACKLOG]); 7]);
        let r = conclude(&mut s, long, false).unwrap();
        assert!(matches!(r, Probed::Unsure { .. }), "{r:?}");
        let sends = s.log.iter().filter(|l| l.starts_with("send")).count();
        assert_eq!(sends, 1 + RETRIES as usize, "{:?}", s.log);
        assert!(s.clock <= long, "{:?}", s.clock);
        // 250 ms leaves no room for a retry of MIN_TRY after half of it:
        // one send with all of it.
        let short = Duration::from_millis(250);
        let mut s = switch(false, vec![lost(&[BACKLOG]); 2]);
        let r = conclude(&mut s, short, false).unwrap();
        assert!(matches!(r, Probed::Unsure { .. }), "{r:?}");
        assert_eq!(s.log, ["send 250", "path"]);
        // Every timeout from 1 ms to 5 s: the whole wait is the timeout.
        for ms in (1..5000).step_by(37) {
            let t = Duration::from_millis(ms);
            let mut s = switch(false, vec![lost(&[BACKLOG]); 7]);
            conclude(&mut s, t, false).unwrap();
            assert!(s.clock <= t, "{ms} ms: {:?} {:?}", s.clock, s.log);
        }
    }

    #[test]
    fn where_the_path_is_read_keeps_the_timeout() {
        // On a busy machine the read takes time of its own. A check that
        // wants it blocked reads it after a loss while a retry fits after
        // a read as long as the last: the whole wait stays the timeout.
        for walk in [10, 120, 400] {
            let mut s = switch(false, vec![lost(&[BACKLOG]); 7]);
            s.walk = Duration::from_millis(walk);
            let r = conclude(&mut s, MS, true).unwrap();
            assert!(matches!(r, Probed::Unsure { .. }), "{r:?}");
            assert!(s.clock <= MS, "{walk} ms reads: {:?} {:?}", s.clock, s.log);
        }
        // A check that wants it through reads it once, after the last
        // send: only that read outlasts the timeout.
        for walk in [10, 120, 400] {
            let mut s = switch(false, vec![lost(&[BACKLOG]); 7]);
            s.walk = Duration::from_millis(walk);
            conclude(&mut s, MS, false).unwrap();
            assert_eq!(s.log.iter().filter(|l| *l == "path").count(), 1);
            assert_eq!(s.log.last().map(String::as_str), Some("path"));
            assert!(s.clock <= MS + s.walk, "{:?} {:?}", s.clock, s.log);
        }
        // Lost with no limit hit: read between the two sends, inside the
        // timeout, whatever it costs.
        let mut s = switch(false, vec![lost(&[]); 2]);
        s.walk = Duration::from_millis(400);
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Lost);
        assert_eq!(s.log, ["send 750", "path", "send 350"]);
        assert_eq!(s.clock, MS);
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
    fn a_loss_with_no_limit_hit_is_the_answer_after_the_whole_timeout() {
        // Half the timeout, then the rest: one send of the whole timeout,
        // split, and the path read between the two (it explains the loss).
        let mut s = switch(false, vec![lost(&[]); 2]);
        assert_eq!(conclude(&mut s, MS, true).unwrap(), Probed::Lost);
        assert_eq!(s.log, ["send 750", "path", "send 750"]);
        // A drop on the path is the answer at once to a check that wants
        // it blocked, busy machine or not.
        let mut s = switch(true, vec![lost(&[]); 2]);
        assert_eq!(conclude(&mut s, MS, true).unwrap(), Probed::Lost);
        assert_eq!(s.log, ["send 750", "path"]);
        let mut s = switch(false, vec![lost(&[]), reached()]);
        assert_eq!(conclude(&mut s, MS, false).unwrap(), Probed::Reached);
        // A short timeout: one send.
        let mut s = switch(false, vec![lost(&[])]);
        let short = Duration::from_millis(250);
        assert_eq!(conclude(&mut s, short, false).unwrap(), Probed::Lost);
        assert_eq!(s.log, ["send 250"]);
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
