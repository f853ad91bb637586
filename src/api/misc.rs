//! Script parameters and lab lifetime: param(), keep().

use std::rc::Rc;

use rhai::{Dynamic, ImmutableString};

use super::{Ctx, Doc, Registrar, Res, bad, err};

impl Ctx {
    fn param_raw(&self, name: &str) -> Option<String> {
        self.used_params.borrow_mut().insert(name.to_string());
        self.params.get(name).cloned()
    }
}

fn parse_as(name: &str, raw: &str, default: &Dynamic) -> Res<Dynamic> {
    let wrong = |ty: &str, example: &str| {
        bad(
            format!("--set {name}={raw}: expected {ty}, like its default ({default})"),
            format!("pass it as --set {name}={example}"),
        )
    };
    if default.is_int() {
        raw.parse::<i64>()
            .map(Dynamic::from_int)
            .map_err(|_| wrong("a whole number", "4"))
    } else if default.is_float() {
        raw.parse::<f64>()
            .map(Dynamic::from_float)
            .map_err(|_| wrong("a number", "1.5"))
    } else if default.is_bool() {
        raw.parse::<bool>()
            .map(Dynamic::from_bool)
            .map_err(|_| wrong("true or false", "true"))
    } else {
        Ok(Dynamic::from(raw.to_string()))
    }
}

/// sleep(): a day at most, never negative.
fn pause(c: &Ctx, secs: f64) -> Res<()> {
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(bad(
            format!("sleep({secs}): seconds must be 0..=86400"),
            "e.g. sleep(0.5) or sleep(2)",
        ));
    }
    c.lab()?
        .sleep(std::time::Duration::from_secs_f64(secs))
        .map_err(super::err)
}

pub(super) fn register(r: &mut Registrar, ctx: &Rc<Ctx>) {
    let doc = Doc {
        area: "script",
        name: "param",
        sig: "param(\"name\", default) -> value",
        doc: "The value of `--set name=…` from the command line, else default; converted to default's type.",
        example: "let hosts = param(\"hosts\", 4);",
    };
    let c = ctx.clone();
    r.func(
        doc.clone(),
        move |name: ImmutableString, default: Dynamic| -> Res<Dynamic> {
            match c.param_raw(&name) {
                Some(raw) => parse_as(&name, &raw, &default),
                None => Ok(default),
            }
        },
    );
    // The same for a default of each plain type. rhai looks a call up by its
    // arguments' exact types first, in every module, and only then with
    // `Dynamic` in their place: with the overload above alone, the first
    // `param("n", 10)` of each type missed, and a miss in the lazily
    // registered standard package computes the hash of every one of its
    // functions (bench/README.md, "star-10: start-up and teardown").
    macro_rules! typed {
        ($t:ty) => {{
            let c = ctx.clone();
            r.func(
                doc.clone(),
                move |name: ImmutableString, default: $t| -> Res<Dynamic> {
                    let default = Dynamic::from(default);
                    match c.param_raw(&name) {
                        Some(raw) => parse_as(&name, &raw, &default),
                        None => Ok(default),
                    }
                },
            );
        }};
    }
    typed!(i64);
    typed!(f64);
    typed!(bool);
    typed!(ImmutableString);
    let c = ctx.clone();
    r.func(doc, move |name: ImmutableString| -> Res<Dynamic> {
        c.param_raw(&name).map(Dynamic::from).ok_or_else(|| {
            bad(
                format!("parameter '{name}' was not given"),
                format!("pass it with --set {name}=…, or give a default: param(\"{name}\", value)"),
            )
        })
    });
    let sleep_doc = Doc {
        area: "script",
        name: "sleep",
        sig: "sleep(seconds)",
        doc: "Wait this many seconds (a fraction too); Ctrl-C and SIGTERM end the wait at once.",
        example: "sleep(0.5);",
    };
    let c = ctx.clone();
    r.func(sleep_doc.clone(), move |secs: f64| -> Res<()> {
        pause(&c, secs)
    });
    let c = ctx.clone();
    r.func(sleep_doc, move |secs: i64| -> Res<()> {
        pause(&c, secs as f64)
    });
    let c = ctx.clone();
    r.func(
        Doc {
            area: "script",
            name: "keep",
            sig: "keep()",
            doc: "Leave the lab up when the script ends (like --keep), the programs it spawned still running (in host mode); `nslab down LAB` removes it and stops them later.",
            example: "keep();",
        },
        move || -> Res<()> {
            c.lab()?.keep();
            Ok(())
        },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "script",
            name: "not_in_plan",
            sig: "not_in_plan(\"frr::router\")",
            doc: "Stops `nslab plan` with an error naming the call, for a recipe whose work a plan cannot replay (it polls a daemon until it answers); does nothing in other runs.",
            example: "not_in_plan(\"frr::router\");",
        },
        move |call: ImmutableString| -> Res<()> { c.lab()?.not_in_plan(&call).map_err(err) },
    );
    let c = ctx.clone();
    r.func(
        Doc {
            area: "script",
            name: "need_user_ids",
            sig: "need_user_ids(\"FRR\")",
            doc: "An error (naming what) unless the lab's programs can switch to users of their own: always in host mode and isolated as root; rootless only with subordinate ids (/etc/subuid, /etc/subgid). For recipes of daemons that drop to their own user.",
            example: "need_user_ids(\"FRR\");",
        },
        move |what: ImmutableString| -> Res<()> {
            // The lab starts (and isolates) first: the ids are known then.
            c.lab()?;
            if crate::isolate::ids() == Some(crate::isolate::ids::Ids::OwnOnly)
                && !crate::isolate::is_root_outside()
            {
                return Err(bad(
                    format!("{what} switches to a user of its own, which this rootless lab does not have"),
                    crate::isolate::ids::own_only_help(),
                ));
            }
            Ok(())
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_take_the_default_type() {
        let v = parse_as("hosts", "8", &Dynamic::from_int(4)).unwrap();
        assert_eq!(v.as_int().unwrap(), 8);
        assert!(parse_as("hosts", "eight", &Dynamic::from_int(4)).is_err());
        let v = parse_as("fast", "true", &Dynamic::from_bool(false)).unwrap();
        assert!(v.as_bool().unwrap());
        let v = parse_as(
            "subnet",
            "10.5.0.0/24",
            &Dynamic::from("10.1.0.0/24".to_string()),
        )
        .unwrap();
        assert_eq!(v.into_string().unwrap(), "10.5.0.0/24");
    }
}
