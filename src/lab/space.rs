//! The namespaces a lab works in: the host (the namespace nslab started in)
//! and the ones it opened or created, each with its own netlink socket.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::net::ns::{self, Later, NsWorker, Pending};
use crate::net::rtnl::{self, Rtnl, RtnlParts, RtnlTask};
use crate::net::sysctl;
use crate::net::{NetError, Result};

/// Index of a namespace in the lab's table; 0 is the host.
pub type NsId = usize;
pub const HOST: NsId = 0;

/// A namespace by name, as the journal stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NsRef {
    Host,
    Named(String),
}

impl NsRef {
    pub fn display(&self) -> &str {
        match self {
            NsRef::Host => "host",
            NsRef::Named(n) => n,
        }
    }
}

struct Entry {
    /// As the kernel knows it (under the lab's prefix, if it has one).
    r: NsRef,
    /// As the script knows it: `r` without the prefix.
    shown: String,
    fd: Option<OwnedFd>,
    rtnl: Option<(Rtnl, RtnlTask)>,
    /// Its `/proc/sys/net/ipv6/conf`, opened inside it on first use (see
    /// `write_ipv6_conf`); closed with the socket.
    ipv6_conf: Option<OwnedFd>,
    /// Made by this lab (deleting it undoes everything inside).
    created: bool,
    /// Made by the kept lab an `nslab repl --attach` session works on (so
    /// also `created`): what it holds was made before this process.
    adopted: bool,
    /// Placed on another machine (lab/remote.rs): no descriptor here.
    on: Option<String>,
}

/// A namespace made but not named yet (see `Spaces::make`).
pub struct Unnamed {
    fd: OwnedFd,
    parts: RtnlParts,
}

impl Unnamed {
    /// Its nsfs (device, inode): what `nslab down` checks before deleting.
    pub fn identity(&self) -> Result<(u64, u64)> {
        ns::identity(self.fd.as_fd())
    }

    /// Its cookie, which unlike the inode is never reused (see
    /// `ns::cookie_here`).
    pub fn cookie(&self) -> Option<u64> {
        self.parts.cookie
    }
}

pub struct Spaces {
    rt: tokio::runtime::Runtime,
    worker: NsWorker,
    entries: Vec<Entry>,
    /// The next namespace, being made ahead (see `create`).
    spare: Option<Pending<RtnlParts>>,
    /// Off where a namespace made early could differ from one made on time.
    make_spares: bool,
    /// Namespaces with a netlink socket open, oldest first, and how many may
    /// stay open: a lab holds one descriptor per namespace and one per
    /// socket, so in a lab of thousands the oldest sockets are closed (and
    /// opened again when needed, see `rtnl`) to stay within the limit.
    open_socks: VecDeque<NsId>,
    max_socks: usize,
    /// `--prefix`: put before every name of a namespace the lab makes, so
    /// a second copy of a lab can run beside the first. The script never
    /// sees it: `name` gives the script's names, `nsref` the kernel's.
    prefix: String,
}

/// `Spaces::prestart`'s thread, until the lab opens and takes what it made.
static PRESTARTED: std::sync::Mutex<Option<std::thread::JoinHandle<Result<Spaces>>>> =
    std::sync::Mutex::new(None);

impl Spaces {
    /// Starts making the lab's runtime, its worker and its first namespace
    /// (unnamed, as a spare) on a thread of their own, while the main
    /// thread builds the engine and compiles the script; `new_or_prestarted`
    /// takes them when the lab opens. For `nslab run` of a script that makes
    /// namespaces, when nothing has to happen first on a thread of its own
    /// (isolation: `unshare(CLONE_NEWUSER)` needs a single-threaded process).
    /// Nothing made here outlives the process: the namespace gets a name
    /// only when the lab takes it. `also` runs on that thread once the
    /// namespace is under way (the caller's own head start).
    pub fn prestart(also: impl FnOnce() + Send + 'static) {
        let made = std::thread::Builder::new()
            .name("nslab-start".into())
            .spawn(|| {
                let mut sp = Spaces::new()?;
                sp.start_spare();
                also();
                Ok(sp)
            });
        if let (Ok(handle), Ok(mut slot)) = (made, PRESTARTED.lock()) {
            *slot = Some(handle);
        }
    }

    /// What `prestart` made, else a new one (on this thread). A prestart
    /// that failed is tried again here, so its error is the one reported.
    pub fn new_or_prestarted() -> Result<Spaces> {
        let started = PRESTARTED.lock().ok().and_then(|mut slot| slot.take());
        match started.map(|h| h.join()) {
            Some(Ok(Ok(sp))) => Ok(sp),
            _ => Spaces::new(),
        }
    }

    /// Must run on a thread whose namespace is the host: the main thread,
    /// or one started before anything moved to another namespace.
    pub fn new() -> Result<Spaces> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| NetError::os("start runtime", e))?;
        let host = ns::open_current()?;
        Ok(Spaces {
            rt,
            worker: NsWorker::start()?,
            entries: vec![Entry {
                r: NsRef::Host,
                shown: "host".into(),
                fd: Some(host),
                rtnl: None,
                created: false,
                adopted: false,
                on: None,
                ipv6_conf: None,
            }],
            spare: None,
            make_spares: !ns::inherits_from_creator(),
            open_socks: VecDeque::new(),
            max_socks: usize::MAX,
            prefix: String::new(),
        })
    }

    /// Names from here on are the script's, under `prefix` in the kernel.
    pub fn set_prefix(&mut self, prefix: &str) {
        self.prefix = prefix.to_string();
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The kernel's name of the script's namespace `name`.
    pub fn kernel_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The script's name of the kernel's namespace `name`, if it is under
    /// the prefix (always, without one).
    pub fn script_name<'a>(&self, name: &'a str) -> Option<&'a str> {
        name.strip_prefix(self.prefix.as_str())
    }

    fn shown(&self, r: &NsRef) -> String {
        match r {
            NsRef::Host => "host".into(),
            NsRef::Named(n) => self.script_name(n).unwrap_or(n).to_string(),
        }
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn nsref(&self, id: NsId) -> &NsRef {
        &self.entries[id].r
    }

    /// The namespace's name as the script knows it (`nsref` is the
    /// kernel's).
    pub fn name(&self, id: NsId) -> &str {
        &self.entries[id].shown
    }

    /// Namespaces still open, host first.
    pub fn alive(&self) -> Vec<NsId> {
        (0..self.entries.len())
            .filter(|i| self.entries[*i].fd.is_some())
            .collect()
    }

    pub fn is_created(&self, id: NsId) -> bool {
        self.entries[id].created
    }

    /// The namespaces this lab made (or adopted) that are still open, in
    /// the order they were made.
    pub fn created(&self) -> Vec<NsId> {
        (0..self.entries.len())
            .filter(|i| self.entries[*i].created && self.entries[*i].fd.is_some())
            .collect()
    }

    pub fn is_adopted(&self, id: NsId) -> bool {
        self.entries[id].adopted
    }

    /// Takes namespace `name` (the kernel's name), made by a kept lab (its
    /// journal says with nsfs identity `(dev, ino)`), as one this lab made: an `nslab repl
    /// --attach` session builds on it, and `nslab down` deletes it. `None`
    /// when the name is gone or now names another namespace (someone
    /// deleted it, and maybe made another): that one is not the lab's.
    pub fn adopt(
        &mut self,
        name: &str,
        dev: u64,
        ino: u64,
        cookie: Option<u64>,
    ) -> Result<Option<NsId>> {
        let fd = match ns::open_named(name) {
            Ok(fd) => fd,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        if !ns::is_recorded(fd.as_fd(), dev, ino, cookie)? {
            return Ok(None);
        }
        let r = NsRef::Named(name.to_string());
        self.entries.push(Entry {
            shown: self.shown(&r),
            r,
            fd: Some(fd),
            rtnl: None,
            created: true,
            adopted: true,
            on: None,
            ipv6_conf: None,
        });
        Ok(Some(self.entries.len() - 1))
    }

    /// The namespace this lab made under the script's `name`, if it is
    /// still open.
    pub fn created_named(&self, name: &str) -> Option<NsId> {
        self.entries.iter().position(|e| {
            e.created && e.fd.is_some() && matches!(e.r, NsRef::Named(_)) && e.shown == name
        })
    }

    /// The namespace this lab made under the kernel's `name` (as a journal
    /// names it), if it is still open.
    /// The entry holding namespace `name` open, if any (none is opened).
    pub fn open_named(&self, name: &str) -> Option<NsId> {
        self.entries
            .iter()
            .position(|e| e.fd.is_some() && matches!(&e.r, NsRef::Named(n) if n == name))
    }

    pub fn created_kernel_named(&self, name: &str) -> Option<NsId> {
        self.entries.iter().position(|e| {
            e.created && e.fd.is_some() && matches!(&e.r, NsRef::Named(n) if n == name)
        })
    }

    pub fn fd(&self, id: NsId) -> Result<&OwnedFd> {
        let e = &self.entries[id];
        if let Some(m) = &e.on {
            return Err(NetError::Untrusted {
                message: format!(
                    "namespace '{}' is on machine '{m}', and this call is not carried across machines yet",
                    e.shown
                ),
                help: super::remote::WORKS_ACROSS.into(),
            });
        }
        e.fd.as_ref()
            .ok_or_else(|| NetError::Gone(self.name(id).to_string()))
    }

    /// A placed namespace its agent deleted: from now on it is gone here
    /// as a deleted local one is.
    pub fn unplace(&mut self, id: NsId) {
        if let Some(e) = self.entries.get_mut(id) {
            e.on = None;
        }
    }

    /// A namespace of the lab on another machine: a name here, no
    /// descriptor (see lab/remote.rs).
    pub fn place(&mut self, name: &str, machine: &str) -> NsId {
        self.entries.push(Entry {
            r: NsRef::Named(self.kernel_name(name)),
            shown: name.to_string(),
            fd: None,
            rtnl: None,
            created: false,
            adopted: false,
            on: Some(machine.to_string()),
            ipv6_conf: None,
        });
        self.entries.len() - 1
    }

    /// The namespace placed on another machine under the script's `name`.
    pub fn placed_named(&self, name: &str) -> Option<NsId> {
        self.entries
            .iter()
            .position(|e| e.on.is_some() && e.shown == name)
    }

    /// Runs `f` inside namespace `id`: right here for the host (this thread
    /// never leaves it, and entering it could need privileges nslab lacks),
    /// else on the worker.
    pub fn run_in<R: Send + 'static>(
        &self,
        id: NsId,
        f: impl FnOnce() -> Result<R> + Send + 'static,
    ) -> Result<R> {
        if id == HOST {
            return f();
        }
        self.worker.run_in(self.fd(id)?.as_fd(), f)
    }

    /// `run_in` that returns at once (see `NsWorker::run_in_later`).
    pub fn run_in_later<R: Send + 'static>(
        &self,
        id: NsId,
        f: impl FnOnce() -> Result<R> + Send + 'static,
    ) -> Result<Later<R>> {
        if id == HOST {
            return Ok(Later::done(f()));
        }
        self.worker.run_in_later(self.fd(id)?.as_fd(), f)
    }

    /// `run_in` for each of `ids` (none the host), in one trip to the
    /// worker: `f(i)` inside `ids[i]`.
    pub fn run_in_each<R: Send + 'static>(
        &self,
        ids: &[NsId],
        f: impl Fn(usize) -> Result<R> + Send + 'static,
    ) -> Result<Vec<Result<R>>> {
        let fds = ids
            .iter()
            .map(|id| self.fd(*id).map(|f| f.as_fd()))
            .collect::<Result<Vec<_>>>()?;
        self.worker.run_in_each(&fds, f)
    }

    /// The netlink client of a namespace, opened on first use.
    pub fn rtnl(&mut self, id: NsId) -> Result<Rtnl> {
        if let Some((r, _)) = &self.entries[id].rtnl {
            return Ok(r.clone());
        }
        let handle = self.rt.handle().clone();
        let parts = self.run_in(id, move || {
            let _in_rt = handle.enter();
            rtnl::open()
        })?;
        let (r, task) = parts.spawn(self.rt.handle());
        self.entries[id].rtnl = Some((r.clone(), task));
        self.open_socks.push_back(id);
        Ok(r)
    }

    /// Writes `LINK/KEY` under net/ipv6/conf in namespace `id`, from this
    /// thread: through the namespace's sysctl directory, opened inside it
    /// once (on the worker), so a script attaching a thousand ports to one
    /// bridge hands the worker one job instead of a thousand (each a
    /// wake-up of another thread, two `setns` and a wait for a CPU).
    pub fn write_ipv6_conf(&mut self, id: NsId, rel: &str, value: &str) -> Result<()> {
        if self.entries[id].ipv6_conf.is_none() {
            let dir = self.run_in(id, sysctl::open_ipv6_conf)?;
            self.entries[id].ipv6_conf = Some(dir);
        }
        match &self.entries[id].ipv6_conf {
            Some(dir) => sysctl::write_at(dir.as_fd(), rel, value),
            None => Err(NetError::Gone(self.name(id).to_string())),
        }
    }

    /// Finds an open namespace by the kernel's name or opens /run/netns/NAME.
    pub fn resolve(&mut self, r: &NsRef) -> Result<NsId> {
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| &e.r == r && e.fd.is_some())
        {
            return Ok(i);
        }
        let NsRef::Named(name) = r else {
            return Ok(HOST);
        };
        let fd = ns::open_named(name)?;
        self.entries.push(Entry {
            shown: self.shown(r),
            r: r.clone(),
            fd: Some(fd),
            rtnl: None,
            created: false,
            adopted: false,
            on: None,
            ipv6_conf: None,
        });
        Ok(self.entries.len() - 1)
    }

    /// A new namespace, not yet named: its identity can be journaled
    /// before its name appears under /run/netns.
    ///
    /// Once a script has made one namespace it will likely make more, so the
    /// next one is made ahead, unnamed, on the worker while the script goes on
    /// (see [`NsWorker::unshare_async`]); naming it is a bind mount. A spare
    /// that is never used is freed with the lab.
    pub fn make(&mut self) -> Result<Unnamed> {
        // Two descriptors per namespace: past a few hundred, the usual soft
        // limit of 1024 comes near (see `fdlimit`).
        if self.entries.len() == 256 {
            crate::net::fdlimit::raise();
            // Half the descriptors for sockets, the rest for the namespaces
            // and everything else.
            self.max_socks = (crate::net::fdlimit::soft() / 2)
                .saturating_sub(256)
                .max(256);
        }
        let pending = match self.spare.take() {
            Some(p) => p,
            None => self.unshare_async()?,
        };
        let (fd, parts) = pending.wait()?;
        Ok(Unnamed { fd, parts })
    }

    /// `ip netns add NAME` + `ip link set lo up` for a namespace from
    /// `make`, with its netlink socket opened inside it. `name` is the
    /// script's; the kernel's has the prefix.
    pub fn create(&mut self, made: Unnamed, name: &str) -> Result<NsId> {
        let Unnamed { fd, parts } = made;
        let kname = self.kernel_name(name);
        if let Err(e) = ns::give_name(fd.as_fd(), &kname) {
            self.spare = Some(Pending::ready((fd, parts)));
            return Err(e);
        }
        let (r, task) = parts.spawn(self.rt.handle());
        self.entries.push(Entry {
            r: NsRef::Named(kname.clone()),
            shown: name.to_string(),
            fd: Some(fd),
            rtnl: Some((r.clone(), task)),
            created: true,
            adopted: false,
            on: None,
            ipv6_conf: None,
        });
        let id = self.entries.len() - 1;
        self.open_socks.push_back(id);
        self.trim_socks(id);
        // Its lo came up where it was made (`rtnl::open_fresh`).
        self.start_spare();
        Ok(id)
    }

    /// Makes the next namespace ahead, on the worker (see `make`). A spare
    /// is only a head start: without one the next call makes its own.
    fn start_spare(&mut self) {
        if self.make_spares && self.spare.is_none() {
            self.spare = self.unshare_async().ok();
        }
    }

    fn unshare_async(&self) -> Result<Pending<RtnlParts>> {
        let handle = self.rt.handle().clone();
        self.worker.unshare_async(move || {
            let _in_rt = handle.enter();
            rtnl::open_fresh()
        })
    }

    /// Closes the oldest netlink sockets past `max_socks` (never `keep`'s).
    /// Only here, when a namespace is made: no caller holds another
    /// namespace's client across that.
    fn trim_socks(&mut self, keep: NsId) {
        while self.open_socks.len() > self.max_socks {
            let Some(old) = self.open_socks.pop_front() else {
                break;
            };
            if old == keep {
                self.open_socks.push_back(old);
                continue;
            }
            if let Some((_, task)) = self.entries[old].rtnl.take() {
                task.close(&self.rt);
            }
            self.entries[old].ipv6_conf = None;
        }
    }

    /// Lets go of namespaces: their sockets and fds, so the kernel can free
    /// them; the sockets closed in one turn of the runtime (a run of
    /// namespace deletions, `steps::netns::delete_run`).
    pub fn close_many(&mut self, ids: &[NsId]) {
        let mut tasks = Vec::new();
        for &id in ids {
            if let Some((_, task)) = self.entries[id].rtnl.take() {
                tasks.push(task);
            }
        }
        RtnlTask::close_all(tasks, &self.rt);
        for &id in ids {
            let e = &mut self.entries[id];
            e.ipv6_conf = None;
            e.fd = None;
        }
    }

    /// Closes everything (end of the lab).
    pub fn close_all(&mut self) {
        self.spare = None;
        for e in &mut self.entries {
            e.rtnl = None;
            e.ipv6_conf = None;
        }
    }
}
