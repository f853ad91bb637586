#!/usr/bin/env bash
# star-N the tutorial way: one `ip` command per step, as a shell script.
#
#   bench/star.sh N [PINGS [IPV6]]
#
# Same topology as bench/star.rhai: namespace sw with bridge br0; namespaces
# h1..hN, each with eth0 (10.0.X.Y/16, from i) joined by a veth to pI in sw,
# attached to br0; lo up everywhere. Then h1 pings h2..h(PINGS+1) once
# (PINGS defaults to N-1); then `ip netns del` for each namespace. Prints
# `phase build S`, `phase pings S` and `ping failures K` like the others.
# IPV6: on (the default) as nslab: the hosts' eth0 have IPv6, the bridge
# ports none (their address generation set to none before they come up);
# kernel: every link as the kernel has it; off: IPv6 disabled in every
# namespace before its links exist (as `star.rhai --set ipv6=off` does).
# Past 1000 hosts, every further 1000 go on a bridge of their own, joined to
# br0 by a veth, as topo::star does.
#
# It changes the network of wherever it runs: bench/run runs it only inside
# a private, throwaway host (unshare --user --net --mount).
set -euo pipefail
n=${1:?usage: star.sh N [PINGS]}
pings=${2:-$((n - 1))}
ipv6=${3:-on}

# $EPOCHREALTIME (bash 5) has 6 decimals: microseconds without forking `date`
# (and no command substitution below either: each would fork a subshell, which
# would be charged to the workload).
phase() { # NAME START_US
    local now=${EPOCHREALTIME/[.,]/}
    local us=$((now - $2))
    printf 'phase %s %d.%06d\n' "$1" $((us / 1000000)) $((us % 1000000))
}

t=${EPOCHREALTIME/[.,]/}
ip netns add sw
[ "$ipv6" != off ] || ip netns exec sw sysctl -qw net.ipv6.conf.default.disable_ipv6=1
ip -n sw link set lo up
ip -n sw link add br0 type bridge
ip -n sw link set br0 up
# A new port, into bridge $2 and up; with ipv6=on without IPv6 of its own.
port() {
    [ "$ipv6" != on ] || ip -n sw link set "$1" addrgenmode none
    ip -n sw link set "$1" master "$2"
    ip -n sw link set "$1" up
}
for ((i = 1; i <= n; i++)); do
    k=$(((i - 1) / 1000))
    if ((k > 0 && (i - 1) % 1000 == 0)); then
        ip -n sw link add "br$k" type bridge
        ip -n sw link set "br$k" up
        ip -n sw link add "up$k" type veth peer name "dn$k"
        port "up$k" br0
        port "dn$k" "br$k"
    fi
    ip netns add "h$i"
    [ "$ipv6" != off ] || ip netns exec "h$i" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
    ip -n "h$i" link set lo up
    ip -n "h$i" link add eth0 type veth peer name "p$i" netns sw
    port "p$i" "br$k"
    ip -n "h$i" addr add "10.0.$((i / 256)).$((i % 256))/16" dev eth0
    ip -n "h$i" link set eth0 up
done
phase build "$t"

t=${EPOCHREALTIME/[.,]/}
failures=0
for ((i = 2; i <= pings + 1; i++)); do
    ip4="10.0.$((i / 256)).$((i % 256))"
    if ! ip netns exec h1 ping -c 1 -W 1 -q "$ip4" >/dev/null; then
        failures=$((failures + 1))
        echo "ping h1 -> h$i ($ip4) failed"
    fi
done
phase pings "$t"
echo "ping failures $failures"

ip netns del sw
for ((i = 1; i <= n; i++)); do
    ip netns del "h$i"
done
[ "$failures" -eq 0 ]
