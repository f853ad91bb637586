//! Nodes: what a lab namespace's programs see besides the network. Every
//! program nslab starts in a namespace of the lab's sees a hosts file
//! naming the lab's namespaces and their addresses; one made with
//! `netns(name, #{dirs, hostname})` also sees each of `dirs` as its own
//! (empty at first, shared by all of that namespace's programs) and its own
//! host name. The files live under /run/nslab/nodes/LAB (a private tmpfs
//! in isolated mode), journaled before the first is made; each program
//! gets them as bind mounts in a mount namespace of its own (see
//! `exec::Private`), so nothing is ever mounted where nslab or the host
//! would see it.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::events::Event;
use super::ledger::Undo;
use super::steps::nodes::{RemoveMadeDir, RemoveNodeDirs, RemoveNodeFiles, lab_dir};
use super::{HOST, Lab, LabError, NsId, Result, names};
use crate::net::exec::Private;

/// What `netns(name, #{dirs, hostname})` asks for.
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    pub dirs: Vec<String>,
    pub hostname: Option<String>,
}

impl NodeSpec {
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty() && self.hostname.is_none()
    }

    /// Checks every path and the host name, with the rules `down` applies
    /// to the journal; two directories may not be the same or nested.
    pub fn check(&self) -> Result<()> {
        for d in &self.dirs {
            names::check_node_dir(d)?;
        }
        for (i, a) in self.dirs.iter().enumerate() {
            for b in &self.dirs[i + 1..] {
                if a == b {
                    return Err(LabError::new(
                        format!("private directory '{a}' is listed twice"),
                        "list each directory once",
                    ));
                }
                let (outer, inner) = if a.len() < b.len() { (a, b) } else { (b, a) };
                if inner.starts_with(&format!("{outer}/")) {
                    return Err(LabError::new(
                        format!("private directory '{inner}' is inside '{outer}'"),
                        format!(
                            "'{outer}' is private already, and everything in it: list only '{outer}'"
                        ),
                    ));
                }
            }
        }
        if let Some(h) = &self.hostname {
            names::check_hostname(h)?;
        }
        Ok(())
    }
}

/// One namespace's private files.
#[derive(Debug, Default)]
struct Node {
    dirs: Vec<String>,
    hostname: Option<String>,
    /// The hosts file as last written (rewritten only when it changes).
    hosts: Option<String>,
}

/// The nodes' private files: which namespace has which, and whether the
/// lab's directory for them exists yet.
#[derive(Debug, Default)]
pub(super) struct Nodes {
    nodes: HashMap<NsId, Node>,
    /// /run/nslab/nodes/LAB made (and journaled).
    made: bool,
    /// The machine's own localhost lines of /etc/hosts, read once.
    localhost: Option<String>,
    /// The addresses each namespace's hosts lines list, read from the
    /// kernel when an event may have changed them (see `note`): a loop of
    /// execs then reads one namespace an exec, not the whole lab.
    addrs: HashMap<NsId, Vec<IpAddr>>,
    /// The lab's namespaces on other machines (names, addresses), as the
    /// driver last sent them to this agent.
    others: Vec<(String, Vec<IpAddr>)>,
}

impl Nodes {
    /// A kept lab's node, as its journal says (an attach session).
    pub(super) fn adopt(&mut self, id: NsId, dirs: Vec<String>, hostname: Option<String>) {
        let node = self.nodes.entry(id).or_default();
        node.dirs.extend(dirs);
        if hostname.is_some() {
            node.hostname = hostname;
        }
    }

    /// The kept lab's directory for its nodes exists, and is journaled.
    pub(super) fn adopt_files(&mut self) {
        self.made = true;
    }

    pub(super) fn forget_ns(&mut self, id: NsId) {
        self.nodes.remove(&id);
        self.addrs.remove(&id);
    }

    /// Forgets the addresses `e` may have changed: those of the namespace
    /// a lab call or a program of the lab's changed, or, when that cannot
    /// be told (a program on the host, a link deleted or moved), all.
    pub(super) fn note(&mut self, e: &Event) {
        match *e {
            Event::Ran { ns, .. } | Event::Spawned { ns, .. } | Event::AddrAdded { ns, .. }
                if ns != HOST =>
            {
                self.addrs.remove(&ns);
            }
            Event::NetnsMade { .. }
            | Event::LinkMade { .. }
            | Event::VethMade { .. }
            | Event::BridgeMade { .. }
            | Event::MasterSet { .. }
            | Event::PortSet { .. }
            | Event::Shaped { .. }
            | Event::Unshaped { .. }
            | Event::LinkUp { .. }
            | Event::LinkMtu { .. }
            | Event::RouteAdded { .. }
            | Event::RouteDeleted { .. }
            | Event::RuleAdded { .. }
            | Event::SysctlSet { .. }
            | Event::NeighAdded { .. }
            | Event::DadWaited { .. }
            | Event::AddrDadWaited { .. }
            | Event::Pinged { .. }
            | Event::Connected { .. }
            | Event::Listening { .. }
            | Event::PortWaited { .. }
            | Event::Reached { .. }
            | Event::NftApplied { .. }
            | Event::Slept { .. }
            | Event::Stopped { .. }
            | Event::NodeMade { .. }
            | Event::NodeWritten { .. } => {}
            _ => self.addrs.clear(),
        }
    }
}

/// `/etc/frr` → `etc%2Ffrr`: one file name per directory, never the same
/// for two paths.
pub(super) fn escape(dir: &str) -> String {
    dir.trim_start_matches('/')
        .replace('%', "%25")
        .replace('/', "%2F")
}

/// Is `dir` inside a directory isolated mode covered with a mount of its
/// own (a tmpfs on /run): a directory made there vanishes with nslab.
fn inside_private(dir: &str) -> bool {
    // Where it would be made: /var/run/frr is /run/frr on most machines.
    let mut existing = Path::new(dir);
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return false,
        }
    }
    let Ok(mut real) = fs::canonicalize(existing) else {
        return false;
    };
    real.extend(rest.iter().rev());
    crate::isolate::private_dirs()
        .iter()
        .filter(|p| **p != "/sys")
        .any(|p| real.starts_with(p))
}

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| {
        LabError::new(
            format!("path {} holds a NUL byte", p.display()),
            "use a plain path",
        )
    })
}

fn io_err(doing: &str, path: &Path, e: std::io::Error) -> LabError {
    LabError::new(
        format!("cannot {doing} {}: {e}", path.display()),
        "check that /run/nslab is writable and not full",
    )
}

/// The lines of the machine's /etc/hosts that name localhost (`127.0.0.1
/// localhost`, `::1 localhost ip6-localhost ip6-loopback`, …).
fn localhost_lines(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let body = line.split('#').next().unwrap_or("");
        let mut words = body.split_whitespace();
        let Some(addr) = words.next() else { continue };
        if addr.parse::<std::net::IpAddr>().is_err() {
            continue;
        }
        if words.any(|w| w.starts_with("localhost") || w.starts_with("ip6-")) {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    }
    out
}

/// Is `addr` one another node can reach by (not loopback, not link-local)?
fn listed(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !a.is_loopback(),
        IpAddr::V6(a) => !a.is_loopback() && (a.segments()[0] & 0xffc0) != 0xfe80,
    }
}

impl Lab {
    /// `netns(name, #{dirs, hostname})`: a namespace whose programs see
    /// `dirs` as their own and `hostname` as the host name.
    pub fn netns_node(&mut self, name: &str, spec: NodeSpec) -> Result<NsId> {
        spec.check()?;
        if spec.is_empty() {
            return self.netns(name);
        }
        self.missing_dirs(&spec.dirs)?;
        let id = self.netns(name)?;
        self.make_node(id, spec)?;
        Ok(id)
    }

    /// `ns.private_dirs([...])`: more private directories for a namespace
    /// the lab has (a recipe's, say); those it has already are left as
    /// they are. Programs started before do not see the new ones.
    pub fn private_dirs(&mut self, id: NsId, dirs: Vec<String>) -> Result<()> {
        if let Some(r) = self.remote_private_dirs(id, &dirs) {
            return r;
        }
        if id == HOST {
            return Err(LabError::new(
                "the host namespace has no private directories",
                "give them to a namespace of the lab: netns(name, #{dirs: [...]}) or ns.private_dirs([...])",
            ));
        }
        let have = self
            .nodes
            .nodes
            .get(&id)
            .map(|n| n.dirs.clone())
            .unwrap_or_default();
        let mut added: Vec<String> = Vec::new();
        for d in dirs {
            if !have.contains(&d) && !added.contains(&d) {
                added.push(d);
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        // The new ones must not nest in (or hold) those it has.
        NodeSpec {
            dirs: have.iter().chain(&added).cloned().collect(),
            hostname: None,
        }
        .check()?;
        self.make_node(
            id,
            NodeSpec {
                dirs: added,
                hostname: None,
            },
        )
    }

    /// Makes `spec`'s directories for namespace `id` (and any target the
    /// machine lacks), journaled, and gives them to its programs.
    fn make_node(&mut self, id: NsId, spec: NodeSpec) -> Result<()> {
        let missing = self.missing_dirs(&spec.dirs)?;
        let first = !self.nodes.nodes.contains_key(&id);
        self.node_files()?;
        for dir in missing {
            if self.id.is_isolated() {
                // Inside nslab's own private mounts (missing_dirs checked):
                // it vanishes with the process, nothing to undo.
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&dir)
                    .map_err(|e| io_err("create directory", Path::new(&dir), e))?;
                continue;
            }
            let undo = Undo::RemoveMadeDir(RemoveMadeDir { path: dir.clone() });
            self.recorded(None, undo, |_| {
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&dir)
                    .map_err(|e| io_err("create directory", Path::new(&dir), e))
            })?;
        }
        let undo = Undo::RemoveNodeDirs(RemoveNodeDirs {
            ns: self.sp.name(id).to_string(),
            dirs: spec.dirs.clone(),
            hostname: spec.hostname.clone(),
        });
        self.recorded(None, undo, |lab| {
            for d in &spec.dirs {
                let backing = lab.backing(id, d);
                fs::DirBuilder::new()
                    .mode(0o755)
                    .recursive(true)
                    .create(&backing)
                    .map_err(|e| io_err("create the private directory", &backing, e))?;
            }
            Ok(())
        })?;
        self.tell(Event::NodeMade {
            ns: id,
            dirs: &spec.dirs,
            first,
        });
        let node = self.nodes.nodes.entry(id).or_default();
        node.dirs.extend(spec.dirs);
        if spec.hostname.is_some() {
            node.hostname = spec.hostname;
        }
        Ok(())
    }

    /// The directories (each missing one and its missing parents, outermost
    /// first) to make so that `dirs` can be bound over: in host mode nslab
    /// makes them (and removes them at teardown if empty); in isolated
    /// mode that would touch the real machine past a crash, so it is an
    /// error.
    fn missing_dirs(&self, dirs: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for d in dirs {
            match fs::metadata(d) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    return Err(LabError::new(
                        format!("{d} is not a directory"),
                        "a private directory covers a directory of the machine: name a directory, not a file",
                    ));
                }
                Err(_) if self.id.is_isolated() && !inside_private(d) => {
                    return Err(LabError::new(
                        format!("directory {d} does not exist on this machine"),
                        format!(
                            "in isolated mode nslab makes nothing outside the lab (a crash would leave it behind): create it first (`mkdir -p {d}`), or run in host mode, where nslab makes it and removes it at teardown"
                        ),
                    ));
                }
                Err(_) => {}
            }
            let mut chain = Vec::new();
            let mut p = Path::new(d);
            while !p.exists() {
                chain.push(p.display().to_string());
                match p.parent() {
                    Some(parent) => p = parent,
                    None => break,
                }
            }
            for c in chain.into_iter().rev() {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    /// /run/nslab/nodes/LAB, journaled before it is made.
    fn node_files(&mut self) -> Result<PathBuf> {
        let dir = lab_dir(self.id.name());
        if !self.nodes.made {
            let undo = Undo::RemoveNodeFiles(RemoveNodeFiles { dir: dir.clone() });
            self.recorded(None, undo, |_| {
                let make = || {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .recursive(true)
                        .create(&dir)
                };
                // Another lab's teardown may take the shared parent away
                // between the two mkdirs: once more then.
                make()
                    .or_else(|_| make())
                    .map_err(|e| io_err("create", Path::new(&dir), e))
            })?;
            self.nodes.made = true;
        }
        Ok(PathBuf::from(dir))
    }

    fn node_dir(&self, id: NsId) -> PathBuf {
        Path::new(&lab_dir(self.id.name())).join(self.sp.name(id))
    }

    /// Where private directory `dir` of namespace `id` lives.
    fn backing(&self, id: NsId, dir: &str) -> PathBuf {
        self.node_dir(id).join("dirs").join(escape(dir))
    }

    /// The private directory of `id` that holds `path`, and the rest of
    /// `path` (empty, or starting with '/').
    fn private_part<'p>(&self, id: NsId, path: &'p str) -> Option<(String, &'p str)> {
        let node = self.nodes.nodes.get(&id)?;
        node.dirs.iter().find_map(|d| {
            let rest = path.strip_prefix(d.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (d.clone(), rest))
        })
    }

    /// Where `path`, in a private directory of `id`, is in nslab's view.
    fn in_private(&self, id: NsId, path: &str) -> Option<PathBuf> {
        let (d, rest) = self.private_part(id, path)?;
        let backing = self.backing(id, &d);
        Some(match rest.strip_prefix('/') {
            Some(r) => backing.join(r),
            None => backing,
        })
    }

    /// The hosts file namespace `id`'s programs see: the machine's
    /// localhost lines, then every namespace of the lab with each of its
    /// addresses (and its host name), those on other machines too; a
    /// namespace without an address finds its own names at 127.0.1.1.
    fn hosts_text(&mut self, id: NsId) -> Result<String> {
        if self.nodes.localhost.is_none() {
            let text = fs::read_to_string("/etc/hosts").unwrap_or_default();
            self.nodes.localhost = Some(localhost_lines(&text));
        }
        let mut out = format!(
            "# written by nslab for lab '{}': its namespaces and their addresses\n",
            self.id.name()
        );
        out.push_str(self.nodes.localhost.as_deref().unwrap_or(""));
        for (ns, names, addrs) in self.host_entries()? {
            for a in &addrs {
                out.push_str(&format!("{a}\t{names}\n"));
            }
            if ns == id && addrs.is_empty() {
                out.push_str(&format!("127.0.1.1\t{names}\n"));
            }
        }
        let mut far = self.nodes.others.clone();
        far.extend(self.far_host_entries());
        for (names, addrs) in far {
            for a in addrs {
                out.push_str(&format!("{a}\t{names}\n"));
            }
        }
        Ok(out)
    }

    /// The lab's namespaces on this machine: each with its names (its
    /// own, then its host name when another) and the addresses its hosts
    /// lines list.
    fn host_entries(&mut self) -> Result<Vec<(NsId, String, Vec<IpAddr>)>> {
        let mut out = Vec::new();
        for ns in self.sp.created() {
            let mut names = self.sp.name(ns).to_string();
            if let Some(h) = self.nodes.nodes.get(&ns).and_then(|n| n.hostname.as_ref())
                && *h != names
            {
                names = format!("{names} {h}");
            }
            let addrs = match self.nodes.addrs.get(&ns) {
                Some(a) => a.clone(),
                None => {
                    let a: Vec<IpAddr> = self
                        .addrs(ns)?
                        .into_iter()
                        .map(|a| a.addr.addr())
                        .filter(|a| listed(*a))
                        .collect();
                    self.nodes.addrs.insert(ns, a.clone());
                    a
                }
            };
            out.push((ns, names, addrs));
        }
        Ok(out)
    }

    /// `host_entries` without the namespace numbers: what another machine
    /// lists of this one's namespaces.
    pub fn own_host_entries(&mut self) -> Result<Vec<(String, Vec<IpAddr>)>> {
        Ok(self
            .host_entries()?
            .into_iter()
            .map(|(_, n, a)| (n, a))
            .collect())
    }

    /// The lab's namespaces on other machines, as the driver sent them
    /// (an agent): listed in the hosts files from the next program on.
    pub fn set_far_hosts(&mut self, entries: Vec<(String, Vec<IpAddr>)>) {
        self.nodes.others = entries;
    }

    /// Writes `id`'s hosts file if it changed: truncated and rewritten in
    /// place, as running programs have it bound by its inode.
    fn refresh_hosts(&mut self, id: NsId) -> Result<PathBuf> {
        self.node_files()?;
        let dir = self.node_dir(id);
        let path = dir.join("hosts");
        let text = self.hosts_text(id)?;
        let node = self.nodes.nodes.entry(id).or_default();
        if node.hosts.as_deref() == Some(text.as_str()) && path.exists() {
            return Ok(path);
        }
        fs::DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(&dir)
            .map_err(|e| io_err("create", &dir, e))?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| io_err("write", &path, e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| io_err("write", &path, e))?;
        node.hosts = Some(text);
        Ok(path)
    }

    /// What a program started in `id` sees besides the namespace: its own
    /// /sys, and (a lab namespace) the hosts file, private directories and
    /// host name.
    pub(super) fn private_for(&mut self, id: NsId) -> Result<Private> {
        if id == HOST {
            return Ok(Private::sys(false));
        }
        // The hosts file is a convenience: a program runs without it
        // rather than not at all (a full or read-only /run).
        let hosts = self.refresh_hosts(id).ok();
        let node = self.nodes.nodes.get(&id);
        let dirs = node.map(|n| n.dirs.clone()).unwrap_or_default();
        let hostname = node.and_then(|n| n.hostname.clone());
        let mut p = Private::sys(true);
        for d in &dirs {
            if !Path::new(d).is_dir() {
                return Err(LabError::new(
                    format!(
                        "directory {d}, private to namespace '{}', is gone from this machine",
                        self.sp.name(id)
                    ),
                    format!(
                        "something removed it while the lab ran: create it again (`mkdir -p {d}`)"
                    ),
                ));
            }
            p.binds
                .push((cstring(&self.backing(id, d))?, cstring(Path::new(d))?));
        }
        // A private /etc has no hosts file to cover.
        if let Some(hosts) = hosts
            && Path::new("/etc/hosts").is_file()
            && !dirs.iter().any(|d| d == "/etc")
        {
            p.optional_binds
                .push((cstring(&hosts)?, cstring(Path::new("/etc/hosts"))?));
        }
        if let Some(h) = hostname {
            p.hostname = Some(CString::new(h).map_err(|_| {
                LabError::new("a host name cannot hold a NUL byte", "use a plain name")
            })?);
        }
        Ok(p)
    }

    /// Where `path` is, as namespace `id`'s programs see it: the backing
    /// file of a private directory, the lab's hosts file, or the path.
    pub(super) fn node_path(&mut self, id: NsId, path: &str) -> Result<PathBuf> {
        check_file_path(path)?;
        if let Some(p) = self.in_private(id, path) {
            return Ok(p);
        }
        if id != HOST && path == "/etc/hosts" {
            return self.refresh_hosts(id);
        }
        Ok(PathBuf::from(path))
    }

    /// `ns.read(path)`: a file as the namespace's programs see it.
    pub fn node_read(&mut self, id: NsId, path: &str) -> Result<String> {
        if let Some(r) = self.remote_read(id, path) {
            return r;
        }
        let p = self.node_path(id, path)?;
        let bytes = fs::read(&p).map_err(|e| {
            LabError::new(
                format!(
                    "cannot read {path} in namespace '{}': {e}",
                    self.sp.name(id)
                ),
                "check the path; ns.read sees what the namespace's programs see",
            )
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The error for a path outside `id`'s private directories, where
    /// nslab changes nothing (it would outlive the lab).
    fn not_private(&self, id: NsId, path: &str) -> LabError {
        let name = self.sp.name(id).to_string();
        let dirs = self
            .nodes
            .nodes
            .get(&id)
            .map(|n| n.dirs.join(", "))
            .unwrap_or_default();
        let help = if dirs.is_empty() {
            format!(
                "make the namespace with private directories, e.g. netns(\"{name}\", #{{dirs: [\"{}\"]}}), and write there; a file written elsewhere would outlive the lab",
                Path::new(path)
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        } else {
            format!(
                "write inside its private directories ({dirs}); a file written elsewhere would outlive the lab"
            )
        };
        LabError::new(
            format!("{path} is not in a private directory of namespace '{name}'"),
            help,
        )
    }

    /// `ns.chown(path, "user:group")`: `chown -R` inside one of the
    /// namespace's private directories, with no process (symbolic links
    /// are changed themselves, never followed).
    pub fn node_chown(&mut self, id: NsId, path: &str, owner: &str) -> Result<()> {
        check_file_path(path)?;
        self.unplanned("ns.chown")?;
        // The user's names are the placed namespace's machine's.
        if let Some(r) = self.remote_chown(id, path, owner) {
            return r;
        }
        let (uid, gid) = owner_ids(owner)?;
        let Some(p) = self.in_private(id, path) else {
            return Err(self.not_private(id, path));
        };
        chown_tree(&p, uid, gid).map_err(|e| {
            LabError::new(
                format!(
                    "cannot give {path} in namespace '{}' to {owner}: {e}",
                    self.sp.name(id)
                ),
                "check that the path exists (ns.exists(path)) and that the lab's user namespace maps that user (rootless: subordinate ids)",
            )
        })
    }

    /// `ns.exists(path)`: is there a file at `path` for the namespace's
    /// programs (following symbolic links, as `test -e`)?
    pub fn node_exists(&mut self, id: NsId, path: &str) -> Result<bool> {
        if let Some(r) = self.remote_exists(id, path) {
            return r;
        }
        let p = self.node_path(id, path)?;
        Ok(fs::metadata(p).is_ok())
    }

    /// `ns.write(path, text)`: a file in one of the namespace's private
    /// directories (the only place a write leaves nothing behind: they go
    /// at teardown).
    pub fn node_write(&mut self, id: NsId, path: &str, text: &str) -> Result<()> {
        check_file_path(path)?;
        if let Some(r) = self.remote_write(id, path, text) {
            return r;
        }
        let Some(p) = self.in_private(id, path) else {
            return Err(self.not_private(id, path));
        };
        if let Some(parent) = p.parent() {
            fs::DirBuilder::new()
                .mode(0o755)
                .recursive(true)
                .create(parent)
                .map_err(|e| io_err("create", parent, e))?;
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p)
            .map_err(|e| io_err("write", Path::new(path), e))?;
        f.write_all(text.as_bytes())
            .map_err(|e| io_err("write", Path::new(path), e))?;
        if let Some((dir, rest)) = self.private_part(id, path) {
            self.tell(Event::NodeWritten {
                ns: id,
                dir: &dir,
                rest,
                text,
            });
        }
        Ok(())
    }

    /// (host name, private directories) of namespace `id`, for show().
    pub fn node_spec(&self, id: NsId) -> Option<NodeSpec> {
        let n = self.nodes.nodes.get(&id)?;
        (!n.dirs.is_empty() || n.hostname.is_some()).then(|| NodeSpec {
            dirs: n.dirs.clone(),
            hostname: n.hostname.clone(),
        })
    }
}

/// "user", "user:group", "uid:gid": the ids, by the machine's names.
fn owner_ids(owner: &str) -> Result<(u32, Option<u32>)> {
    use nix::unistd::{Group, User};
    let bad = |what: &str, name: &str| {
        LabError::new(
            format!(
                "no {what} '{}' on this machine",
                crate::text::clip(name, 40)
            ),
            "name a user (and group) /etc/passwd and /etc/group have, as chown takes them: \"frr:frr\", \"frr\" or \"100:101\"",
        )
    };
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(|| bad("user", user))?
            .uid
            .as_raw(),
    };
    let gid = match group {
        None => None,
        Some(g) => Some(match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| bad("group", g))?
                .gid
                .as_raw(),
        }),
    };
    Ok((uid, gid))
}

/// `chown -R`, without following symbolic links.
fn chown_tree(p: &Path, uid: u32, gid: Option<u32>) -> std::io::Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), gid)?;
    let meta = fs::symlink_metadata(p)?;
    if meta.is_dir() {
        for entry in fs::read_dir(p)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// A path ns.read / ns.write take: absolute and plain.
fn check_file_path(path: &str) -> Result<()> {
    names::check_node_dir(path).map_err(|_| {
        LabError::new(
            format!("'{path}' is not a plain absolute path"),
            "give the file's absolute path, e.g. \"/etc/frr/frr.conf\"",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_directory_gets_a_file_name_of_its_own() {
        assert_eq!(escape("/etc/frr"), "etc%2Ffrr");
        assert_ne!(escape("/etc_frr"), escape("/etc/frr"));
        assert_ne!(escape("/a%2Fb"), escape("/a/b"));
    }

    #[test]
    fn the_machine_s_localhost_lines_are_kept_and_nothing_else() {
        let text = "127.0.0.1\tlocalhost\n# c\n10.1.2.3 build-box\n::1 localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n";
        assert_eq!(
            localhost_lines(text),
            "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n"
        );
        assert!(localhost_lines("").contains("127.0.0.1\tlocalhost"));
    }

    #[test]
    fn bad_specs_are_refused() {
        let spec = |dirs: &[&str], h: Option<&str>| NodeSpec {
            dirs: dirs.iter().map(|s| s.to_string()).collect(),
            hostname: h.map(str::to_string),
        };
        assert!(
            spec(&["/etc/frr", "/var/run/frr"], Some("r1"))
                .check()
                .is_ok()
        );
        for (dirs, h) in [
            (&["etc/frr"][..], None),
            (&["/"][..], None),
            (&["/etc/frr/"][..], None),
            (&["/etc/../frr"][..], None),
            (&["/etc/frr", "/etc/frr"][..], None),
            (&["/etc", "/etc/frr"][..], None),
            (&[][..], Some("")),
            (&[][..], Some("-r1")),
            (&[][..], Some("r 1")),
        ] {
            assert!(spec(dirs, h).check().is_err(), "{dirs:?} {h:?}");
        }
        let long = "a".repeat(65);
        assert!(spec(&[], Some(&long)).check().is_err());
        assert!(spec(&[], Some(&"a".repeat(64))).check().is_ok());
    }
}
