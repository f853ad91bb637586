//! Probes for what the kernel can do, made in a throw-away network
//! namespace: a test that needs a module checks it first and either says
//! the kernel lacks it or checks nslab's error for that case.

use super::tools::tool;
use std::process::Command;

/// Whether `sh` succeeds as root of a fresh user and network namespace.
pub fn kernel_has(sh: &str) -> bool {
    tool("unshare")
        .args(["--user", "--map-root-user", "--net", "sh", "-c", sh])
        .output()
        .expect("run unshare (util-linux)")
        .status
        .success()
}

/// Whether a link of `kind` (e.g. "macvlan mode bridge") can be made on a
/// veth.
pub fn kernel_has_link(kind: &str) -> bool {
    kernel_has(&format!(
        "ip link add p0 type veth peer name p1 && ip link add t0 link p0 type {kind}"
    ))
}

pub fn has_netem() -> bool {
    kernel_has("ip link add t0 type veth peer name t1 && tc qdisc add dev t0 root netem delay 1ms")
}

pub fn has_vlan_filtering() -> bool {
    kernel_has("ip link add b0 type bridge vlan_filtering 1")
}
