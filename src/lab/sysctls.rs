//! Sysctls: `sysctl KEY` and `sysctl -w KEY=VALUE`, per namespace.

use super::events::Event;
use super::ledger::Undo;
use super::{HOST, Lab, LabError, NsId, Result, names, shared};
use crate::lab::steps::host::ReleaseSysctl;
use crate::net::sysctl;

impl Lab {
    /// `sysctl KEY` in `ns`.
    pub fn read_sysctl(&mut self, id: NsId, key: &str) -> Result<String> {
        names::check_sysctl_key(key)?;
        let k = self.kernel_key(id, key).into_owned();
        self.sp
            .run_in(id, move || sysctl::read(&k))
            .map_err(|e| match e.raw_errno() {
                Some(libc::ENOENT) => LabError::new(
                    format!("there is no sysctl '{key}' in {}", self.where_(id)),
                    "check the key (e.g. net.ipv4.ip_forward); keys of an interface need that interface to exist there",
                ),
                _ => LabError::kernel("read a sysctl", key, e),
            })
    }

    /// `sysctl -w KEY=VALUE` in `ns`; returns the old value (restored at teardown).
    ///
    /// In the lab's own namespaces the change goes with the namespace. A
    /// host sysctl is one value for every lab on the machine: the lab holds
    /// it with the others (`shared`), and the value from before comes back
    /// when the last of them ends.
    pub fn sysctl(&mut self, id: NsId, key: &str, value: &str) -> Result<String> {
        if let Some(r) = self.remote_sysctl(id, key, value) {
            return r;
        }
        names::check_sysctl_value(key, value)?;
        let old = self.read_sysctl(id, key)?;
        // An IPv6 router waits for its links' DAD before IPv6 probes (`settle_v6`).
        if key.replace('/', ".") == "net.ipv6.conf.all.forwarding" {
            self.settle.v6_forwarding(id, value.trim() != "0");
        }
        let name = self.sp.name(id).to_string();
        // A key of a link the lab made in the host names it as the kernel does.
        let kkey = self.kernel_key(id, key).into_owned();
        let refused = |e: crate::net::NetError| match e.raw_errno() {
            Some(libc::EINVAL) => LabError::new(
                format!("the kernel refused {key}={value} in namespace '{name}'"),
                "check the value: most net.* switches take 0 or 1",
            ),
            _ => LabError::kernel("write a sysctl", &format!("{key} in '{name}'"), e),
        };
        if self.sp.is_created(id) {
            if old != value {
                let (k, v) = (kkey.clone(), value.to_string());
                self.sp
                    .run_in(id, move || sysctl::write(&k, &v))
                    .map_err(refused)?;
            }
            self.tell(Event::SysctlSet {
                ns: id,
                key: &kkey,
                value,
                old: &old,
            });
            return Ok(old);
        }
        // Only the host is not the lab's own; its sysctls are this thread's.
        debug_assert_eq!(id, HOST);
        let who = shared::holder(self.id.header());
        let undo = Undo::ReleaseSysctl(ReleaseSysctl { key: kkey.clone() });
        let held = self.recorded(None, undo, |_| {
            shared::hold(&who, &kkey, value).map_err(refused)
        })?;
        self.tell(Event::SysctlSet {
            ns: id,
            key: &kkey,
            value,
            old: &old,
        });
        Ok(held)
    }

    /// `sysctl -w net.ipv4.ip_forward=1` and IPv6 forwarding, in `ns`.
    pub fn forwarding(&mut self, id: NsId, on: bool) -> Result<()> {
        if let Some(r) = self.remote_forwarding(id, on) {
            return r;
        }
        let v = if on { "1" } else { "0" };
        self.sysctl(id, "net.ipv4.ip_forward", v)?;
        self.sysctl(id, "net.ipv6.conf.all.forwarding", v)?;
        Ok(())
    }
}
