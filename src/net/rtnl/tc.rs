//! Queueing disciplines over rtnetlink (`tc qdisc add/del/show`): a token
//! bucket (`tbf`) for a rate, `netem` for delay, jitter and loss.
//!
//! netlink-packet-route parses neither kind's options, so they are built
//! here as the kernel's structs (include/uapi/linux/pkt_sched.h).

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
use rtnetlink::packet_core::{DefaultNla, NLM_F_CREATE, NLM_F_EXCL};

use super::{Rtnl, nl, wire};
use crate::net::Result;

/// A token bucket: `tc qdisc add … tbf rate R burst B latency L`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tbf {
    /// Bytes per second.
    pub rate: u64,
    /// The bucket, in bytes.
    pub burst: u32,
    /// The queue, in bytes (tc computes it from the latency the same way).
    pub limit: u32,
}

/// `tc qdisc add … netem delay D [J] loss P%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Netem {
    pub delay_ns: u64,
    pub jitter_ns: u64,
    /// 0.0..=100.0
    pub loss_pct: f64,
}

/// A link's root qdisc as `tc qdisc show dev DEV` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootQdisc {
    pub kind: String,
    /// The handle's major number; 0 for the qdisc the kernel attached by
    /// itself (pfifo_fast, fq_codel, noqueue, mq…), which `tc qdisc del`
    /// brings back.
    pub major: u16,
}

const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
const TC_LINKLAYER_ETHERNET: u8 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_NETEM_LATENCY64: u16 = 10;
const TCA_NETEM_JITTER64: u16 = 11;
/// The queue netem keeps, in packets (tc's default).
const NETEM_LIMIT: u32 = 1000;
/// Kernel time units of the old (u32) fields: 64 ns (PSCHED_SHIFT 6).
const PSCHED_SHIFT: u32 = 6;

fn ticks(ns: u64) -> u32 {
    u32::try_from(ns >> PSCHED_SHIFT).unwrap_or(u32::MAX)
}

/// struct tc_ratespec for `bytes_ps`, with the link layer given, so the
/// kernel needs no rate table (it computes the cost of each packet itself).
fn ratespec(bytes_ps: u64) -> [u8; 12] {
    let mut r = [0u8; 12];
    r[1] = TC_LINKLAYER_ETHERNET;
    // Past 4 GB/s the field saturates and TCA_TBF_RATE64 carries the rate.
    let rate = u32::try_from(bytes_ps).unwrap_or(u32::MAX);
    r[8..12].copy_from_slice(&rate.to_ne_bytes());
    r
}

/// struct tc_tbf_qopt { rate, peakrate, limit, buffer, mtu }.
fn tbf_qopt(t: &Tbf) -> Vec<u8> {
    let mut v = Vec::with_capacity(36);
    v.extend_from_slice(&ratespec(t.rate));
    v.extend_from_slice(&[0u8; 12]);
    v.extend_from_slice(&t.limit.to_ne_bytes());
    // The bucket as a time at the rate; TCA_TBF_BURST gives it in bytes
    // too, from which the kernel computes it again.
    let buffer_ns = u64::from(t.burst).saturating_mul(1_000_000_000) / t.rate.max(1);
    v.extend_from_slice(&ticks(buffer_ns).to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v
}

/// struct tc_netem_qopt { latency, limit, loss, gap, duplicate, jitter },
/// then the 64-bit delays as attributes (the kernel prefers them).
fn netem_options(n: &Netem) -> Vec<u8> {
    let loss = (n.loss_pct / 100.0 * f64::from(u32::MAX)).round() as u32;
    let mut v = Vec::with_capacity(48);
    for x in [
        ticks(n.delay_ns),
        NETEM_LIMIT,
        loss,
        0,
        0,
        ticks(n.jitter_ns),
    ] {
        v.extend_from_slice(&x.to_ne_bytes());
    }
    for (kind, ns) in [
        (TCA_NETEM_LATENCY64, n.delay_ns),
        (TCA_NETEM_JITTER64, n.jitter_ns),
    ] {
        v.extend_from_slice(&12u16.to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(&(i64::try_from(ns).unwrap_or(i64::MAX)).to_ne_bytes());
    }
    v
}

fn qdisc_msg(index: u32, parent: TcHandle, major: u16, kind: &str) -> TcMessage {
    let mut m = TcMessage::with_index(i32::try_from(index).unwrap_or(i32::MAX));
    m.header.parent = parent;
    m.header.handle = TcHandle { major, minor: 0 };
    m.attributes.push(TcAttribute::Kind(kind.to_string()));
    m
}

impl Rtnl {
    /// `tc qdisc add dev DEV parent P handle M: tbf rate R burst B limit L`.
    pub async fn add_tbf(&self, index: u32, parent: TcHandle, major: u16, t: &Tbf) -> Result<()> {
        let mut m = qdisc_msg(index, parent, major, "tbf");
        let mut opts = vec![TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, tbf_qopt(t)))];
        if t.rate > u64::from(u32::MAX) {
            opts.push(TcOption::Other(DefaultNla::new(
                TCA_TBF_RATE64,
                t.rate.to_ne_bytes().to_vec(),
            )));
        }
        opts.push(TcOption::Other(DefaultNla::new(
            TCA_TBF_BURST,
            t.burst.to_ne_bytes().to_vec(),
        )));
        m.attributes.push(TcAttribute::Options(opts));
        wire::ack(
            &self.conn,
            RouteNetlinkMessage::NewQueueDiscipline(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
        .map_err(nl("add tbf qdisc"))
    }

    /// `tc qdisc add dev DEV parent P handle M: netem delay D J loss P%`.
    pub async fn add_netem(
        &self,
        index: u32,
        parent: TcHandle,
        major: u16,
        n: &Netem,
    ) -> Result<()> {
        let mut m = qdisc_msg(index, parent, major, "netem");
        // Not nested attributes: the struct, then attributes after it.
        m.attributes.push(TcAttribute::Other(DefaultNla::new(
            TCA_OPTIONS,
            netem_options(n),
        )));
        wire::ack(
            &self.conn,
            RouteNetlinkMessage::NewQueueDiscipline(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
        .map_err(nl("add netem qdisc"))
    }

    /// `tc qdisc del dev DEV root`: the kernel puts its default back.
    pub async fn del_root_qdisc(&self, index: u32) -> Result<()> {
        let mut m = TcMessage::with_index(i32::try_from(index).unwrap_or(i32::MAX));
        m.header.parent = TcHandle::ROOT;
        wire::ack(&self.conn, RouteNetlinkMessage::DelQueueDiscipline(m), 0)
            .await
            .map_err(nl("delete root qdisc"))
    }

    /// The root qdisc of link `index` (`tc qdisc show dev DEV root`).
    pub async fn root_qdisc(&self, index: u32) -> Result<Option<RootQdisc>> {
        let got = wire::dump(
            &self.conn,
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
        )
        .await
        .map_err(nl("list qdiscs"))?;
        Ok(got.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewQueueDiscipline(q)
                if i64::from(q.header.index) == i64::from(index)
                    && q.header.parent == TcHandle::ROOT =>
            {
                let kind = q.attributes.iter().find_map(|a| match a {
                    TcAttribute::Kind(k) => Some(k.clone()),
                    _ => None,
                })?;
                Some(RootQdisc {
                    kind,
                    major: q.header.handle.major,
                })
            }
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tbf_parameters_are_the_kernel_s_struct() {
        let q = tbf_qopt(&Tbf {
            rate: 1_000_000,
            burst: 32768,
            limit: 82768,
        });
        assert_eq!(q.len(), 36);
        assert_eq!(q[1], TC_LINKLAYER_ETHERNET);
        assert_eq!(u32::from_ne_bytes(q[8..12].try_into().unwrap()), 1_000_000);
        assert_eq!(u32::from_ne_bytes(q[24..28].try_into().unwrap()), 82768);
        // 32768 bytes at 1 MB/s: 32.768 ms, in 64 ns ticks.
        assert_eq!(u32::from_ne_bytes(q[28..32].try_into().unwrap()), 512_000);
    }

    #[test]
    fn netem_options_are_the_struct_then_64_bit_delays() {
        let v = netem_options(&Netem {
            delay_ns: 100_000_000,
            jitter_ns: 0,
            loss_pct: 50.0,
        });
        assert_eq!(v.len(), 24 + 2 * 12);
        assert_eq!(u32::from_ne_bytes(v[4..8].try_into().unwrap()), 1000);
        assert_eq!(
            u32::from_ne_bytes(v[8..12].try_into().unwrap()),
            u32::MAX / 2 + 1
        );
        assert_eq!(u16::from_ne_bytes([v[26], v[27]]), TCA_NETEM_LATENCY64);
        assert_eq!(
            i64::from_ne_bytes(v[28..36].try_into().unwrap()),
            100_000_000
        );
    }
}
