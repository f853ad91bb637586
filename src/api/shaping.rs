//! Traffic shaping: link.shape(#{rate, burst, latency_ms, delay_ms,
//! jitter_ms, loss_pct}) and link.unshape(); the typed option readers the
//! bridge options share.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use rhai::{Dynamic, Map, NativeCallContext};

use super::{Ctx, Doc, Link, Registrar, Res, bad, err, site};
use crate::lab::Shape;

const SHAPE_KEYS: &str = "rate, burst, latency_ms, delay_ms, jitter_ms and loss_pct";

/// A number option (an integer or a decimal).
pub(super) fn num_opt(v: &Dynamic, key: &str, example: &str) -> Res<f64> {
    if let Ok(i) = v.as_int() {
        return Ok(i as f64);
    }
    v.as_float().map_err(|t| {
        bad(
            format!("option '{key}' must be a number, not {t}"),
            format!("e.g. {example}"),
        )
    })
}

/// A number option within `lo..=hi` (inclusive), with the range in the help.
pub(super) fn ranged(v: &Dynamic, key: &str, lo: f64, hi: f64, example: &str) -> Res<f64> {
    let n = num_opt(v, key, example)?;
    if n.is_finite() && (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(bad(
            format!("{key} = {n} is out of range"),
            format!("{key} is {lo}..={hi}, e.g. {example}"),
        ))
    }
}

/// An integer option within `lo..=hi`.
pub(super) fn int_in(v: &Dynamic, key: &str, lo: i64, hi: i64, example: &str) -> Res<i64> {
    let n = v.as_int().map_err(|t| {
        bad(
            format!("option '{key}' must be a whole number, not {t}"),
            format!("e.g. {example}"),
        )
    })?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(bad(
            format!("{key} = {n} is out of range"),
            format!("{key} is {lo}..={hi}, e.g. {example}"),
        ))
    }
}

pub(super) fn bool_opt(v: &Dynamic, key: &str) -> Res<bool> {
    v.as_bool().map_err(|t| {
        bad(
            format!("option '{key}' must be true or false, not {t}"),
            format!("e.g. {key}: true"),
        )
    })
}

/// A rate as tc writes it, in bits per second: "10mbit", "1gbit",
/// "500kbit", "100k" (bits), "2mbps" (bytes: 16 Mbit/s), "1.5mbit",
/// "1mibit" (binary). Units are case-insensitive, as in tc.
pub fn parse_rate(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let (prefix, per) = if let Some(p) = unit.strip_suffix("bit") {
        (p, 1.0)
    } else if let Some(p) = unit.strip_suffix("bps") {
        (p, 8.0)
    } else {
        (unit, 1.0)
    };
    let scale = match prefix {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0 * 1024.0 * 1024.0,
        "ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bits = (n * scale * per).round();
    (bits.is_finite() && bits >= 1.0 && bits < u64::MAX as f64).then_some(bits as u64)
}

/// A size as tc writes it, in bytes: "32kb", "32k", "1mb", "1500b", "1500".
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let scale = match unit {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        // tc's get_size takes bit units too, binary and divided by 8.
        "kbit" => 1024.0 / 8.0,
        "mbit" => 1024.0 * 1024.0 / 8.0,
        "gbit" => 1024.0 * 1024.0 * 1024.0 / 8.0,
        _ => return None,
    };
    let bytes = (n * scale).round();
    (bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

const RATE_HELP: &str = "write it as tc does, in bits per second with a unit: \"10mbit\", \"1gbit\", \"500kbit\" (\"10mbps\" is megabytes/s: 80 Mbit/s)";

/// The `…bps` units are tc's bytes per second, eight times what a reader
/// of "Mbps" expects; `Some` is the line that says so for a rate that uses one.
fn bytes_unit_note(s: &str) -> Option<String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let prefix = unit.to_ascii_lowercase().strip_suffix("bps")?.to_string();
    let (bytes, bits_name) = match prefix.as_str() {
        "" => ("bytes/s", "bits"),
        "k" => ("kilobytes/s", "kilobits"),
        "m" => ("megabytes/s", "megabits"),
        "g" => ("gigabytes/s", "gigabits"),
        "t" => ("terabytes/s", "terabits"),
        "ki" => ("KiB/s", "kibibits"),
        "mi" => ("MiB/s", "mebibits"),
        "gi" => ("GiB/s", "gibibits"),
        "ti" => ("TiB/s", "tebibits"),
        _ => return None,
    };
    let bits = parse_rate(t)?;
    Some(format!(
        "rate \"{t}\" is {num} {bytes} = {} as tc reads it; for {bits_name} write \"{num}{prefix}bit\"",
        bits_per_sec(bits),
    ))
}

/// 80000000 -> "80 Mbit/s", 8388608 -> "8.39 Mbit/s".
pub(super) fn bits_per_sec(bits: u64) -> String {
    let (scale, unit) = match bits {
        b if b >= 1_000_000_000_000 => (1e12, "Tbit/s"),
        b if b >= 1_000_000_000 => (1e9, "Gbit/s"),
        b if b >= 1_000_000 => (1e6, "Mbit/s"),
        b if b >= 1_000 => (1e3, "kbit/s"),
        _ => (1.0, "bit/s"),
    };
    let n = format!("{:.2}", bits as f64 / scale);
    let n = n.trim_end_matches('0').trim_end_matches('.');
    format!("{n} {unit}")
}

/// The rate in bits per second, and the warning a `…bps` rate earns.
/// A number without a unit is refused: tc reads `10` as 10 bit/s, which
/// is never what a lab means.
fn rate_opt(v: &Dynamic) -> Res<(u64, Option<String>)> {
    if v.is_int() || v.is_float() {
        return Err(bad(
            format!("rate {v} has no unit (tc would read it as {v} bit/s)"),
            format!("{RATE_HELP}; e.g. rate: \"{v}mbit\""),
        ));
    }
    let s = v.clone().into_string().map_err(|t| {
        bad(
            format!("rate must be a string or a number, not {t}"),
            RATE_HELP,
        )
    })?;
    let bits = parse_rate(&s).ok_or_else(|| bad(format!("rate '{s}' is not a rate"), RATE_HELP))?;
    if s.trim().ends_with(|c: char| c.is_ascii_digit() || c == '.') {
        let n = s.trim();
        return Err(bad(
            format!("rate '{n}' has no unit (tc would read it as {n} bit/s)"),
            format!("{RATE_HELP}; e.g. rate: \"{n}mbit\""),
        ));
    }
    Ok((bits, bytes_unit_note(&s)))
}

fn burst_opt(v: &Dynamic) -> Res<u32> {
    let help = "give bytes as a number (32768) or in any unit tc takes: \"32kb\", \"1mb\", \"32kbit\" (4 KiB)";
    let n = if let Ok(n) = v.as_int() {
        u64::try_from(n).ok().filter(|n| *n > 0)
    } else {
        let s = v
            .clone()
            .into_string()
            .map_err(|t| bad(format!("burst must be a string or a number, not {t}"), help))?;
        Some(parse_size(&s).ok_or_else(|| bad(format!("burst '{s}' is not a size"), help))?)
    };
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(format!("burst {v} is out of range"), help))
}

fn ms_opt(v: &Dynamic, key: &str, lo: f64) -> Res<Duration> {
    let ms = ranged(v, key, lo, 3_600_000.0, &format!("{key}: 20"))?;
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// The shape, and the warnings its options earn (see `bytes_unit_note`).
fn shape_opts(m: &Map) -> Res<(Shape, Vec<String>)> {
    let mut s = Shape::default();
    let mut notes = Vec::new();
    for (k, v) in m {
        match k.as_str() {
            "rate" => {
                let (bits, note) = rate_opt(v)?;
                s.rate = Some(bits);
                if let Some(n) = note {
                    notes.push(n);
                }
            }
            "burst" => s.burst = Some(burst_opt(v)?),
            "latency_ms" => s.latency = Some(ms_opt(v, k, 1.0)?),
            "delay_ms" => s.delay = Some(ms_opt(v, k, 0.0)?),
            "jitter_ms" => s.jitter = Some(ms_opt(v, k, 0.0)?),
            "loss_pct" => s.loss_pct = Some(ranged(v, k, 0.0, 100.0, "loss_pct: 1.5")?),
            other => {
                return Err(bad(
                    format!("unknown shaping option '{other}'"),
                    format!("the options are {SHAPE_KEYS}"),
                ));
            }
        }
    }
    if s.rate.is_none() && (s.burst.is_some() || s.latency.is_some()) {
        return Err(bad(
            "burst and latency_ms shape a rate, and no rate is given",
            "add one, e.g. #{rate: \"10mbit\", burst: \"32kb\"}",
        ));
    }
    if s.rate.is_none() && s.delay.is_none() && s.jitter.is_none() && s.loss_pct.is_none() {
        return Err(bad(
            "nothing to shape",
            format!("give at least one of {SHAPE_KEYS}, e.g. #{{rate: \"10mbit\"}}"),
        ));
    }
    if s.jitter.is_some() && s.delay.is_none() {
        return Err(bad(
            "jitter_ms varies a delay, and no delay_ms is given",
            "add one, e.g. #{delay_ms: 100, jitter_ms: 10}",
        ));
    }
    Ok((s, notes))
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let c = ctx.clone();
    let warned: RefCell<HashSet<String>> = RefCell::default();
    r.func(
        Doc {
            area: "links",
            name: "shape",
            sig: "link.shape(#{rate, burst, latency_ms, delay_ms, jitter_ms, loss_pct})",
            doc: "Shape what the link sends: rate through a token bucket (`tc qdisc add dev DEV root tbf rate 10mbit burst 32kb latency 50ms`; burst defaults to 10 ms of rate, at least 32 KiB; a rate needs its unit: \"10mbit\" is megabits/s, and \"10mbps\" is tc's megabytes/s, 80 Mbit/s), delay, jitter and loss through netem; undone at teardown.",
            example: "ends[0].shape(#{rate: \"8mbit\"});  ends[1].shape(#{delay_ms: 50, jitter_ms: 5, loss_pct: 1});",
        },
        move |cx: NativeCallContext, l: &mut Link, m: Map| -> Res<Link> {
            let (s, notes) = shape_opts(&m)?;
            for note in notes {
                // Once per rate and place: a loop shaping many links warns once.
                let at = site(&cx);
                let key = format!("{:?}:{}:{}", at.source, at.line, note);
                if warned.borrow_mut().insert(key) {
                    let place = match (&at.source, at.line) {
                        (Some(src), l) if l > 0 => format!("{src}:{l}: "),
                        (None, l) if l > 0 => format!("line {l}: "),
                        _ => String::new(),
                    };
                    crate::say::say!("nslab: warning: {place}{note}");
                }
            }
            c.lab()?.shape(l.ns.id, &l.name, &s).map_err(err)?;
            Ok(l.clone())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "links",
            name: "unshape",
            sig: "link.unshape()",
            doc: "Take the lab's shaping off the link: the kernel's default queue comes back (`tc qdisc del dev DEV root`).",
            example: "ends[0].unshape();",
        },
        move |l: &mut Link| -> Res<Link> {
            c.lab()?.unshape(l.ns.id, &l.name).map_err(err)?;
            Ok(l.clone())
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_tc() {
        assert_eq!(parse_rate("10mbit"), Some(10_000_000));
        assert_eq!(parse_rate("1gbit"), Some(1_000_000_000));
        assert_eq!(parse_rate("500kbit"), Some(500_000));
        assert_eq!(parse_rate("500Kbit"), Some(500_000));
        assert_eq!(parse_rate("100k"), Some(100_000));
        assert_eq!(parse_rate("1.5mbit"), Some(1_500_000));
        assert_eq!(parse_rate("2mbps"), Some(16_000_000));
        assert_eq!(parse_rate("1mibit"), Some(1_048_576));
        assert_eq!(parse_rate("64000"), Some(64_000));
        for bad in [
            "",
            "fast",
            "10 parsecs",
            "0mbit",
            "-1mbit",
            "1.2.3mbit",
            "mbit",
        ] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_read_like_tc() {
        assert_eq!(parse_size("32kb"), Some(32768));
        assert_eq!(parse_size("32k"), Some(32768));
        assert_eq!(parse_size("1mb"), Some(1 << 20));
        assert_eq!(parse_size("1500"), Some(1500));
        assert_eq!(parse_size("1500b"), Some(1500));
        // Issue 23 item 4: every unit tc's get_size takes.
        assert_eq!(parse_size("32kbit"), Some(4096));
        assert_eq!(parse_size("1mbit"), Some(131072));
        assert_eq!(parse_size("1gbit"), Some(134217728));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("0"), None);
    }

    #[test]
    fn a_rate_without_a_unit_is_refused_and_bytes_units_are_named() {
        for v in [
            Dynamic::from(10_i64),
            Dynamic::from(2.5_f64),
            Dynamic::from("64000"),
        ] {
            let e = rate_opt(&v).unwrap_err();
            let msg = super::super::message_of(&e);
            assert!(msg.contains("has no unit"), "{msg}");
        }
        assert_eq!(
            rate_opt(&Dynamic::from("10mbit")).unwrap(),
            (10_000_000, None)
        );
        assert_eq!(rate_opt(&Dynamic::from("100k")).unwrap(), (100_000, None));
        let (bits, note) = rate_opt(&Dynamic::from("10Mbps")).unwrap();
        assert_eq!(bits, 80_000_000);
        assert_eq!(
            note.as_deref(),
            Some(
                "rate \"10Mbps\" is 10 megabytes/s = 80 Mbit/s as tc reads it; for megabits write \"10mbit\""
            )
        );
        let (_, note) = rate_opt(&Dynamic::from("1mibps")).unwrap();
        assert_eq!(
            note.as_deref(),
            Some(
                "rate \"1mibps\" is 1 MiB/s = 8.39 Mbit/s as tc reads it; for mebibits write \"1mibit\""
            )
        );
    }

    #[test]
    fn shape_options_name_the_valid_keys() {
        let mut m = Map::new();
        m.insert("speed".into(), Dynamic::from("10mbit"));
        let e = shape_opts(&m).unwrap_err();
        let msg = super::super::message_of(&e);
        assert!(msg.contains("unknown shaping option 'speed'"), "{msg}");
        assert!(msg.contains(SHAPE_KEYS), "{msg}");
    }
}
