//! Undoing `netns(name)`: the namespace goes, if it is still the lab's.

use serde::{Deserialize, Serialize};

use super::{Step, Undone};
use crate::lab::journal::Header;
use crate::lab::names;
use crate::lab::plan::q;
use crate::lab::space::{NsRef, Spaces};
use crate::net::{NetError, Result, ns};

/// `ip netns del NAME`, if NAME is still the namespace with inode `ino`
/// on nsfs device `dev` and, where the kernel has them, `cookie` (inodes
/// are reused; see `ns::cookie_here`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteNetns {
    pub name: String,
    pub dev: u64,
    pub ino: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<u64>,
}

/// `ip netns del NAME`.
pub fn delete_netns_shell(name: &str) -> String {
    format!("ip netns del {}", q(name))
}

impl Step for DeleteNetns {
    fn describe(&self) -> String {
        format!("delete namespace '{}'", self.name)
    }

    fn validate(&self, _: &Header) -> std::result::Result<(), String> {
        names::check_nsname(&self.name).map_err(|e| e.message)
    }

    fn apply(&self, sp: &mut Spaces, header: &Header) -> Result<Undone> {
        delete_run(&[self], sp, header)
            .pop()
            .unwrap_or(Ok(Undone::Done))
    }
}

/// How many namespaces are unmounted at once (see `delete_run`).
const DETACHERS: usize = 8;

/// What the calling thread decided for one step of a run, before the
/// unmounts.
enum Plan {
    Decided(Result<Undone>),
    /// Unmount and remove the name; with Some((dev, ino, cookie)), once
    /// the namespace under it is known to be the one recorded.
    Delete(Option<(u64, u64, Option<u64>)>),
}

/// `apply` of every step of a run of namespace deletions, their unmounts
/// done by a few threads at once. Each `umount2` of a namespace waits for
/// an expedited RCU grace period (`namespace_unlock`), one after the other
/// when done in turn; concurrent ones share a grace period. Measured in a
/// private host, 1000 names from `ip netns add`: in turn 1.6-3.0 s, from 4-16
/// threads 0.15-0.5 s (issue 24). The threads take the steps in order, so
/// the oldest namespaces still go first. The checks that need this process's
/// handles (`Spaces`) are made here first; the cookie check of a namespace
/// this process did not make (`nslab down`) is made by the thread that
/// unmounts it.
pub fn delete_run(steps: &[&DeleteNetns], sp: &mut Spaces, header: &Header) -> Vec<Result<Undone>> {
    let plans: Vec<Plan> = steps.iter().map(|s| s.plan(sp, header)).collect();
    let jobs: Vec<usize> = (0..plans.len())
        .filter(|i| matches!(plans[*i], Plan::Delete(_)))
        .collect();
    let run = |i: usize, home: Option<std::os::fd::BorrowedFd<'_>>| -> Result<Undone> {
        let Plan::Delete(check) = &plans[i] else {
            return Ok(Undone::Done);
        };
        if let Some((dev, ino, cookie)) = *check
            && !ns::named_is_recorded_here(&steps[i].name, dev, ino, cookie, home)?
        {
            return Ok(steps[i].not_ours(header));
        }
        ns::delete_named(&steps[i].name).map(|_| Undone::Done)
    };
    let mut done: Vec<Option<Result<Undone>>> = (0..plans.len()).map(|_| None).collect();
    if jobs.len() <= 1 {
        for &i in &jobs {
            done[i] = Some(run(i, None));
        }
    } else {
        // The network namespace to come back to after reading a cookie.
        let home = ns::open_current();
        let home = home.as_ref().ok().map(std::os::fd::AsFd::as_fd);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..DETACHERS.min(jobs.len()) {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = jobs.get(k) else { break };
                        mine.push((i, run(i, home)));
                    }
                    if let Ok(mut r) = results.lock() {
                        r.extend(mine);
                    }
                });
            }
        });
        for (i, r) in results.into_inner().unwrap_or_default() {
            done[i] = Some(r);
        }
    }
    plans
        .into_iter()
        .zip(done)
        .map(|(p, d)| match (p, d) {
            (Plan::Decided(r), _) => r,
            (Plan::Delete(_), Some(r)) => r,
            (Plan::Delete(_), None) => Err(NetError::Other(
                "a thread unmounting namespaces failed".into(),
            )),
        })
        .collect()
}

impl DeleteNetns {
    fn not_ours(&self, header: &Header) -> Undone {
        Undone::LeftAlone(format!(
            "namespace '{}' is not the one lab '{}' made: left alone",
            self.name, header.lab
        ))
    }

    /// `apply` up to the unmount: what can be decided with this process's
    /// handles. A namespace that may be deleted has them closed first, or it
    /// (and the veths in it) would outlive its name; one left alone after
    /// its cookie check just has them opened again if a later step needs it.
    fn plan(&self, sp: &mut Spaces, header: &Header) -> Plan {
        let DeleteNetns {
            name,
            dev,
            ino,
            cookie,
        } = self;
        let state = match ns::name_state(name) {
            Ok(s) => s,
            Err(e) => return Plan::Decided(Err(e)),
        };
        match state {
            ns::NameState::Missing => Plan::Decided(Ok(Undone::Done)),
            ns::NameState::Namespace(d, i) if (d, i) == (*dev, *ino) => {
                // While this process holds the namespace it made open, its
                // inode cannot go to another one: the cookie is only needed
                // by `nslab down`.
                let made_here = sp.created_kernel_named(name).is_some();
                if let Ok(id) = sp.resolve(&NsRef::Named(name.clone())) {
                    sp.close(id);
                }
                Plan::Delete((!made_here).then_some((*dev, *ino, *cookie)))
            }
            // The name's file, made by this lab just before it died,
            // before the namespace was mounted on it.
            ns::NameState::Unmounted => Plan::Delete(None),
            ns::NameState::Namespace(..) | ns::NameState::Other => {
                Plan::Decided(Ok(self.not_ours(header)))
            }
        }
    }
}
