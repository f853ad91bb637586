//! ns.wait_route(…): waiting until a route is in a namespace's table (as a
//! routing daemon installs it), and saying what the table has when it
//! does not come.

use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::events::Event;
use super::routes::view_of;
use super::{Lab, LabError, NsId, Result, RouteView};

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
