#!/usr/bin/env bash
# routers-N by hand: what bench/routers.rhai does, the way the FRR tutorials
# do it: `ip netns add`, veths, `ip netns exec` + `unshare --mount` with
# FRR's directories bind-mounted from a private copy per router, zebra,
# staticd and ospfd daemonized (-d), convergence by polling `ip route`.
#
#   bench/routers.sh N [TIMEOUT_S]
#
# Run as root in a private host that has the machine's users (FRR's daemons
# switch to user frr) and its own /run and /var/tmp: bench/run does that.
# Prints `phase build|start|converge|reach S` and `rss KIB ANON DAEMONS` like
# bench/routers.rhai; the reach phase pings every other router's loopback
# from each router's loopback, one `ping` per pair, the routers in parallel.
set -u
n=${1:?usage: routers.sh N [TIMEOUT_S]}
limit=${2:-300}
FRR=/usr/lib/frr
# Under the private host's own /run: nothing is left on the machine, even if killed.
dir=$(mktemp -d /run/routers.XXXXXX)

phase() { # NAME START_US
    local now=${EPOCHREALTIME/[.,]/}
    local us=$((now - $2))
    printf 'phase %s %d.%06d\n' "$1" $((us / 1000000)) $((us % 1000000))
}
lo_ip() { echo "10.255.$(($1 / 256)).$(($1 % 256))"; }
link_net() { echo "10.$((1 + $1 / 256)).$(($1 % 256))"; }

teardown() {
    local pids=() k f
    for k in $(seq 1 "$n"); do
        for f in "$dir/r$k/run/"*.pid; do
            [ -f "$f" ] && pids+=("$(cat "$f")")
        done
    done
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
    # Until they are gone (their mount namespaces go with them).
    for _ in $(seq 1 200); do
        kill -0 "${pids[@]}" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "${pids[@]}" 2>/dev/null
    for k in $(seq 1 "$n"); do ip netns del "r$k" 2>/dev/null; done
    rm -rf "$dir"
}
trap teardown EXIT

fail() { echo "routers.sh: $*" >&2; exit 1; }

t=${EPOCHREALTIME/[.,]/}
for k in $(seq 1 "$n"); do
    ip netns add "r$k" || fail "ip netns add r$k"
    ip -n "r$k" link set lo up
    ip -n "r$k" addr add "$(lo_ip "$k")/32" dev lo
    ip netns exec "r$k" sysctl -qw net.ipv4.ip_forward=1
done
for k in $(seq 1 "$n"); do
    next=$((k == n ? 1 : k + 1))
    net=$(link_net "$k")
    ip link add e netns "r$k" type veth peer w netns "r$next" || fail "veth r$k-r$next"
    ip -n "r$k" addr add "$net.1/30" dev e
    ip -n "r$next" addr add "$net.2/30" dev w
    ip -n "r$k" link set e up
    ip -n "r$next" link set w up
done
phase build "$t"

t=${EPOCHREALTIME/[.,]/}
mkdir -p /var/run/frr /var/tmp/frr
for k in $(seq 1 "$n"); do
    d=$dir/r$k
    mkdir -p "$d/etc" "$d/run" "$d/tmp"
    {
        echo "hostname r$k"
        for i in e w; do
            printf 'interface %s\n ip ospf network point-to-point\n ip ospf hello-interval 1\n' "$i"
            printf ' ip ospf dead-interval 3\n ip ospf retransmit-interval 1\n'
        done
        printf 'router ospf\n ospf router-id %s\n network 10.0.0.0/8 area 0\n' "$(lo_ip "$k")"
    } > "$d/etc/frr.conf"
    echo "service integrated-vtysh-config" > "$d/etc/vtysh.conf"
    chown -R frr:frr "$d"
    # zebra first: the others connect to its socket as they start.
    ip netns exec "r$k" unshare --mount --propagation private sh -c '
        mount --bind "$1/etc" /etc/frr && mount --bind "$1/run" /var/run/frr &&
        mount --bind "$1/tmp" /var/tmp/frr || exit 1
        for d in zebra staticd ospfd; do
            /usr/lib/frr/$d -d -A 127.0.0.1 -f /etc/frr/frr.conf 2>>"$1/daemons.log" || exit 1
            [ $d = zebra ] || continue
            i=0
            while [ ! -S /var/run/frr/zserv.api ]; do
                i=$((i + 1)); [ $i -gt 1200 ] && exit 1
                sleep 0.05
            done
        done' sh "$d" || fail "FRR in r$k did not start: $(tail -3 "$d/daemons.log")"
done
for k in $(seq 1 "$n"); do
    until ip netns exec "r$k" unshare --mount --propagation private sh -c \
        'mount --bind "$1/run" /var/run/frr && vtysh -c "show version"' sh "$dir/r$k" >/dev/null 2>&1; do
        [ "$(( (${EPOCHREALTIME/[.,]/} - t) / 1000000 ))" -gt "$limit" ] && fail "vtysh in r$k does not answer"
        sleep 0.1
    done
done
phase start "$t"

t=${EPOCHREALTIME/[.,]/}
for k in $(seq 1 "$n"); do
    until [ "$(ip -n "r$k" route show proto ospf | grep -c '^10\.255\.')" -eq $((n - 1)) ]; do
        [ "$(( (${EPOCHREALTIME/[.,]/} - t) / 1000000 ))" -gt "$limit" ] && fail "r$k did not learn every loopback"
        sleep 0.05
    done
done
phase converge "$t"

files=()
for k in $(seq 1 "$n"); do
    for f in "$dir/r$k/run/"{zebra,staticd,ospfd}.pid; do files+=("/proc/$(cat "$f")/status"); done
done
echo "rss $(awk '/^VmRSS:/ { s += $2 } /^RssAnon:/ { a += $2 } END { print s, a }' "${files[@]}") ${#files[@]}"

t=${EPOCHREALTIME/[.,]/}
while :; do
    for k in $(seq 1 "$n"); do
        ip netns exec "r$k" sh -c '
            for j in $(seq 1 "$2"); do
                [ "$j" = "$1" ] && continue
                ping -c1 -W2 -I "10.255.$(($1 / 256)).$(($1 % 256))" "10.255.$((j / 256)).$((j % 256))" >/dev/null ||
                    echo "lost r$1 -> r$j"
            done' sh "$k" "$n" &
    done > "$dir/lost"
    wait
    [ -s "$dir/lost" ] || break
    [ "$(( (${EPOCHREALTIME/[.,]/} - t) / 1000000 ))" -gt "$limit" ] && fail "pings lost: $(head -3 "$dir/lost")"
done
phase reach "$t"
