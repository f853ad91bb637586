//! Undoing `netns(name)`: the namespace goes, if it is still the lab's.

use serde::{Deserialize, Serialize};

use super::{Step, Undone};
use crate::lab::journal::Header;
use crate::lab::names;
use crate::lab::plan::q;
use crate::lab::space::Spaces;
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

/// A step that took longer than this on the calling thread hands the rest
/// of the run to `DETACHERS` threads (see `delete_run`).
const SLOW_STEP: std::time::Duration = std::time::Duration::from_micros(200);

/// `apply` of every step of a run of namespace deletions, side by side
/// when the machine makes them slow.
/// Each `umount2` of a namespace waits for an expedited RCU grace period
/// (`namespace_unlock`), one after the other when done in turn; concurrent
/// ones share a grace period. Measured in a private host, 1000 names from
/// `ip netns add`: in turn 1.6-3.0 s, from 4-16 threads 0.15-0.5 s (issue
/// 24). But a grace period is short on a machine with little else to do:
/// 11 names unmounted in turn took 0.5-0.6 ms there, from 8 threads
/// 0.7-1.0 ms (the threads' start and end cost more than the waits they
/// share), while on a busy machine, where each wait is milliseconds, the
/// threads halved it. So the calling thread takes the steps in turn while
/// each is quick, and hands what is left to the threads at the first slow
/// one (bench/README.md, "star-10: start-up and teardown").
/// This thread first closes the process's own handles on the
/// namespaces (or one would outlive its name, with the veths in it) and
/// notes which ones it made; the steps are taken in order (the
/// oldest namespaces still go first), each checking that the name still
/// holds the namespace recorded (with its cookie when this process did not
/// make it: `nslab down`) before unmounting it and removing the name.
pub fn delete_run(steps: &[&DeleteNetns], sp: &mut Spaces, header: &Header) -> Vec<Result<Undone>> {
    // While this process holds a namespace it made open, its inode cannot
    // go to another one; once closed, the name's mount holds it: the
    // (dev, ino) check is enough, and the cookie only needed by `down`.
    let made_here: Vec<bool> = steps
        .iter()
        .map(|s| sp.created_kernel_named(&s.name).is_some())
        .collect();
    let open: Vec<_> = steps
        .iter()
        .filter_map(|s| sp.open_named(&s.name))
        .collect();
    sp.close_many(&open);
    let run = |i: usize, home: Option<std::os::fd::BorrowedFd<'_>>| -> Result<Undone> {
        let DeleteNetns {
            name,
            dev,
            ino,
            cookie,
        } = steps[i];
        match ns::name_state(name)? {
            ns::NameState::Missing => Ok(Undone::Done),
            ns::NameState::Namespace(d, n) if (d, n) == (*dev, *ino) => {
                if !made_here[i] && !ns::named_is_recorded_here(name, *dev, *ino, *cookie, home)? {
                    return Ok(steps[i].not_ours(header));
                }
                ns::delete_named(name).map(|_| Undone::Done)
            }
            // The name's file, made by this lab just before it died,
            // before the namespace was mounted on it.
            ns::NameState::Unmounted => ns::delete_named(name).map(|_| Undone::Done),
            ns::NameState::Namespace(..) | ns::NameState::Other => Ok(steps[i].not_ours(header)),
        }
    };
    // In turn on this thread (a cookie is read by the shared worker: this
    // thread never leaves its namespace) while the steps are quick.
    let mut done: Vec<Option<Result<Undone>>> = (0..steps.len()).map(|_| None).collect();
    let mut first_left = steps.len();
    for (i, slot) in done.iter_mut().enumerate() {
        let began = std::time::Instant::now();
        *slot = Some(run(i, None));
        if began.elapsed() > SLOW_STEP {
            first_left = i + 1;
            break;
        }
    }
    if first_left == steps.len() {
        return done.into_iter().flatten().collect();
    }
    // The network namespace the threads come back to after reading a cookie.
    let home = ns::open_current();
    let home = home.as_ref().ok().map(std::os::fd::AsFd::as_fd);
    let next = std::sync::atomic::AtomicUsize::new(first_left);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..DETACHERS.min(steps.len() - first_left) {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= steps.len() {
                        break;
                    }
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
    done.into_iter()
        .map(|d| {
            d.unwrap_or_else(|| {
                Err(NetError::Other(
                    "a thread unmounting namespaces failed".into(),
                ))
            })
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
}
