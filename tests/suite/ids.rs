//! Issue 22, user and group ids: daemons that switch to a user of their own
//! (FRR, BIRD, dnsmasq) need that user to exist in the lab's user namespace.
//! Isolated as root maps every id as itself; rootless maps the caller's
//! subordinate ids (/etc/subuid, /etc/subgid) through newuidmap/newgidmap.

use crate::common::*;

const SWITCH: &str = r#"let a = netns("a");
print(`map: ${a.run("cat /proc/self/uid_map")}`);
print(`switched: ${a.run("setpriv --reuid=1 --regid=1 --clear-groups id -u")}`);
"#;

#[test]
fn isolated_as_root_maps_every_id() {
    if !needs_root("maps ids only root has") {
        return;
    }
    let d = Dir::with(&[("switch.rhai", SWITCH)]);
    let o = nslab(&["run", "--isolated", "switch.rhai"], d.path());
    o.assert_ok();
    o.says(&["switched: 1"]);
    // A file's owner shows as itself, not as the overflow id (nobody).
    let d = Dir::with(&[(
        "owner.rhai",
        "let a = netns(\"a\");\nprint(`owner: ${a.run(\"stat -c %u /proc/1\")}`);\n",
    )]);
    let o = nslab(&["run", "--isolated", "owner.rhai"], d.path());
    o.assert_ok();
    o.says(&["owner: 0"]);
}

/// As a user whose subordinate ids /etc/subuid and /etc/subgid grant: here
/// `nobody`, granted in a mount namespace of the test's own (the machine's
/// files stay as they are), where newuidmap reads them.
#[test]
fn rootless_maps_the_users_subordinate_ids() {
    if !needs_root("runs nslab as another user") {
        return;
    }
    need("newuidmap");
    let user = as_nobody(0o755);
    std::fs::write(user.path().join("switch.rhai"), SWITCH).expect("write");
    let o = out(user
        .cmd_with_subids(&["run", "switch.rhai"])
        .output()
        .expect("run nslab as nobody"));
    o.assert_ok();
    o.says(&["switched: 1", "1     200000      65536"]);
    // Without a grant, the lab maps the user alone: switching fails, and
    // the help says what to add where.
    let o = user.run(&["run", "switch.rhai"]);
    assert_ne!(o.code, 0, "{}", o.all());
    says(
        &o.report_words(),
        &["setpriv", "`nobody:100000:65536` to /etc/subuid", "uidmap"],
    );
}
