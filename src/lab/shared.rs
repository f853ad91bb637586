//! Host-wide settings shared by labs that run at the same time.
//!
//! A sysctl of the host namespace (`host().forwarding(true)`) is one value
//! for every lab on the machine. Were each lab to restore what it found, the
//! first to end would switch forwarding off under the others. So the labs
//! hold such keys together, in /run/nslab/hostwide.state (changed under an
//! exclusive `flock` on /run/nslab itself, so no lock file is left behind:
//! removing one safely is impossible): the first lab to set a key records
//! the value from before it; each lab that sets it joins its holders; the
//! value from before comes back when the last holder lets go (its teardown,
//! or `nslab down` after a crash), and only if the key still has the value
//! nslab wrote: a change made by someone else since is left as it is.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::journal::{Header, JOURNAL_DIR, ensure_dir};
use super::names;
use crate::net::{NetError, Result, sysctl};

const STATE: &str = "hostwide.state";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    keys: BTreeMap<String, Held>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Held {
    /// The value before the first holder changed it.
    original: String,
    /// The value nslab wrote last.
    set: String,
    /// Labs holding it, as `holder()` names them.
    holders: Vec<String>,
}

/// How a lab is named among holders: its name and the id of this run.
pub fn holder(h: &Header) -> String {
    format!("{}/{}", h.lab, h.id)
}

fn other(msg: String) -> NetError {
    NetError::Other(msg)
}

/// The registry, locked until the guard is dropped.
struct Locked {
    _lock: File,
    state: State,
}

fn lock() -> Result<Locked> {
    ensure_dir().map_err(|e| other(e.message))?;
    let dir = Path::new(JOURNAL_DIR);
    let lock = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| NetError::os("open /run/nslab", e))?;
    lock.lock()
        .map_err(|e| NetError::os("lock /run/nslab", e))?;
    // Left by a save() that was killed before its rename.
    match fs::remove_file(dir.join(format!("{STATE}.new"))) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(NetError::os("remove /run/nslab/hostwide.state.new", e));
        }
        _ => {}
    }
    let path = dir.join(STATE);
    let state = match OpenOptions::new()
        .read(true)
        // Not a FIFO's open that waits for a writer, nor a link followed.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(f) => {
            let meta = f
                .metadata()
                .map_err(|e| NetError::os("read /run/nslab/hostwide.state", e))?;
            if !meta.is_file() {
                return Err(untrusted("it is not a regular file"));
            }
            if meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0 {
                return Err(untrusted("its owner or mode is not the one nslab gives it"));
            }
            let state: State = serde_json::from_reader(f)
                .map_err(|e| untrusted(&format!("it cannot be read: {e}")))?;
            state.check().map_err(|why| untrusted(&why))?;
            state
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(untrusted("it is a symbolic link"));
        }
        Err(e) => return Err(NetError::os("open /run/nslab/hostwide.state", e)),
    };
    Ok(Locked { _lock: lock, state })
}

/// The registry file is not as nslab writes it: `why`, and what to do.
fn untrusted(why: &str) -> NetError {
    let path = Path::new(JOURNAL_DIR).join(STATE);
    NetError::Untrusted {
        message: format!(
            "refusing {}: {why}; nslab keeps there only the host's net.* sysctls labs hold",
            path.display()
        ),
        help: format!(
            "it was not written by nslab, or was changed since: inspect it and remove it by hand (rm {}); the labs holding host settings then leave them as they are when they end (check them with `sysctl net.ipv4.ip_forward` and the like)",
            path.display()
        ),
    }
}

impl State {
    /// Checks the registry with the rules nslab applies when it writes it
    /// (a file read by root, which then writes the sysctls it names): keys
    /// under net., values as `ns.sysctl` takes them (one line), holders
    /// named as `holder()` names labs. Returns why not.
    fn check(&self) -> std::result::Result<(), String> {
        for (key, held) in &self.keys {
            names::check_sysctl_key(key).map_err(|e| e.message)?;
            for v in [&held.original, &held.set] {
                names::check_sysctl_value(key, v).map_err(|e| e.message)?;
            }
            if held.holders.is_empty() {
                return Err(format!("{key} is held by no lab"));
            }
            for (i, h) in held.holders.iter().enumerate() {
                if !is_holder(h) || held.holders[..i].contains(h) {
                    return Err(format!("'{}' is not a lab holding {key}", h.escape_debug()));
                }
            }
        }
        Ok(())
    }
}

/// `LAB/ID` as `holder()` writes it: a lab name, and the run's id (16 hex
/// digits; none in a journal older than ids).
fn is_holder(h: &str) -> bool {
    h.split_once('/').is_some_and(|(lab, id)| {
        names::check_labname(lab).is_ok()
            && (id.is_empty() || (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())))
    })
}

impl Locked {
    /// Writes the registry whole (a new file renamed over the old one), or
    /// removes it once nothing is held.
    fn save(&self) -> Result<()> {
        let dir = Path::new(JOURNAL_DIR);
        let path = dir.join(STATE);
        if self.state.keys.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(NetError::os("remove /run/nslab/hostwide.state", e))
                }
                _ => Ok(()),
            };
        }
        // One name for every writer (they hold the lock): a save killed
        // before its rename leaves at most this file, which the next lock()
        // removes.
        let tmp = dir.join(format!("{STATE}.new"));
        let text = serde_json::to_string_pretty(&self.state)
            .map_err(|e| other(format!("encode the host settings: {e}")))?;
        fs::write(&tmp, text).map_err(|e| NetError::os("write /run/nslab/hostwide.state", e))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644))
            .map_err(|e| NetError::os("write /run/nslab/hostwide.state", e))?;
        fs::rename(&tmp, &path).map_err(|e| NetError::os("write /run/nslab/hostwide.state", e))
    }
}

/// `sysctl -w KEY=VALUE` on the host, held by `who`; returns the value the
/// key had just before.
pub fn hold(who: &str, key: &str, value: &str) -> Result<String> {
    let mut reg = lock()?;
    let now = sysctl::read(key)?;
    let had = reg.state.keys.get(key).cloned();
    let held = reg.state.keys.entry(key.to_string()).or_insert(Held {
        original: now.clone(),
        set: value.to_string(),
        holders: Vec::new(),
    });
    held.set = value.to_string();
    if !held.holders.iter().any(|h| h == who) {
        held.holders.push(who.to_string());
    }
    // Saved before the write: a lab killed between the two leaves a record
    // that `down` can act on (the value from before, to put back), never a
    // changed key nobody knows about.
    reg.save()?;
    if now != value
        && let Err(e) = sysctl::write(key, value)
    {
        match had {
            Some(h) => reg.state.keys.insert(key.to_string(), h),
            None => reg.state.keys.remove(key),
        };
        reg.save()?;
        return Err(e);
    }
    Ok(now)
}

/// `who` lets go of KEY. The last holder puts the value from before back,
/// if the key still has the value nslab wrote; otherwise it says why not.
pub fn release(who: &str, key: &str) -> Result<Option<String>> {
    let mut reg = lock()?;
    let Some(held) = reg.state.keys.get_mut(key) else {
        return Ok(None);
    };
    let before = held.holders.len();
    held.holders.retain(|h| h != who);
    if held.holders.len() == before || !held.holders.is_empty() {
        if held.holders.len() != before {
            reg.save()?;
        }
        return Ok(None);
    }
    let (original, set) = (held.original.clone(), held.set.clone());
    reg.state.keys.remove(key);
    let now = match sysctl::read(key) {
        Ok(v) => Some(v),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let note = match now {
        // Killed between the record and the write, or nothing to change.
        Some(v) if v == original => None,
        Some(v) if v == set => {
            if v != original {
                sysctl::write(key, &original)?;
            }
            None
        }
        Some(v) => Some(format!(
            "{key} on the host is {v} now, not the {set} nslab set: someone changed it since, so it was left as it is (it was {original} before)"
        )),
        None => None,
    };
    reg.save()?;
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> std::result::Result<(), String> {
        serde_json::from_str::<State>(text)
            .map_err(|e| e.to_string())?
            .check()
    }

    #[test]
    fn the_registry_nslab_writes_reads_back() {
        let ok = r#"{"keys":{"net.ipv4.ip_forward":{"original":"0","set":"1","holders":["A/00112233aabbccdd","B/"]},
            "net.ipv4.ip_local_port_range":{"original":"32768\t60999","set":"1000 2000","holders":["c.d-1/0123456789abcdef"]}}}"#;
        assert_eq!(parsed(ok), Ok(()));
        assert_eq!(parsed(r#"{"keys":{}}"#), Ok(()));
    }

    #[test]
    fn anything_else_in_the_registry_is_refused() {
        let held = |key: &str, original: &str, holders: &str| {
            format!(
                r#"{{"keys":{{"{key}":{{"original":"{original}","set":"1","holders":[{holders}]}}}}}}"#
            )
        };
        let lab = r#""A/00112233aabbccdd""#;
        for (text, why) in [
            (held("kernel.hostname", "x", lab), "not a network sysctl"),
            (held("net.ipv4.ip_forward", "1\\n2", lab), "a sysctl takes one line"),
            (held("net.ipv4.ip_forward", "0", ""), "held by no lab"),
            (held("net.ipv4.ip_forward", "0", r#""../x/1""#), "is not a lab holding"),
            (held("net.ipv4.ip_forward", "0", r#""A/zz""#), "is not a lab holding"),
            (held("net.ipv4.ip_forward", "0", &format!("{lab},{lab}")), "is not a lab holding"),
            (r#"{"keys":{},"run":"rm -rf /"}"#.to_string(), "unknown field"),
            (
                r#"{"keys":{"net.ipv4.ip_forward":{"original":"0","set":"1","holders":["A/"],"cmd":"x"}}}"#.to_string(),
                "unknown field",
            ),
        ] {
            let e = parsed(&text).expect_err(&text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
