//! Trust: nslab never touches what it did not make, labs running at the same
//! time do not break each other, and journals are data to be checked. Each
//! situation is built from outside nslab in a private host (own user, mount
//! and network namespaces), with `ip`, `sysctl` and the file system as
//! witnesses.

use crate::common::*;

/// Runs a script in the background until it prints "ready" (its pid in
/// `$pid`); `kill -9` leaves its lab behind.
fn start(script: &str, lab: &str) -> String {
    format!(
        "\"$NSLAB\" run --name {lab} {script} > {lab}.out 2>&1 &\npid=$!\n\
         wait_until 'grep -q ready {lab}.out' 10\n"
    )
}

/// A journal written by hand, as a crash could leave it (or as someone
/// could write it): the header of a lab whose process is gone, then `steps`.
fn journal(lab: &str, steps: &[&str]) -> String {
    let mut s = format!(
        "mkdir -p /run/nslab\ncat > /run/nslab/{lab}.json <<'EOF'\n\
         {{\"lab\":\"{lab}\",\"pid\":999999,\"start\":1,\"id\":\"00112233aabbccdd\",\"script\":\"x.rhai\",\"started\":1,\"isolated\":false}}\n"
    );
    for (i, st) in steps.iter().enumerate() {
        s.push_str(&format!("{{\"seq\":{},\"undo\":{st}}}\n", i + 1));
    }
    s.push_str("EOF\nchmod 644 /run/nslab/");
    s.push_str(lab);
    s.push_str(".json\n");
    s
}

#[test]
fn down_leaves_alone_what_another_lab_made_under_the_same_names() {
    let d = Dir::new();
    let lab = "let n = netns(\"n0\");\nveth(host(), \"core0\", n, \"e0\");\nprint(\"ready\");\nhost().exec(\"sleep 30\");\n";
    d.write("l1.rhai", lab);
    d.write(
        "l2.rhai",
        &lab.replace("print(\"ready\");\nhost().exec(\"sleep 30\");\n", ""),
    );
    let o = private_host(
        &d,
        &format!(
            "{}kill -9 $pid; wait $pid\n\
             ip netns del n0; ip link del core0 2>/dev/null\n\
             \"$NSLAB\" run --keep --name L2 l2.rhai; echo l2=$?\n\
             ip -o link show core0 | grep -o 'alias nslab:L2' \n\
             \"$NSLAB\" down L1; echo down1=$?\n\
             ip netns list | grep -q n0 && echo N0_KEPT\n\
             ip -o link show core0 >/dev/null && echo CORE0_KEPT\n\
             \"$NSLAB\" down L2; echo down2=$?\n\
             ip netns list | grep -q n0 || ip -o link show core0 2>/dev/null || echo ALL_GONE\n",
            start("l1.rhai", "L1")
        ),
    );
    o.says(&["l2=0"]);
    o.because("no alias on the host link")
        .says(&["alias nslab:L2"]);
    o.because("down L1 touched L2's objects")
        .says(&["down1=0", "N0_KEPT", "CORE0_KEPT"]);
    o.because("down does not say what it left alone")
        .all_says(&[
            "namespace 'n0' is not the one lab 'L1' made: left alone",
            "link 'core0' in 'host' is not the one lab 'L1' made",
        ]);
    o.says(&["down2=0", "ALL_GONE"]);
}

/// The write-ahead window: the journal says "will create core0" (with the
/// index the lab picked) but the lab died before the kernel answered, and
/// the core0 there is someone else's. So is a name that a namespace of
/// someone else's holds.
#[test]
fn a_step_whose_object_never_came_deletes_nothing() {
    let d = Dir::new();
    let o = private_host(
        &d,
        &format!(
            "ip link add core0 type veth peer name core0p\nip netns add n0\n{}\
             \"$NSLAB\" down ghost; echo down=$?\n\
             ip -o link show core0 >/dev/null && echo CORE0_KEPT\n\
             ip netns list | grep -q n0 && echo N0_KEPT\n",
            journal(
                "ghost",
                &[
                    r#"{"op":"delete_netns","name":"n0","dev":1,"ino":2}"#,
                    r#"{"op":"delete_link","ns":"host","name":"core0","ifindex":123456789}"#,
                ]
            )
        ),
    );
    o.because("down deleted what the lab never made")
        .says(&["CORE0_KEPT", "N0_KEPT"]);
    o.all_says(&["left alone"]);
    o.says(&["down=0"]);
}

/// A namespace's inode is reused once it is gone, so a namespace made later
/// under the same name can have the very (dev, ino) a dead lab journaled:
/// the journal's cookie, which the kernel never hands out twice, tells them
/// apart. The journal here is that dead lab's, written by hand with the new
/// namespace's (dev, ino) and another cookie.
#[test]
fn a_namespace_with_the_journaled_inode_but_another_cookie_is_left_alone() {
    let d = Dir::new();
    let o = private_host(
        &d,
        "ip netns add n0\n\
         set -- $(stat -L -c '%d %i' /run/netns/n0)\n\
         mkdir -p /run/nslab\n\
         cat > /run/nslab/reused.json <<EOF\n\
         {\"lab\":\"reused\",\"pid\":999999,\"start\":1,\"id\":\"00112233aabbccdd\",\"script\":\"x.rhai\",\"started\":1,\"isolated\":false}\n\
         {\"seq\":1,\"undo\":{\"op\":\"delete_netns\",\"name\":\"n0\",\"dev\":$1,\"ino\":$2,\"cookie\":987654321987}}\n\
         EOF\n\
         chmod 644 /run/nslab/reused.json\n\
         \"$NSLAB\" down reused; echo down=$?\n\
         ip netns list | grep -q n0 && echo N0_KEPT\n",
    );
    o.because("down deleted a namespace with the journaled inode but not the journaled cookie")
        .says(&["N0_KEPT", "down=0"]);
    o.all_says(&["namespace 'n0' is not the one lab 'reused' made: left alone"]);
}

#[test]
fn a_host_sysctl_changed_by_someone_else_is_not_restored_over() {
    let o = in_private_host(
        &[(
            "rp.rhai",
            "host().sysctl(\"net.ipv4.conf.all.rp_filter\", \"2\");\n\
         host().exec(\"echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter\");\n",
        )],
        "echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter\n\"$NSLAB\" run rp.rhai; echo code=$?\n\
         echo rp=$(cat /proc/sys/net/ipv4/conf/all/rp_filter)\n",
    );
    o.says(&["code=0", "rp=1"]);
    o.all_says(&["someone changed it since"]);
}

#[test]
fn labs_running_at_once_share_host_forwarding_until_the_last_ends() {
    let o = in_private_host(
        &[
            (
                "long.rhai",
                "host().forwarding(true);\nprint(\"ready\");\nhost().exec(\"while [ ! -e go ]; do sleep 0.05; done\");\n",
            ),
            ("short.rhai", "host().forwarding(true);\n"),
            (
                "crash.rhai",
                "host().forwarding(true);\nprint(\"ready\");\nhost().exec(\"sleep 30\");\n",
            ),
        ],
        &format!(
            "echo 0 > /proc/sys/net/ipv4/ip_forward\n{}\
             \"$NSLAB\" run --name B short.rhai; echo b=$?\n\
             echo after_b=$(cat /proc/sys/net/ipv4/ip_forward)\n\
             touch go; wait $pid; echo a=$?\n\
             echo after_a=$(cat /proc/sys/net/ipv4/ip_forward)\n\
             {}kill -9 $pid; wait $pid\n\
             echo after_kill=$(cat /proc/sys/net/ipv4/ip_forward)\n\
             \"$NSLAB\" down C; echo after_down=$(cat /proc/sys/net/ipv4/ip_forward)\n\
             ls /run/nslab\n",
            start("long.rhai", "A"),
            start("crash.rhai", "C")
        ),
    );
    o.says(&["b=0", "a=0"]);
    o.because("the lab that ended first switched forwarding off under the other")
        .says(&["after_b=1"]);
    o.says(&["after_a=0", "after_kill=1", "after_down=0"]);
    o.because("state left behind").lacks(&["hostwide"]);
}

#[test]
fn a_hostile_journal_is_refused_whole() {
    let d = Dir::new();
    // x.rhai builds a namespace: a lab (and its journal) starts at the
    // script's first call that builds something.
    let o = private_host(
        &d,
        &format!(
            "mkdir -p /tmp/t && touch /tmp/t/victim\nmkdir -p /run/netns\n\
             {}{}\
             \"$NSLAB\" down evil; echo evil=$?\n\
             \"$NSLAB\" down worse; echo worse=$?\n\
             ls /tmp/t\n\
             {}chmod 666 /run/nslab/open.json\n\"$NSLAB\" down open; echo open=$?\n\
             ln -s /tmp/t/victim /run/nslab/link.json\n\
             \"$NSLAB\" down link; echo link=$?\n\
             echo 'netns(\"a\");' > x.rhai\n\"$NSLAB\" run --name link x.rhai; echo run=$?\n\
             \"$NSLAB\" ls\n",
            journal(
                "evil",
                &[r#"{"op":"release_sysctl","key":"kernel/hostname"}"#]
            ),
            journal(
                "worse",
                &[r#"{"op":"delete_netns","name":"../../tmp/t/victim","dev":1,"ino":2}"#]
            ),
            journal("open", &[]),
        ),
    );
    let out = o.all();
    o.because("a hostile journal was applied").says(&["victim"]);
    for lab in ["evil", "worse", "open", "link"] {
        assert!(o.stdout.contains(&format!("{lab}=1")), "{lab}:\n{out}");
    }
    o.all_says(&[
        "is not a network sysctl",
        "not a valid namespace name",
        "others can write it",
        "it is a symbolic link",
    ]);
    assert!(
        o.stdout.contains("run=2") || o.stdout.contains("run=1"),
        "{out}"
    );
    o.all_says(&["the name 'link' is taken by /run/nslab/link.json"]);
}

#[test]
fn journals_get_fixed_modes_whatever_the_umask() {
    let o = in_private_host(
        &[("m.rhai", "print(\"ready\");\nhost().exec(\"sleep 30\");\n")],
        &format!(
            "umask 000\n{}stat -c '%a %n' /run/nslab /run/nslab/M.json\nkill $pid; wait $pid\n",
            start("m.rhai", "M")
        ),
    );
    o.says(&["755 /run/nslab\n", "644 /run/nslab/M.json"]);
}

#[test]
fn a_journal_of_another_user_is_refused() {
    // Needs a uid other than this one: real root with private network and
    // mounts (no user namespace, where only root is mapped).
    if !needs_root("") {
        return;
    }
    let d = Dir::new();
    let script = format!(
        "set -u\nmount -t tmpfs tmpfs /run\n{}chown 65534 /run/nslab/other.json\n\
         \"$NSLAB\" down other; echo other=$?\n",
        journal("other", &[])
    );
    let o = run_cmd(
        unshare_sh(&["--net", "--mount", "--propagation", "private"], &script)
            .current_dir(d.path()),
    );
    o.says(&["other=1"]);
    o.all_says(&["it belongs to uid 65534"]);
}

#[test]
fn lab_names_are_checked() {
    let o = in_private_host(
        &[("x.rhai", "print(1);\n")],
        "\"$NSLAB\" run --name ../../tmp/escaped x.rhai; echo a=$?\n\
         \"$NSLAB\" run --name '' x.rhai; echo b=$?\n\
         \"$NSLAB\" run --name a/b x.rhai; echo c=$?\n\
         ls /tmp/escaped.json /run/.json 2>&1 | grep -c 'No such file'\n",
    );
    let out = o.all();
    for k in ["a=2", "b=2", "c=2"] {
        assert!(o.stdout.contains(k), "{k}:\n{out}");
    }
    o.because("a journal was written").says(&["\n2\n"]);
    o.all_says(&[
        "is not a valid lab name",
        "a lab name cannot be empty",
        "help: lab names become file names",
    ]);
    o.all_lacks(&["run as root"]);
}

/// Liveness is the lab's lock on its journal: a lab run from a renamed copy
/// of nslab is running (not torn down under it), and a lab whose process was
/// killed but not yet reaped (a zombie) is gone.
#[test]
fn down_knows_running_labs_by_their_lock() {
    let d = Dir::new();
    d.write(
        "l.rhai",
        "netns(\"z0\");\nprint(\"ready\");\nhost().exec(\"sleep 30\");\n",
    );
    // The lab's parent execs into `sleep`, which never reaps it.
    let o = private_host(
        &d,
        "cp \"$NSLAB\" ./labtool\n\
         sh -c './labtool run --name R l.rhai > R.out 2>&1 & echo $! > R.pid; exec sleep 60' &\n\
         holder=$!\n\
         wait_until 'grep -q ready R.out 2>/dev/null' 10\n\
         pid=$(cat R.pid)\n\
         ./labtool down --all; echo all=$?\n\
         ip netns list | grep -q z0 && echo RUNNING_KEPT\n\
         kill -9 $pid\nsleep 0.2\n\
         grep -q zombie /proc/$pid/status 2>/dev/null && echo ZOMBIE\n\
         ./labtool down R; echo down=$?\n\
         ip netns list | grep -q z0 || echo GONE\nkill $holder\n",
    );
    o.because("down --all tore down a running lab")
        .says(&["RUNNING_KEPT"]);
    o.because("the test did not make a zombie")
        .says(&["ZOMBIE"]);
    o.because("a zombie lab counts as running")
        .says(&["down=0", "GONE"]);
}

#[test]
fn a_namespace_made_twice_in_one_lab_gets_a_hint_that_applies() {
    let o = fails_at(
        "twice.rhai",
        "netns(\"a\");\nnetns(\"a\");\n",
        "twice.rhai:2",
        "namespace 'a' already exists: this lab made it earlier",
        "use the handle the first netns(\"a\") returned",
    );
    assert!(!o.stderr.contains("ip netns del"), "{}", o.stderr);
}
