//! Reads of a namespace wherever it lives: one table of the script API's
//! reads (`ns.routes()`, `br.fdb()`, `link.stats()`, …), each computing
//! the value the script gets from a lab. For a namespace placed on another
//! machine the agent there runs the same entry on its lab (`read_here`,
//! called by cmd/agent) and sends the value back as JSON, turned into the
//! same rhai value here: the values are the same wherever the namespace is.

use rhai::{Array, Dynamic, EvalAltResult, Map};
use serde_json::Value;

use super::{ApiError, Ctx, Res, bad, err};
use crate::lab::{Lab, LabError, NsId};

/// Runs read `call` of namespace `id` with `args`: here, or on the machine
/// the namespace is on.
pub(super) fn read(c: &Ctx, id: NsId, call: &str, args: Vec<Dynamic>) -> Res<Dynamic> {
    let mut lab = c.lab()?;
    if lab.machine_of(id).is_some() {
        let a = to_json(&Dynamic::from_array(args)).map_err(err)?;
        let v = lab
            .read_placed(id, call, &a)
            .unwrap_or_else(|| Err(LabError::new("lost a placed namespace", "this is a bug")))
            .map_err(err)?;
        return Ok(from_json(v));
    }
    local(&mut lab, id, call, &args)
}

/// `read` as an array (the reads of rows).
pub(super) fn rows(c: &Ctx, id: NsId, call: &str, args: Vec<Dynamic>) -> Res<Array> {
    read(c, id, call, args)?
        .into_array()
        .map_err(|t| bad(format!("read '{call}' gave {t}, not rows"), "this is a bug"))
}

/// `read` as a map.
pub(super) fn map(c: &Ctx, id: NsId, call: &str, args: Vec<Dynamic>) -> Res<Map> {
    read(c, id, call, args)?
        .try_cast::<Map>()
        .ok_or_else(|| bad(format!("read '{call}' gave no map"), "this is a bug"))
}

/// The agent's side: read `call` of its namespace `id`, args and value as
/// JSON.
pub fn read_here(lab: &mut Lab, id: NsId, call: &str, args: &Value) -> Result<Value, LabError> {
    let args: Array = from_json(args.clone()).into_array().unwrap_or_default();
    let v = local(lab, id, call, &args).map_err(|e| lab_error(&e))?;
    to_json(&v)
}

fn lab_error(e: &EvalAltResult) -> LabError {
    match e {
        EvalAltResult::ErrorRuntime(d, _) => match d.clone().try_cast::<ApiError>() {
            Some(a) => LabError::new(a.message, a.help.unwrap_or_default()),
            None => LabError::new("a read failed", "see the error"),
        },
        other => LabError::new(other.to_string(), "see the error"),
    }
}

fn arg_str(args: &[Dynamic], i: usize) -> Res<String> {
    args.get(i)
        .and_then(|v| v.clone().into_string().ok())
        .ok_or_else(|| bad("a read's argument is missing", "this is a bug"))
}

/// The reads, by the name the script calls them.
fn local(lab: &mut Lab, id: NsId, call: &str, a: &[Dynamic]) -> Res<Dynamic> {
    let arr = |v: Array| Ok(Dynamic::from_array(v));
    match call {
        "link" => {
            lab.link(id, &arg_str(a, 0)?).map_err(err)?;
            Ok(Dynamic::UNIT)
        }
        "links" => arr(super::netns::links_rows(lab.links(id).map_err(err)?)),
        "addrs" => arr(super::netns::addrs_rows(lab.addrs(id).map_err(err)?)),
        "routes" => arr(lab
            .routes(id)
            .map_err(err)?
            .into_iter()
            .map(super::netns::route_map)
            .collect()),
        "sysctl" => Ok(lab.read_sysctl(id, &arg_str(a, 0)?).map_err(err)?.into()),
        "mac" => Ok(lab.mac(id, &arg_str(a, 0)?).map_err(err)?.into()),
        "neighbors" => {
            let dev = a.first().and_then(|d| d.clone().into_string().ok());
            arr(lab
                .neighbors(id, dev.as_deref())
                .map_err(err)?
                .into_iter()
                .map(super::tables::neigh_map)
                .collect())
        }
        "rules" => arr(lab
            .rules(id)
            .map_err(err)?
            .into_iter()
            .map(super::tables::rule_map)
            .collect()),
        "route_get" => {
            let opts = a
                .get(1)
                .and_then(|m| m.clone().try_cast::<Map>())
                .unwrap_or_default();
            let req = super::tables::route_get_req(&arg_str(a, 0)?, opts)?;
            let got = lab.route_get(id, &req).map_err(err)?;
            Ok(Dynamic::from_map(super::tables::got_map(got)))
        }
        "fdb" => arr(lab
            .fdb(id, &arg_str(a, 0)?)
            .map_err(err)?
            .into_iter()
            .map(super::bridge_reads::fdb_map)
            .collect()),
        "ports" => arr(lab
            .bridge_ports(id, &arg_str(a, 0)?)
            .map_err(err)?
            .into_iter()
            .map(super::bridge_reads::port_map)
            .collect()),
        "vlans" => arr(lab
            .bridge_vlans(id, &arg_str(a, 0)?)
            .map_err(err)?
            .into_iter()
            .map(super::bridge_reads::vlan_map)
            .collect()),
        "stats" => {
            let s = lab.link_stats(id, &arg_str(a, 0)?).map_err(err)?;
            Ok(Dynamic::from_map(super::bridge_reads::stats_map(s)))
        }
        "qdisc" => arr(lab
            .qdiscs(id, &arg_str(a, 0)?)
            .map_err(err)?
            .into_iter()
            .map(super::bridge_reads::qdisc_map)
            .collect()),
        "counters" => arr(super::firewall::counter_rows(
            lab.counters(id).map_err(err)?,
        )),
        "firewall" => {
            let all = a.first().and_then(|v| v.as_bool().ok()).unwrap_or(false);
            let v = lab.firewall(id, all).map_err(err)?;
            Ok(Dynamic::from_map(super::firewall::firewall_map(v)))
        }
        other => Err(bad(
            format!("there is no read '{other}'"),
            "the driver and the agent may be different versions: run the same nslab on every machine",
        )),
    }
}

/// A script value as JSON: what reads give (maps, arrays, strings,
/// numbers, booleans, ()); anything else is not carried.
fn to_json(v: &Dynamic) -> Result<Value, LabError> {
    if v.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(n) = v.as_int() {
        return Ok(Value::from(n));
    }
    if let Ok(f) = v.as_float() {
        return Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Some(s) = v.read_lock::<rhai::ImmutableString>() {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(c) = v.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(a) = v.read_lock::<Array>() {
        return a
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(m) = v.read_lock::<Map>() {
        let mut o = serde_json::Map::new();
        for (k, x) in m.iter() {
            o.insert(k.to_string(), to_json(x)?);
        }
        return Ok(Value::Object(o));
    }
    Err(LabError::new(
        format!(
            "a value of type {} is not carried between machines",
            v.type_name()
        ),
        "give reads and calls on other machines strings, numbers, booleans, arrays and maps",
    ))
}

fn from_json(v: Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => b.into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => s.into(),
        Value::Array(a) => Dynamic::from_array(a.into_iter().map(from_json).collect()),
        Value::Object(o) => Dynamic::from_map(
            o.into_iter()
                .map(|(k, x)| (k.into(), from_json(x)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read's value comes back as the same value.
    #[test]
    fn values_survive_the_trip() {
        let mut m = Map::new();
        m.insert("name".into(), "eth0".into());
        m.insert("mtu".into(), Dynamic::from_int(1450));
        m.insert("delay_ms".into(), Dynamic::from_float(10.0));
        m.insert("master".into(), Dynamic::UNIT);
        m.insert("up".into(), true.into());
        m.insert(
            "flags".into(),
            Dynamic::from_array(vec!["onlink".into(), Dynamic::from_int(-1)]),
        );
        let v = Dynamic::from_map(m);
        let back = from_json(to_json(&v).unwrap());
        assert_eq!(format!("{v:?}"), format!("{back:?}"));
        let m = back.try_cast::<Map>().unwrap();
        assert!(m["delay_ms"].is_float() && m["mtu"].is_int() && m["master"].is_unit());
    }
}
