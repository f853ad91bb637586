//! a.throughput(b): iperf3's measurement between two of the lab's
//! namespaces, with nslab's own sockets (src/net/throughput.rs).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::events::Event;
use super::{Lab, LabError, NsId, Result};
use crate::explain::{self, Packet};
use crate::net::probe::{self, Proto, Reach};
use crate::net::throughput::{self as tp, Measured, Outcome};

/// How to measure.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ThroughputOpts {
    pub proto: Proto,
    pub port: u16,
    pub secs: Duration,
    /// UDP: send at this many bits/s; None: as fast as the kernel takes it.
    pub rate: Option<u64>,
    /// The receiver's address to send to; None: its first one.
    pub ip: Option<IpAddr>,
}

/// What a measurement found.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Throughput {
    pub dst: IpAddr,
    pub port: u16,
    pub proto: Proto,
    pub measured: Measured,
}

impl Lab {
    /// Sends from `a` to `b` for `o.secs` (a TCP stream, or UDP datagrams)
    /// and counts what `b` received. An error, explained along the path,
    /// when nothing got through.
    pub fn throughput(&mut self, a: NsId, b: NsId, o: &ThroughputOpts) -> Result<Throughput> {
        if let Some(r) = self.remote_throughput(a, b, o) {
            return r;
        }
        let dst = match o.ip {
            Some(ip) => {
                self.check_own_addr(b, ip, "ip")?;
                ip
            }
            None => self.first_addr(b)?.ok_or_else(|| {
                LabError::new(
                    format!(
                        "namespace '{}' has no address to be reached at",
                        self.sp.name(b)
                    ),
                    "give it one first, e.g. b.addr(\"eth0\", \"10.0.0.2/24\"), or name it: #{ip: \"10.0.0.2\"}",
                )
            })?,
        };
        let v6 = dst.is_ipv6();
        self.settle_for(v6);
        let (proto, port) = (o.proto, o.port);
        let bname = self.sp.name(b).to_string();
        let rx = self
            .sp
            .run_in(b, move || tp::receiver(proto, port))
            .map_err(|e| match e.raw_errno() {
                Some(libc::EADDRINUSE) => LabError::new(
                    format!(
                        "port {port}/{} is already in use in namespace '{bname}'",
                        proto.name()
                    ),
                    "measure on another port: #{port: 5202}",
                ),
                _ => LabError::kernel("open the receiver", &format!("port {port} in '{bname}'"), e),
            })?;
        let held = rx.hold();
        let sender = self
            .sp
            .run_in(a, move || probe::client_socket(proto, v6))
            .map_err(|e| LabError::kernel("open a socket", &self.where_(a), e))?;
        let outcome = tp::run(
            sender,
            rx,
            SocketAddr::new(dst, port),
            o.secs,
            o.rate,
            self.id.cancel(),
        )
        .map_err(|e| LabError::kernel("measure throughput", &self.where_(a), e))?;
        self.check_cancel()?;
        match outcome {
            Outcome::Done(measured) => {
                self.tell(Event::Measured {
                    a,
                    b,
                    dst,
                    proto,
                    port,
                    secs: o.secs,
                    rate: o.rate,
                    bits: measured.bits_per_s().round() as u64,
                });
                Ok(Throughput {
                    dst,
                    port,
                    proto,
                    measured,
                })
            }
            Outcome::Unreached(r) => {
                let pkt = Packet {
                    dst,
                    src: None,
                    proto: Some(proto),
                    port: Some(port),
                    size: None,
                };
                // The receiver still listens while the path is read.
                let t = self.trace(a, &pkt)?;
                drop(held);
                let f = explain::unreached(self.sp.name(a), &pkt, &t, r == Reach::Refused);
                Err(LabError::new(
                    format!("cannot measure throughput: {}", f.message),
                    f.help,
                ))
            }
        }
    }

    /// An error unless `ip` is one of `id`'s addresses: `what` (src, ip)
    /// names the option that gave it.
    pub fn check_own_addr(&mut self, id: NsId, ip: IpAddr, what: &str) -> Result<()> {
        let addrs = self.addrs(id)?;
        if addrs.iter().any(|a| a.addr.addr() == ip) {
            return Ok(());
        }
        let name = self.sp.name(id).to_string();
        let has: Vec<String> = addrs
            .iter()
            .filter(|a| !a.addr.addr().is_loopback() && a.addr.addr().is_ipv4() == ip.is_ipv4())
            .map(|a| format!("{} ({})", a.addr.addr(), a.dev))
            .collect();
        let help = if has.is_empty() {
            format!(
                "'{name}' has no address yet: give it one first, e.g. {name}.addr(\"lo\", \"{ip}/32\")"
            )
        } else {
            format!(
                "its addresses are {}: use one of them, or add {ip} first, e.g. {name}.addr(\"lo\", \"{ip}/32\")",
                has.join(", ")
            )
        };
        Err(LabError::new(
            format!("{what} {ip} is not an address of namespace '{name}'"),
            help,
        ))
    }
}
