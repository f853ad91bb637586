//! ns.wait_route(…): waiting until a route is in a namespace's table (as a
//! routing daemon installs it), and saying what the table has when it
//! does not come.

use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::events::Event;
use super::routes::view_of;
use super::{Lab, LabError, NsId, ProcId, Result, RouteView};

/// The rtnetlink protocol numbers of /etc/iproute2/rt_protos, by name.
pub const ROUTE_PROTOCOLS: &[(&str, u8)] = &[
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("ra", 9),
    ("zebra", 11),
    ("bird", 12),
    ("dhcp", 16),
    ("babel", 42),
    ("bgp", 186),
    ("isis", 187),
    ("ospf", 188),
    ("rip", 189),
    ("eigrp", 192),
];

/// A protocol's name, or its number when it has none here.
pub(super) fn proto_word(p: u8) -> String {
    ROUTE_PROTOCOLS
        .iter()
        .find(|(_, n)| *n == p)
        .map_or_else(|| p.to_string(), |(w, _)| (*w).to_string())
}

/// "10.255.0.0/16 via 10.0.12.2 dev eth0 proto ospf (table 100)", as
/// `ip route` would write it.
fn route_text(r: &RouteView, proto: u8) -> String {
    let mut s = r.dst.to_string();
    if let Some(v) = r.via {
        s.push_str(&format!(" via {v}"));
    }
    if let Some(d) = &r.dev {
        s.push_str(&format!(" dev {d}"));
    }
    s.push_str(&format!(" proto {}", proto_word(proto)));
    if r.table != 254 {
        s.push_str(&format!(" (table {})", r.table));
    }
    s
}

impl Lab {
    /// Waits until `dst` is a route in `id`'s tables (from `protocol`, when
    /// given), looking every 50 ms; past `timeout` an error that says what
    /// the tables have for it instead.
    pub fn wait_route(
        &mut self,
        id: NsId,
        dst: IpNet,
        protocol: Option<u8>,
        timeout: Duration,
    ) -> Result<()> {
        if let Some(r) = self.remote_wait_route(id, dst, protocol, timeout) {
            return r;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let rows = self.route_rows(id)?;
            if rows
                .iter()
                .any(|r| r.dst == dst && protocol.is_none_or(|p| r.protocol_id == p))
            {
                self.tell(Event::RouteWaited {
                    ns: id,
                    dst,
                    protocol,
                    timeout,
                });
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                let links = self.links_raw(id)?;
                let name = self.sp.name(id).to_string();
                let from = protocol
                    .map(|p| format!(" from {}", proto_word(p)))
                    .unwrap_or_default();
                let head = format!(
                    "no route {dst}{from} in namespace '{name}' after {} ms",
                    timeout.as_millis()
                );
                let same: Vec<String> = rows
                    .iter()
                    .filter(|r| r.dst == dst)
                    .map(|r| route_text(&view_of(r, &links), r.protocol_id))
                    .collect();
                // The most specific route that holds it: where its packets
                // go meanwhile.
                let covering = rows
                    .iter()
                    .filter(|r| r.dst != dst && r.dst.contains(&dst))
                    .max_by_key(|r| r.dst.prefix_len());
                let has = if !same.is_empty() {
                    format!(": it has {}", same.join("; "))
                } else if let Some(r) = covering {
                    format!(
                        ": the nearest route that covers it is {}",
                        route_text(&view_of(r, &links), r.protocol_id)
                    )
                } else {
                    ": no route covers it".to_string()
                };
                return Err(LabError::new(
                    format!("{head}{has}"),
                    format!(
                        "check that what installs it runs in '{name}' and learned it ({name}.routes() lists the table), or give it longer with #{{timeout_ms: 60000}}"
                    ),
                ));
            }
            self.pause((deadline - now).min(Duration::from_millis(50)))?;
        }
    }
}

/// The last `n` lines a process printed (stderr, then stdout), on one line.
fn last_words(err: &str, out: &str, n: usize) -> String {
    let lines: Vec<&str> = err
        .lines()
        .chain(out.lines())
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "it printed nothing".into();
    }
    let shown = lines[lines.len().saturating_sub(n)..].join(" / ");
    format!("it printed last: {}", crate::text::clip(&shown, 600))
}

/// Why connect(2) failed, in words about the socket file.
fn socket_state(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "there is no such file".into(),
        Some(libc::ECONNREFUSED) => "the socket is there but nothing listens on it".into(),
        Some(libc::ENOTSOCK) => "the file there is not a socket".into(),
        _ => format!("connecting to it fails: {e}"),
    }
}

impl Lab {
    /// Waits until a program listens on the unix socket `path` as `id`'s
    /// programs see it (through its private directories' backing files),
    /// connecting natively every 5 ms: no process per look. When `process`
    /// (a spawned process) ends meanwhile, an error with its last words.
    pub fn wait_socket(
        &mut self,
        id: NsId,
        path: &str,
        timeout: Duration,
        process: Option<ProcId>,
    ) -> Result<()> {
        // A plan replays commands, not the wait for a daemon's socket.
        self.unplanned("ns.wait_socket")?;
        if let Some(r) = self.remote_wait_socket(id, path, timeout, process) {
            return r;
        }
        let process = match process {
            Some(ProcId::Placed(i)) => return Err(self.placed_proc_elsewhere(id, i)),
            Some(ProcId::Here(idx)) => Some(idx),
            None => None,
        };
        let real = self.node_path(id, path)?;
        let deadline = Instant::now() + timeout;
        loop {
            let e = match crate::net::unixsock::accepts(&real) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if let Some(idx) = process {
                let ended = self
                    .running
                    .proc_mut(idx)
                    .and_then(|p| p.child.try_wait().ok().flatten());
                if let Some(status) = ended {
                    let (pid, _, out, err) = self.process(idx).unwrap_or_default();
                    let how = match status.code() {
                        Some(c) => format!("with code {c}"),
                        None => "killed by a signal".into(),
                    };
                    return Err(LabError::new(
                        format!(
                            "process #{} (pid {pid}) in {} exited {how} before anything listened on {path}; {}",
                            idx + 1,
                            self.where_(id),
                            last_words(&err, &out, 3)
                        ),
                        "read all it printed (p.stderr, p.stdout): a daemon that exits as it starts names what it refused (a line of its config, a file it cannot create)",
                    ));
                }
            }
            self.check_cancel()?;
            if Instant::now() >= deadline {
                return Err(LabError::new(
                    format!(
                        "nothing listens on {path} in {} after {} ms: {}",
                        self.where_(id),
                        timeout.as_millis(),
                        socket_state(&e)
                    ),
                    "check the path the program opens (its config or options), that it started (p.running, p.stderr), or give it longer with #{timeout_ms: 30000}",
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod socket_tests {
    use super::*;

    #[test]
    fn last_words_are_the_last_lines_of_stderr_then_stdout() {
        assert_eq!(last_words("", "\n", 3), "it printed nothing");
        assert_eq!(
            last_words("a\nb\n\nc\n", "d\n", 3),
            "it printed last: b / c / d"
        );
    }
}
