//! The ledger: one undo step per change a lab made, journaled before the
//! change and replayed in reverse at teardown (by the lab itself, or by
//! `nslab down` from the journal). What each step undoes, and how, lives
//! with its concern under steps/.

use serde::{Deserialize, Serialize};

use super::error::Result as LabResult;
use super::journal::{Header, Journal};
use super::space::Spaces;
use super::steps::host::ReleaseSysctl;
pub use super::steps::links::HomeState;
use super::steps::links::{
    DeleteLink, MoveBack, RestoreMac, RestoreMaster, RestoreMtu, RestorePort, RestoreUp,
};
use super::steps::netns::DeleteNetns;
use super::steps::nft::DeleteNftTable;
pub use super::steps::nft::owner_set;
use super::steps::nodes::{RemoveMadeDir, RemoveNodeDirs, RemoveNodeFiles};
use super::steps::procs::{KillCgroup, RemoveOutputs, StopProcess};
use super::steps::routing::{DeleteAddr, DeleteNeigh, DeleteRoute, DeleteRule, RestoreRoute};
pub use super::steps::routing::{NamedHop, SavedRoute, rule_text};
use super::steps::tc::DeleteQdisc;
pub use super::steps::{Step, Undone};
use crate::net::{NetError, Result};

/// Every kind of undo step, as the journal writes it: `{"op": "delete_link",
/// …the step's fields}`. Adding a kind: its struct and `Step` in the file of
/// its concern under steps/, and one line here.
macro_rules! undo_steps {
    ($($(#[$doc:meta])* $variant:ident),* $(,)?) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case")]
        pub enum Undo {
            $($(#[$doc])* $variant($variant),)*
        }

        impl Undo {
            fn step(&self) -> &dyn Step {
                match self {
                    $(Undo::$variant(s) => s,)*
                }
            }
        }

        $(impl From<$variant> for Undo {
            fn from(s: $variant) -> Undo {
                Undo::$variant(s)
            }
        })*
    };
}

undo_steps! {
    DeleteNetns,
    DeleteLink,
    DeleteAddr,
    DeleteRoute,
    RestoreRoute,
    DeleteRule,
    DeleteNeigh,
    ReleaseSysctl,
    StopProcess,
    RestoreUp,
    RestoreMtu,
    DeleteNftTable,
    RestoreMaster,
    RestorePort,
    DeleteQdisc,
    KillCgroup,
    MoveBack,
    RestoreMac,
    RemoveNodeFiles,
    RemoveMadeDir,
    RemoveNodeDirs,
    RemoveOutputs,
}

impl Undo {
    pub fn describe(&self) -> String {
        self.step().describe()
    }

    /// Checks a step read from a journal with the rules the script API
    /// applies to the same values: a journal is data, and `down` runs as
    /// root. Returns why a step is refused.
    pub fn validate(&self, header: &Header) -> std::result::Result<(), String> {
        self.step().validate(header)
    }

    /// Applies the step, if what it names is still what the lab made. An
    /// object that is already gone counts as undone.
    pub fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        match self.step().apply(sp, header) {
            Err(e) if e.is_not_found() => Ok(Undone::Done),
            other => other,
        }
    }
}

/// The lab's undo steps and the journal they are written to: a step is
/// journaled before its change and kept after it succeeded; nobody else
/// touches the list (see `Lab::recorded`).
pub struct Ledger {
    /// Undo steps with their journal numbers.
    steps: Vec<(Option<u64>, Undo)>,
    /// `None` once the lab is torn down.
    journal: Option<Journal>,
}

/// A step journaled whose change is being made (see `Ledger::intend`).
#[must_use]
pub struct Intended(Option<u64>);

impl Ledger {
    pub fn new(journal: Journal) -> Ledger {
        Ledger {
            steps: Vec::new(),
            journal: Some(journal),
        }
    }

    /// Journals `undo` before its change is made.
    pub fn intend(&mut self, undo: &Undo) -> LabResult<Intended> {
        Ok(Intended(match &mut self.journal {
            Some(j) => Some(j.intend(undo)?),
            None => None,
        }))
    }

    /// The change of an intended step was made: the step is the lab's.
    pub fn record(&mut self, at: Intended, undo: Undo) {
        self.steps.push((at.0, undo));
    }

    /// The change of an intended step failed: its journal line is cancelled.
    pub fn abandon(&mut self, at: Intended) {
        if let (Some(j), Some(s)) = (&mut self.journal, at.0) {
            let _ = j.cancel(s);
        }
    }

    /// A step read back from the journal (an attach session adopting a kept
    /// lab's steps).
    pub fn adopt(&mut self, seq: u64, undo: Undo) {
        self.steps.push((Some(seq), undo));
    }

    /// The position of the first step `pred` accepts.
    pub fn position(&self, pred: impl Fn(&Undo) -> bool) -> Option<usize> {
        self.steps.iter().position(|(_, u)| pred(u))
    }

    pub fn any(&self, pred: impl Fn(&Undo) -> bool) -> bool {
        self.position(pred).is_some()
    }

    pub fn get(&self, pos: usize) -> &Undo {
        &self.steps[pos].1
    }

    /// The position of the step recorded last.
    pub fn last(&self) -> Option<usize> {
        self.steps.len().checked_sub(1)
    }

    /// Replaces step `pos` with `new`, at the end (in the journal: the new
    /// step is written before the old one is cancelled, so at every moment
    /// one of them is there).
    pub fn replace(&mut self, pos: usize, new: Undo) -> LabResult<()> {
        let at = self.intend(&new)?;
        self.drop(pos)?;
        self.steps.push((at.0, new));
        Ok(())
    }

    /// Drops step `pos` (and its journal line): what it undoes is gone, or
    /// undone already.
    pub fn drop(&mut self, pos: usize) -> LabResult<()> {
        let (seq, _) = self.steps.remove(pos);
        if let (Some(j), Some(s)) = (&mut self.journal, seq) {
            j.cancel(s)?;
        }
        Ok(())
    }

    /// Undoes step `pos` now: dropped once done (or, with `drop_left_alone`,
    /// left alone on purpose); kept when it failed.
    pub fn undo_now(
        &mut self,
        pos: usize,
        sp: &mut Spaces,
        header: &Header,
        drop_left_alone: bool,
    ) -> LabResult<Result<Undone>> {
        let result = self.steps[pos].1.apply(sp, header);
        match &result {
            Ok(Undone::Done) => self.drop(pos)?,
            Ok(Undone::LeftAlone(_)) if drop_left_alone => self.drop(pos)?,
            _ => {}
        }
        Ok(result)
    }

    /// A kept lab stays: its journal says so.
    pub fn mark_kept(&mut self) -> LabResult<()> {
        match &mut self.journal {
            Some(j) => j.mark_kept(),
            None => Ok(()),
        }
    }

    /// Undoes every step, in teardown order.
    pub fn unwind(&mut self, sp: &mut Spaces, header: &Header) -> Unwound {
        let steps: Vec<Undo> = std::mem::take(&mut self.steps)
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        unwind(sp, &steps, header)
    }

    /// The lab is gone: so is its journal.
    pub fn remove_journal(&mut self) {
        if let Some(j) = self.journal.take() {
            j.remove();
        }
    }
}

/// What a teardown came to: the steps that failed, and the ones left alone
/// on purpose (with why).
#[derive(Default)]
pub struct Unwound {
    pub errors: Vec<(String, NetError)>,
    pub left_alone: Vec<String>,
}

/// Runs `steps` in reverse, best effort: every step is tried, and every
/// failure is returned (with what the step was).
pub fn unwind(sp: &mut Spaces, steps: &[Undo], header: &Header) -> Unwound {
    let mut out = Unwound::default();
    // Every process hears SIGTERM before the first one is waited for.
    for step in steps {
        if let Undo::StopProcess(p) = step {
            crate::net::exec::terminate(p.pid, p.start);
        }
    }
    let order = teardown_order(steps);
    let mut k = 0;
    while k < order.len() {
        // A run of namespace deletions goes at once (their unmounts side
        // by side, see steps/netns.rs); any other step on its own.
        let run: Vec<&DeleteNetns> = order[k..]
            .iter()
            .map_while(|s| match s {
                Undo::DeleteNetns(d) => Some(d),
                _ => None,
            })
            .collect();
        let (done, results) = if run.is_empty() {
            (1, vec![order[k].apply(sp, header)])
        } else {
            (
                run.len(),
                crate::lab::steps::netns::delete_run(&run, sp, header),
            )
        };
        for (step, r) in order[k..k + done].iter().zip(results) {
            match r {
                Ok(Undone::Done) => {}
                Ok(Undone::LeftAlone(why)) => out.left_alone.push(why),
                Err(e) => out.errors.push((step.describe(), e)),
            }
        }
        k += done;
    }
    sp.close_all();
    out
}

/// The steps in reverse, except that the lab's processes are stopped first
/// (they pin the namespaces they run in, which a namespace made after the
/// first process would otherwise be deleted before), and that namespaces
/// deleted one right after the other go in the order they were made.
/// Deleting one namespace never depends on another, and the first ones made
/// are usually what the rest plug into (a switch, a router): deleting those
/// first cuts every cable at once, so the kernel stops flooding traffic (IPv6
/// neighbour discovery, multicast) through a bridge into namespaces that are
/// about to go anyway.
fn teardown_order(steps: &[Undo]) -> Vec<&Undo> {
    let kill = |s: &&Undo| matches!(s, Undo::KillCgroup(KillCgroup { .. }));
    let mut order: Vec<&Undo> = steps.iter().filter(kill).collect();
    let mut run: Vec<&Undo> = Vec::new();
    for step in steps.iter().rev().filter(|s| !kill(s)) {
        if matches!(step, Undo::DeleteNetns(DeleteNetns { .. })) {
            run.push(step);
        } else {
            order.extend(run.drain(..).rev());
            order.push(step);
        }
    }
    order.extend(run.drain(..).rev());
    order
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::lab::space::NsRef;
    use crate::net::rtnl::{PortOpts, RouteKind, RuleAction, RuleSpec};

    fn netns(name: &str) -> Undo {
        Undo::DeleteNetns(DeleteNetns {
            name: name.to_string(),
            dev: 1,
            ino: 2,
            cookie: None,
        })
    }

    #[test]
    fn teardown_reverses_but_deletes_runs_of_namespaces_oldest_first() {
        let stop = Undo::StopProcess(StopProcess {
            pid: 7,
            start: 1,
            ns: None,
            cmd: None,
        });
        let sysctl = Undo::ReleaseSysctl(ReleaseSysctl {
            key: "net.ipv4.ip_forward".into(),
        });
        let steps = vec![
            netns("a"),
            netns("b"),
            stop.clone(),
            netns("c"),
            netns("d"),
            sysctl.clone(),
        ];
        let order: Vec<Undo> = teardown_order(&steps).into_iter().cloned().collect();
        assert_eq!(
            order,
            vec![sysctl, netns("c"), netns("d"), stop, netns("a"), netns("b")]
        );
    }

    #[test]
    fn a_cgroup_step_may_name_only_the_cgroup_of_its_own_lab() {
        let header = header();
        let step = |path: &str| Undo::KillCgroup(KillCgroup { path: path.into() });
        assert!(step("/sys/fs/cgroup/nslab-x-5").validate(&header).is_ok());
        for bad in [
            "/sys/fs/cgroup/system.slice",
            "/sys/fs/cgroup/nslab-x-6",
            "/sys/fs/cgroup/nslab-y-5",
            "/sys/fs/cgroup/../nslab-x-5",
            "sys/fs/cgroup/nslab-x-5",
        ] {
            assert!(step(bad).validate(&header).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_qdisc_step_may_name_only_a_handle_nslab_gives() {
        let header = header();
        let step = |major: u16| {
            Undo::DeleteQdisc(DeleteQdisc {
                ns: NsRef::Host,
                dev: "eth0".into(),
                ifindex: 2,
                major,
            })
        };
        assert!(step(0x1234).validate(&header).is_ok());
        // The kernel's default (0:) and tc's own handles (8000: and up) are
        // never the lab's to delete.
        for bad in [0, 0x8001, 0xffff] {
            assert!(step(bad).validate(&header).is_err(), "{bad:x} accepted");
        }
        let port = Undo::RestorePort(RestorePort {
            ns: NsRef::Host,
            dev: "bad/name".into(),
            ifindex: 2,
            opts: PortOpts::default(),
        });
        assert!(port.validate(&header).is_err());
        // Journaled as JSON and read back the same.
        let port = Undo::RestorePort(RestorePort {
            ns: NsRef::Host,
            dev: "eth0".into(),
            ifindex: 2,
            opts: PortOpts {
                isolated: Some(false),
                hairpin: Some(true),
                cost: Some(3),
                priority: Some(2),
                learning: Some(false),
                flood: None,
            },
        });
        let back: Undo = serde_json::from_str(&serde_json::to_string(&port).unwrap()).unwrap();
        assert_eq!(back, port);
        // A step journaled before learning and flood existed reads back
        // without them, and is written as it was.
        let before = r#"{"op":"restore_port","ns":"host","dev":"eth0","ifindex":2,"opts":{"isolated":null,"hairpin":true,"cost":null,"priority":null}}"#;
        let back: Undo = serde_json::from_str(before).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), before);
    }

    #[test]
    fn the_lab_s_processes_are_stopped_before_anything_else() {
        let kill = Undo::KillCgroup(KillCgroup {
            path: "/sys/fs/cgroup/nslab-x-1".into(),
        });
        let steps = vec![netns("a"), kill.clone(), netns("b"), netns("c")];
        let order: Vec<Undo> = teardown_order(&steps).into_iter().cloned().collect();
        assert_eq!(order, vec![kill, netns("a"), netns("b"), netns("c")]);
    }

    /// The header of a lab "x" run by pid 5, for steps to validate against.
    pub(in crate::lab) fn header() -> Header {
        Header {
            lab: "x".into(),
            pid: 5,
            start: 0,
            id: String::new(),
            script: String::new(),
            started: 0,
            isolated: false,
            prefix: None,
        }
    }

    fn saved() -> SavedRoute {
        SavedRoute {
            dst: "10.88.0.0/16".parse().unwrap(),
            table: 254,
            kind: RouteKind::Unicast,
            protocol: 4,
            scope: 0,
            metric: 5,
            via: None,
            dev: None,
            ifindex: None,
            src: None,
            onlink: false,
            nexthops: vec![NamedHop {
                via: Some("10.1.0.1".parse().unwrap()),
                dev: Some("eth0".into()),
                ifindex: Some(2),
                weight: 1,
                onlink: false,
            }],
            metrics: vec![(2, 1400)],
            pref: None,
        }
    }

    fn rule() -> RuleSpec {
        RuleSpec {
            v6: false,
            priority: Some(100),
            from: Some("10.0.2.0/24".parse().unwrap()),
            to: None,
            iif: Some("eth0".into()),
            oif: None,
            fwmark: None,
            fwmask: None,
            table: Some(100),
            action: RuleAction::Lookup,
        }
    }

    /// Routing steps survive the journal and are checked with the API's
    /// rules when read back: a step that breaks one is refused.
    #[test]
    fn routing_steps_round_trip_and_bad_ones_are_refused() {
        let h = header();
        let good = vec![
            Undo::RestoreRoute(RestoreRoute {
                ns: NsRef::Host,
                route: saved(),
            }),
            Undo::DeleteRule(DeleteRule {
                ns: NsRef::Host,
                rule: rule(),
            }),
            Undo::DeleteNeigh(DeleteNeigh {
                ns: NsRef::Host,
                dev: "eth0".into(),
                ifindex: 2,
                addr: "10.0.0.9".parse().unwrap(),
                lladdr: "02:00:00:00:00:09".into(),
            }),
            Undo::DeleteRoute(DeleteRoute {
                ns: NsRef::Host,
                dst: "10.9.0.0/16".parse().unwrap(),
                via: None,
                dev: None,
                metric: None,
                table: Some(100),
                kind: RouteKind::Blackhole,
                nexthops: Vec::new(),
            }),
        ];
        for step in &good {
            let text = serde_json::to_string(step).unwrap();
            let back: Undo = serde_json::from_str(&text).unwrap();
            assert_eq!(&back, step);
            assert_eq!(step.validate(&h), Ok(()), "{text}");
        }
        // A journal from before tables and types: a main-table unicast route.
        let old: Undo = serde_json::from_str(
            r#"{"op":"delete_route","ns":"host","dst":"10.77.0.0/16","via":null,"dev":"dummy0","metric":7}"#,
        )
        .unwrap();
        assert!(matches!(
            old,
            Undo::DeleteRoute(DeleteRoute {
                table: None,
                kind: RouteKind::Unicast,
                ..
            })
        ));

        let mut bad = Vec::new();
        let mut r = saved();
        r.nexthops[0].dev = Some("a/b".into());
        bad.push(Undo::RestoreRoute(RestoreRoute {
            ns: NsRef::Host,
            route: r,
        }));
        let mut r = saved();
        r.nexthops[0].weight = 0;
        bad.push(Undo::RestoreRoute(RestoreRoute {
            ns: NsRef::Host,
            route: r,
        }));
        let mut r = saved();
        r.metrics = vec![(16, 1)];
        bad.push(Undo::RestoreRoute(RestoreRoute {
            ns: NsRef::Host,
            route: r,
        }));
        let mut r = saved();
        r.dev = Some("eth0".into());
        bad.push(Undo::RestoreRoute(RestoreRoute {
            ns: NsRef::Host,
            route: r,
        }));
        let mut r = saved();
        r.table = 0;
        bad.push(Undo::RestoreRoute(RestoreRoute {
            ns: NsRef::Host,
            route: r,
        }));
        let mut r = saved();
        r.pref = Some(2);
        bad.push(Undo::RestoreRoute(RestoreRoute {
            ns: NsRef::Host,
            route: r,
        }));
        let mut x = rule();
        x.priority = None;
        bad.push(Undo::DeleteRule(DeleteRule {
            ns: NsRef::Host,
            rule: x,
        }));
        let mut x = rule();
        x.v6 = true;
        bad.push(Undo::DeleteRule(DeleteRule {
            ns: NsRef::Host,
            rule: x,
        }));
        let mut x = rule();
        x.action = RuleAction::Blackhole;
        bad.push(Undo::DeleteRule(DeleteRule {
            ns: NsRef::Host,
            rule: x,
        }));
        let mut x = rule();
        x.iif = Some("much-too-long-name".into());
        bad.push(Undo::DeleteRule(DeleteRule {
            ns: NsRef::Host,
            rule: x,
        }));
        bad.push(Undo::DeleteNeigh(DeleteNeigh {
            ns: NsRef::Host,
            dev: "eth0".into(),
            ifindex: 2,
            addr: "10.0.0.9".parse().unwrap(),
            lladdr: "02:00:00".into(),
        }));
        bad.push(Undo::DeleteRoute(DeleteRoute {
            ns: NsRef::Host,
            dst: "10.9.0.0/16".parse().unwrap(),
            via: Some("10.0.0.1".parse().unwrap()),
            dev: None,
            metric: None,
            table: None,
            kind: RouteKind::Blackhole,
            nexthops: Vec::new(),
        }));
        bad.push(Undo::DeleteRoute(DeleteRoute {
            ns: NsRef::Named("../etc".into()),
            dst: "10.9.0.0/16".parse().unwrap(),
            via: None,
            dev: Some("eth0".into()),
            metric: None,
            table: None,
            kind: RouteKind::Unicast,
            nexthops: Vec::new(),
        }));
        for step in &bad {
            assert!(step.validate(&h).is_err(), "accepted: {step:?}");
        }
    }
}
