#!/usr/bin/env bash
# Across machines (issue 25), by simulation: two "machines" m1 and m2, each a
# network namespace with a mount and UTS namespace of its own, joined by an
# underlay bridge (192.0.2.0/24), as tests/suite/machines.rs builds them; the
# agent on m2, the script on m1. Everything happens in a fresh private host
# (unshare --net --mount), so nothing touches this machine's network.
#
#   bench/machines.sh [--nslab PATH] [--calls N] [--star 10,50] [--runs K] [--split 2,4]
#
# remote-N (bench/remote.rhai): N addr and N exec calls on a namespace on m2
# against the same on a namespace on m1, in one run: prints both times and
# the ratio. star-N (bench/star.rhai): the star all on m1 against the same
# star with its hosts dealt over 2 machines (every even host on m2: --set
# far=m2) and over 4 (--set far=m2,m3,m4), in turn, K runs each; prints
# `phase build` of each, the mean round trip of h1's pings to h2 (on m2 when
# split: between machines), and the ratios of the medians to one machine's.
# Needs root (or user namespaces: it maps root), ip, unshare, nsenter, ss.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nslab="" calls=200 star="10,50" runs=3 split="2"
while [ $# -gt 0 ]; do
  case $1 in
    --nslab) nslab=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --star) star=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    *) echo "usage: $0 [--nslab PATH] [--calls N] [--star 10,50|0] [--runs K] [--split 2,4]" >&2; exit 2 ;;
  esac
done
if [ -z "${NSLAB_MACHINES_INSIDE:-}" ]; then
  if [ -z "$nslab" ]; then
    (cd "$here/.." && cargo build --release -q)
    nslab="$here/../target/release/nslab"
  fi
  nslab=$(realpath "$nslab")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  flags=(--unshare-mount) ; [ "$(id -u)" = 0 ] || flags=(--map-root-user)
  NSLAB_MACHINES_INSIDE=1 NSLAB="$nslab" WORK="$work" \
    unshare --user --map-root-user --net --mount --propagation private \
    "$0" --calls "$calls" --star "$star" --runs "$runs" --split "$split"
  exit $?
fi

# Inside the private host.
mount -t tmpfs tmpfs /run && mkdir -p /run/netns
ip link set lo up
cd "$WORK"
head -c 32 /dev/urandom | base64 > token
ip link add ul type bridge && ip link set ul up
machine() {
  ip netns add "$1"
  ip link add "u-$1" type veth peer name eth0 netns "$1"
  ip link set "u-$1" master ul up
  ip -n "$1" addr add "$2/24" dev eth0
  ip -n "$1" link set eth0 up; ip -n "$1" link set lo up
}
# on MACHINE CMD: CMD on that machine; execs, so only in a subshell or background.
on() { local m=$1; shift; exec nsenter --net=/run/netns/$m unshare --mount --uts --propagation private sh -c "mount -t tmpfs tmpfs /run && mkdir -p /run/netns && hostname $m && $*"; }
machine m1 192.0.2.1
agents=()
for k in 2 3 4; do
  machine m$k 192.0.2.$k
  on m$k "exec \"$NSLAB\" agent --listen 192.0.2.$k:7600 --token-file token --grace-ms 100" 2> agent-m$k.err &
  agents+=($!)
done
trap 'rc=$?; kill ${agents[*]} 2>/dev/null; wait ${agents[*]} 2>/dev/null || true; exit $rc' EXIT
for k in 2 3 4; do
  for _ in $(seq 250); do nsenter --net=/run/netns/m$k ss -ltn | grep -q 7600 && break; sleep 0.02; done
done
all=(--machines m2=192.0.2.2:7600,m3=192.0.2.3:7600,m4=192.0.2.4:7600 --token-file token)
far=(--set far=m2 "${all[@]}")

if [ "$calls" -gt 0 ]; then
  echo "remote-$calls: $calls calls on a namespace on m2 against one on m1, one run (seconds)"
  (on m1 "\"$NSLAB\" run \"$here/remote.rhai\" --set n=$calls ${far[*]}")
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# The machines a star is dealt over: 1 is m1 alone.
places() { case $1 in 1) echo "" ;; 2) echo m2 ;; 3) echo m2,m3 ;; 4) echo m2,m3,m4 ;; esac; }
IFS=, read -ra sizes <<< "$star"
IFS=, read -ra splits <<< "1,$split"
for n in "${sizes[@]}"; do
  [ "$n" -gt 0 ] || continue
  for m in "${splits[@]}"; do : > build.$n.$m; : > rtt.$n.$m; done
  for k in $(seq "$runs"); do
    # Turn which goes first, so a busy spell does not land on one side only.
    order=("${splits[@]}")
    for _ in $(seq $(( (k - 1) % ${#splits[@]} ))); do order=("${order[@]:1}" "${order[0]}"); done
    for m in "${order[@]}"; do
      if [ "$m" = 1 ]; then set --; else set -- --set far=$(places $m) "${all[@]}"; fi
      if ! (on m1 "\"$NSLAB\" run \"$here/star.rhai\" --set n=$n --set ipv6=off --set rtt=20 --set pings=$(( n > 100 ? 100 : n - 1 )) $*") > star.out 2>&1 \
        || ! grep -q '^ping failures 0$' star.out; then
        echo "star-$n (over $m) failed:" >&2; cat star.out >&2; exit 1
      fi
      awk '/^phase build/ {print $3}' star.out >> build.$n.$m
      awk '/^rtt h1-h2/ {print $3}' star.out >> rtt.$n.$m
    done
  done
  b1=$(median < build.$n.1) r1=$(median < rtt.$n.1)
  for m in "${splits[@]}"; do
    b=$(median < build.$n.$m) r=$(median < rtt.$n.$m)
    list() { awk '{printf "%s%.3f", (NR > 1 ? " " : ""), $1}' "$1"; }
    echo "star-$n over $m machine(s): build $(list build.$n.$m) s (median $(awk "BEGIN {printf \"%.3f\", $b}"), ratio $(awk "BEGIN {printf \"%.2f\", $b / $b1}")); rtt h1-h2 $(list rtt.$n.$m) ms (median $(awk "BEGIN {printf \"%.3f\", $r}"), ratio $(awk "BEGIN {printf \"%.2f\", $r / $r1}"))"
  done
done
