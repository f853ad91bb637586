//! wait_until(|| …) and ns.wait_route(…): waiting for a lab to converge
//! (a routing daemon's routes, a server coming up) without a hand-written
//! loop of sleeps.

use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, FnPtr, Map, NativeCallContext};

use super::{Ctx, Doc, Registrar, Res, bad, err};

/// `#{timeout_ms, every_ms}` of wait_until: 30 s and 200 ms by default.
fn until_opts(m: &Map) -> Res<(Duration, Duration)> {
    let mut timeout = Duration::from_millis(30_000);
    let mut every = Duration::from_millis(200);
    for (k, v) in m {
        match k.as_str() {
            "timeout_ms" => timeout = super::socket::timeout_opt(v, 3_600_000)?,
            "every_ms" => {
                every = v
                    .as_int()
                    .ok()
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|n| (1..=60_000).contains(n))
                    .map(Duration::from_millis)
                    .ok_or_else(|| {
                        bad(
                            format!("every_ms = {v} is out of range"),
                            "use 1..=60000 milliseconds between two calls",
                        )
                    })?
            }
            other => {
                return Err(bad(
                    format!("unknown wait_until option '{other}'"),
                    "the options are timeout_ms and every_ms",
                ));
            }
        }
    }
    Ok((timeout, every))
}

/// What a closure returned, as the REPL would show it, short.
fn shown(v: &Dynamic) -> String {
    let s = super::show_value(v, &|_| None);
    let s = crate::text::clip(&s, 120).into_owned();
    if v.is_bool() {
        s
    } else {
        format!("{s} (a {}, not true)", v.type_name())
    }
}

fn wait_until(
    c: &Ctx,
    cx: &NativeCallContext,
    f: &FnPtr,
    timeout: Duration,
    every: Duration,
) -> Res<()> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut tries = 0u32;
    loop {
        let v = f.call_within_context::<Dynamic>(cx, ())?;
        tries += 1;
        if v.as_bool() == Ok(true) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(bad(
                format!(
                    "wait_until: not true after {} ms ({tries} calls); the closure returned {} last",
                    timeout.as_millis(),
                    shown(&v)
                ),
                "the closure must return true once the lab is ready: check what it tests (print it inside), or give it longer with #{timeout_ms: 60000}",
            ));
        }
        c.lab()?.pause(every.min(deadline - now)).map_err(err)?;
    }
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let doc = Doc {
        area: "probes",
        name: "wait_until",
        sig: "wait_until(|| condition) / wait_until(|| condition, #{timeout_ms, every_ms})",
        doc: "Call the closure every every_ms (200) until it returns true: the wait for a lab to converge (routes learned, a server up) instead of a loop of sleeps. Past timeout_ms (30000) an error at this line says what the closure returned last; an error inside the closure stops the wait at its own line; Ctrl-C and SIGTERM end it at once.",
        example: "wait_until(|| r1.ping(\"10.255.0.3\", #{count: 1}).ok, #{timeout_ms: 60000});",
    };
    let c = ctx.clone();
    r.func(
        doc.clone(),
        move |cx: NativeCallContext, f: FnPtr| -> Res<()> {
            let (t, e) = until_opts(&Map::new())?;
            wait_until(&c, &cx, &f, t, e)
        },
    );
    let c = ctx.clone();
    r.func(
        doc,
        move |cx: NativeCallContext, f: FnPtr, m: Map| -> Res<()> {
            let (t, e) = until_opts(&m)?;
            wait_until(&c, &cx, &f, t, e)
        },
    );
}
