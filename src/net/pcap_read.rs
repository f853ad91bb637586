//! `tcpdump -n -r FILE`, natively: the packets of a classic pcap file
//! (Ethernet link type, as net/capture.rs writes it) decoded into one
//! summary each. Native because tcpdump cannot run in isolated and rootless
//! mode (see net/capture.rs). The headers are decoded by hand: Ethernet
//! (+ 802.1Q), ARP, IPv4, IPv6 (+ extension headers), ICMP, ICMPv6, TCP and
//! UDP are a few fixed offsets each, which a parsing crate would not shorten.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One packet as tcpdump's line says it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Seconds since the epoch, to the microsecond (`tcpdump -tt`).
    pub time: f64,
    /// The sender: an IP address, or a MAC address for what is not IP.
    pub src: String,
    pub dst: String,
    /// "arp", "icmp", "icmpv6", "tcp", "udp", "ipv4"/"ipv6" (another
    /// protocol over IP) or "ethertype 0x…".
    pub proto: String,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    /// The frame's length on the wire, Ethernet header included.
    pub len: u32,
    /// What tcpdump would say after the addresses, e.g. "echo request id 1 seq 1".
    pub info: String,
}

/// Why a file is not a pcap file nslab reads.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PcapError {
    #[error("it is not a pcap file (no pcap magic number at its start)")]
    NotPcap,
    #[error("its link type is {0}, and only Ethernet (1) is decoded")]
    LinkType(u32),
}

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// The packets of pcap file `data`, at most `max`. A record cut short at
/// the end (the writer is still writing) is left out.
pub fn read(data: &[u8], max: usize) -> Result<Vec<Packet>, PcapError> {
    if data.len() < 24 {
        // A capture that has not written its header yet holds no packets.
        return if data.is_empty() {
            Ok(Vec::new())
        } else {
            Err(PcapError::NotPcap)
        };
    }
    let raw = [data[0], data[1], data[2], data[3]];
    let (le, nanos) = match (u32::from_le_bytes(raw), u32::from_be_bytes(raw)) {
        (MAGIC_US, _) => (true, false),
        (MAGIC_NS, _) => (true, true),
        (_, MAGIC_US) => (false, false),
        (_, MAGIC_NS) => (false, true),
        _ => return Err(PcapError::NotPcap),
    };
    let u32_at = |b: &[u8], at: usize| {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let linktype = u32_at(data, 20) & 0x0fff_ffff;
    if linktype != 1 {
        return Err(PcapError::LinkType(linktype));
    }
    let mut out = Vec::new();
    let mut at = 24;
    while out.len() < max && at + 16 <= data.len() {
        let sec = u32_at(data, at);
        let frac = u32_at(data, at + 4);
        let incl = u32_at(data, at + 8) as usize;
        let orig = u32_at(data, at + 12);
        let Some(frame) = data.get(at + 16..at + 16 + incl) else {
            break;
        };
        let frac = if nanos {
            f64::from(frac / 1000)
        } else {
            f64::from(frac)
        };
        out.push(decode(f64::from(sec) + frac / 1e6, frame, orig));
        at += 16 + incl;
    }
    Ok(out)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn v4(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

fn v6(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let o: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(o))
}

/// One frame, as much as the bytes kept tell.
fn decode(time: f64, f: &[u8], orig: u32) -> Packet {
    let mut p = Packet {
        time,
        src: f.get(6..12).map(mac).unwrap_or_default(),
        dst: f.get(0..6).map(mac).unwrap_or_default(),
        proto: "ethernet".into(),
        sport: None,
        dport: None,
        len: orig,
        info: String::new(),
    };
    let mut off = 12;
    let mut ty = be16(f, off);
    // 802.1Q / 802.1ad tags: the real type follows.
    while matches!(ty, Some(0x8100 | 0x88a8)) {
        off += 4;
        ty = be16(f, off);
    }
    let Some(ty) = ty else {
        p.info = "truncated Ethernet header".into();
        return p;
    };
    let l3 = &f[(off + 2).min(f.len())..];
    match ty {
        0x0806 => arp(&mut p, l3),
        0x0800 => ipv4(&mut p, l3),
        0x86dd => ipv6(&mut p, l3),
        other => {
            p.proto = format!("ethertype 0x{other:04x}");
            p.info = format!("ethertype 0x{other:04x}");
        }
    }
    p
}

fn arp(p: &mut Packet, b: &[u8]) {
    p.proto = "arp".into();
    // Ethernet/IPv4 ARP: sender MAC at 8, sender IP at 14, target IP at 24.
    let (Some(op), Some(spa), Some(tpa), Some(sha)) =
        (be16(b, 6), v4(b, 14), v4(b, 24), b.get(8..14))
    else {
        p.info = "ARP (truncated or not Ethernet/IPv4)".into();
        return;
    };
    p.src = spa.to_string();
    p.dst = tpa.to_string();
    p.info = match op {
        1 => format!("ARP who-has {tpa} tell {spa}"),
        2 => format!("ARP reply {spa} is-at {}", mac(sha)),
        n => format!("ARP op {n}"),
    };
}

fn ipv4(p: &mut Packet, b: &[u8]) {
    p.proto = "ipv4".into();
    let (Some(&vihl), Some(src), Some(dst), Some(&proto)) =
        (b.first(), v4(b, 12), v4(b, 16), b.get(9))
    else {
        p.info = "truncated IPv4 header".into();
        return;
    };
    p.src = src.to_string();
    p.dst = dst.to_string();
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = be16(b, 2).map_or(b.len(), usize::from).min(b.len());
    let frag = be16(b, 6).unwrap_or(0) & 0x1fff;
    if frag != 0 {
        p.info = format!("IPv4 fragment (offset {}) proto {proto}", frag * 8);
        return;
    }
    let l4 = b.get(ihl..total.max(ihl)).unwrap_or(&[]);
    l4_decode(p, proto, l4, false);
}

fn ipv6(p: &mut Packet, b: &[u8]) {
    p.proto = "ipv6".into();
    let (Some(src), Some(dst), Some(&first)) = (v6(b, 8), v6(b, 24), b.get(6)) else {
        p.info = "truncated IPv6 header".into();
        return;
    };
    p.src = src.to_string();
    p.dst = dst.to_string();
    let end = be16(b, 4)
        .map_or(b.len(), |l| 40 + usize::from(l))
        .min(b.len());
    let (mut next, mut off) = (first, 40);
    // Hop-by-hop (MLD carries one), routing, destination options: skipped
    // to what they carry. A fragment header ends the walk.
    loop {
        match next {
            0 | 43 | 60 => {
                let (Some(&n), Some(&l)) = (b.get(off), b.get(off + 1)) else {
                    p.info = "truncated IPv6 extension header".into();
                    return;
                };
                next = n;
                off += (usize::from(l) + 1) * 8;
            }
            44 => {
                p.info = format!(
                    "IPv6 fragment, next header {}",
                    b.get(off).copied().unwrap_or(0)
                );
                return;
            }
            _ => break,
        }
    }
    let l4 = b.get(off..end.max(off)).unwrap_or(&[]);
    l4_decode(p, next, l4, true);
}

fn l4_decode(p: &mut Packet, proto: u8, b: &[u8], v6: bool) {
    match (proto, v6) {
        (1, false) => {
            p.proto = "icmp".into();
            p.info = icmp(b);
        }
        (58, true) => {
            p.proto = "icmpv6".into();
            p.info = icmp6(b);
        }
        (6, _) => {
            p.proto = "tcp".into();
            p.sport = be16(b, 0);
            p.dport = be16(b, 2);
            p.info = tcp(b);
        }
        (17, _) => {
            p.proto = "udp".into();
            p.sport = be16(b, 0);
            p.dport = be16(b, 2);
            p.info = match be16(b, 4) {
                Some(l) => format!("UDP length {}", l.saturating_sub(8)),
                None => "UDP (truncated)".into(),
            };
        }
        (n, _) => p.info = format!("{} protocol {n}", if v6 { "IPv6" } else { "IPv4" }),
    }
}

fn echo(what: &str, b: &[u8]) -> String {
    match (be16(b, 4), be16(b, 6)) {
        (Some(id), Some(seq)) => format!("echo {what} id {id} seq {seq}"),
        _ => format!("echo {what}"),
    }
}

fn icmp(b: &[u8]) -> String {
    let (Some(&ty), Some(&code)) = (b.first(), b.get(1)) else {
        return "ICMP (truncated)".into();
    };
    match ty {
        0 => echo("reply", b),
        8 => echo("request", b),
        3 => {
            let why = match code {
                0 => "net unreachable".to_string(),
                1 => "host unreachable".into(),
                2 => "protocol unreachable".into(),
                3 => "port unreachable".into(),
                4 => match be16(b, 6) {
                    Some(mtu) => format!("frag needed and DF set (mtu {mtu})"),
                    None => "frag needed and DF set".into(),
                },
                9 | 10 | 13 => "administratively prohibited".into(),
                c => format!("unreachable code {c}"),
            };
            format!("ICMP {why}")
        }
        11 => "ICMP time exceeded in-transit".into(),
        5 => "ICMP redirect".into(),
        t => format!("ICMP type {t} code {code}"),
    }
}

fn icmp6(b: &[u8]) -> String {
    let (Some(&ty), Some(&code)) = (b.first(), b.get(1)) else {
        return "ICMP6 (truncated)".into();
    };
    let target = || v6(b, 8).map(|t| t.to_string()).unwrap_or_default();
    match ty {
        128 => echo("request", b),
        129 => echo("reply", b),
        1 => format!("ICMP6 destination unreachable code {code}"),
        2 => match be32(b, 4) {
            Some(mtu) => format!("ICMP6 packet too big, mtu {mtu}"),
            None => "ICMP6 packet too big".into(),
        },
        3 => "ICMP6 time exceeded in-transit".into(),
        133 => "ICMP6 router solicitation".into(),
        134 => "ICMP6 router advertisement".into(),
        135 => format!("ICMP6 neighbor solicitation, who has {}", target()),
        136 => format!("ICMP6 neighbor advertisement, tgt is {}", target()),
        143 => "ICMP6 multicast listener report v2".into(),
        t => format!("ICMP6 type {t} code {code}"),
    }
}

fn tcp(b: &[u8]) -> String {
    let (Some(seq), Some(ack), Some(&doff), Some(&fl), Some(win)) =
        (be32(b, 4), be32(b, 8), b.get(12), b.get(13), be16(b, 14))
    else {
        return "TCP (truncated)".into();
    };
    let names = [
        (0x02, "SYN"),
        (0x10, "ACK"),
        (0x08, "PSH"),
        (0x01, "FIN"),
        (0x04, "RST"),
        (0x20, "URG"),
    ];
    let flags: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| fl & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    let data = b.len().saturating_sub(usize::from(doff >> 4) * 4);
    let mut s = format!("TCP [{}] seq {seq}", flags.join(", "));
    if fl & 0x10 != 0 {
        s.push_str(&format!(" ack {ack}"));
    }
    s.push_str(&format!(" win {win} length {data}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(frames: &[&[u8]]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&MAGIC_US.to_le_bytes());
        d.extend_from_slice(&2u16.to_le_bytes());
        d.extend_from_slice(&4u16.to_le_bytes());
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&65535u32.to_le_bytes());
        d.extend_from_slice(&1u32.to_le_bytes());
        for (i, f) in frames.iter().enumerate() {
            d.extend_from_slice(&(1000 + i as u32).to_le_bytes());
            d.extend_from_slice(&500u32.to_le_bytes());
            d.extend_from_slice(&(f.len() as u32).to_le_bytes());
            d.extend_from_slice(&(f.len() as u32).to_le_bytes());
            d.extend_from_slice(f);
        }
        d
    }

    fn eth(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn an_arp_request_and_an_echo_request_decode_as_tcpdump_says() {
        let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1];
        arp.extend_from_slice(&[0; 6]);
        arp.extend_from_slice(&[10, 0, 0, 2]);
        let mut ip = vec![
            0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 7]);
        let a = eth(0x0806, &arp);
        let e = eth(0x0800, &ip);
        let mut data = file(&[&a, &e]);
        // A record cut short at the end is not a packet yet.
        data.extend_from_slice(&[1, 2, 3]);
        let ps = read(&data, usize::MAX).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].info, "ARP who-has 10.0.0.2 tell 10.0.0.1");
        assert_eq!(
            (ps[0].src.as_str(), ps[0].dst.as_str()),
            ("10.0.0.1", "10.0.0.2")
        );
        assert_eq!(ps[1].proto, "icmp");
        assert_eq!(ps[1].info, "echo request id 1 seq 7");
        assert_eq!(ps[1].len, 42);
        assert!((ps[1].time - 1001.0005).abs() < 1e-9);
        assert_eq!(read(&data, 1).unwrap().len(), 1);
    }

    #[test]
    fn a_tcp_syn_over_ipv6_has_its_ports_and_flags() {
        let mut ip = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        ip.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        ip.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
        ip.extend_from_slice(&[
            0x9c, 0x40, 0, 80, 0, 0, 0, 9, 0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0,
        ]);
        ip.extend_from_slice(&[0; 4]);
        let f = eth(0x86dd, &ip);
        let ps = read(&file(&[&f]), 10).unwrap();
        assert_eq!(ps[0].proto, "tcp");
        assert_eq!((ps[0].sport, ps[0].dport), (Some(40000), Some(80)));
        assert_eq!(ps[0].src, "fd00::1");
        assert_eq!(ps[0].info, "TCP [SYN] seq 9 win 64240 length 0");
    }

    #[test]
    fn what_is_not_pcap_is_refused() {
        assert_eq!(
            read(b"hello world, this is not pcap", 1),
            Err(PcapError::NotPcap)
        );
        assert_eq!(read(b"", 1), Ok(Vec::new()));
    }
}
