#!/usr/bin/env bash
# Across machines (issue 25), by simulation: two "machines" m1 and m2, each a
# network namespace with a mount and UTS namespace of its own, joined by an
# underlay bridge (192.0.2.0/24), as tests/suite/machines.rs builds them; the
# agent on m2, the script on m1. Everything happens in a fresh private host
# (unshare --net --mount), so nothing touches this machine's network.
#
#   bench/machines.sh [--nslab PATH] [--calls N] [--star 10,50] [--runs K]
#
# remote-N (bench/remote.rhai): N addr and N exec calls on a namespace on m2
# against the same on a namespace on m1, in one run: prints both times and
# the ratio. star-N (bench/star.rhai): the star with every even host on m2
# (--set far=m2) against the same star all on m1, alternating, K runs each;
# prints `phase build` of each and the ratio of their medians.
# Needs root (or user namespaces: it maps root), ip, unshare, nsenter, ss.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nslab="" calls=200 star="10,50" runs=3
while [ $# -gt 0 ]; do
  case $1 in
    --nslab) nslab=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --star) star=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--nslab PATH] [--calls N] [--star 10,50|0] [--runs K]" >&2; exit 2 ;;
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
    "$0" --calls "$calls" --star "$star" --runs "$runs"
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
machine m2 192.0.2.2
on m2 "exec \"$NSLAB\" agent --listen 192.0.2.2:7600 --token-file token --grace-ms 100" 2> agent.err &
AG=$!
trap 'rc=$?; kill $AG 2>/dev/null; wait $AG 2>/dev/null || true; exit $rc' EXIT
for _ in $(seq 250); do nsenter --net=/run/netns/m2 ss -ltn | grep -q 7600 && break; sleep 0.02; done
far=(--set far=m2 --machines m2=192.0.2.2:7600 --token-file token)

if [ "$calls" -gt 0 ]; then
  echo "remote-$calls: $calls calls on a namespace on m2 against one on m1, one run (seconds)"
  (on m1 "\"$NSLAB\" run \"$here/remote.rhai\" --set n=$calls ${far[*]}")
fi

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
IFS=, read -ra sizes <<< "$star"
for n in "${sizes[@]}"; do
  [ "$n" -gt 0 ] || continue
  : > one.$n; : > two.$n
  for k in $(seq "$runs"); do
    # Alternate which goes first, so a busy spell does not land on one side only.
    for which in $([ $((k % 2)) = 1 ] && echo "one two" || echo "two one"); do
      if [ $which = one ]; then set --; else set -- "${far[@]}"; fi
      if ! (on m1 "\"$NSLAB\" run \"$here/star.rhai\" --set n=$n $*") > star.out 2>&1 \
        || ! grep -q '^ping failures 0$' star.out; then
        echo "star-$n ($which) failed:" >&2; cat star.out >&2; exit 1
      fi
      b=$(awk '/^phase build/ {print $3}' star.out)
      echo "$b" >> $which.$n
    done
  done
  o=$(median < one.$n) t=$(median < two.$n)
  echo "star-$n build: one machine $(paste -sd' ' one.$n) (median $o); split over two $(paste -sd' ' two.$n) (median $t); ratio $(awk "BEGIN {printf \"%.2f\", $t / $o}")"
done
