#!/usr/bin/env bash
# 100 000 idle rooms on two pyre chat nodes, with or without history in
# JetStream: joins/s, and each node's heap after a forced GC once every
# room is joined, split into the NATS server's share (node a runs it
# embedded) and pyre's. One JSON line per run on stdout.
#
#   scripts/idle-rooms-heap.sh 1    # recoverable rooms (bench-history:idle-)
#   scripts/idle-rooms-heap.sh 0    # the same rooms without history (bench:idle-)
#
# Node a runs an embedded NATS server (JetStream on disk in a fresh
# directory when the argument is 1), node b connects to it; both serve
# net/http/pprof on loopback. pyre bench topics opens 1 000 connections of
# 100 rooms each, half on each node. When the nodes' pyre_channels_joined
# add up to 100 000, each node's /debug/pprof/heap?gc=1 is read; the NATS
# server's share is what node a's profile holds under nats-server frames
# (go tool pprof -focus nats-server). Environment: PYRE (bin/pyre), OUT (a
# directory for the profiles, default a fresh one under /tmp), LOG.
set -euo pipefail
[ $# -eq 1 ] && [[ $1 == [01] ]] || { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" >&2; exit 2; }
HIST=$1
PYRE=${PYRE:-bin/pyre}
LOG=${LOG:-/tmp/idle-rooms-heap.log}
cd "$(dirname "$0")/.."
[ -x "$PYRE" ] || { echo "idle-rooms-heap: $PYRE is missing; run make build" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/idle-rooms-heap.XXXXXX)}
mkdir -p "$OUT"
store=$(mktemp -d /tmp/idle-rooms-heap-js.XXXXXX)
SECRET=idle-rooms-heap-bench-secret
NAME=idle-rooms-heap
# shellcheck source=scripts/lib/servers.sh
. scripts/lib/servers.sh
trap 'stop_servers; [ -z "${bench:-}" ] || kill "$bench" 2>/dev/null || true; rm -rf "$store"' EXIT
trap 'exit 130' INT TERM

for v in pa pb pn qa qb; do free_port $v; done
ja=() jb=() topic=bench:idle-
if [ "$HIST" = 1 ]; then ja=(-jetstream "$store") jb=(-jetstream on) topic=bench-history:idle-; fi
node() { start_bg "$PYRE" chat -secret "$SECRET" -rate-limit 100000 -log-level warn -admin-key k "$@"; }
node -addr 127.0.0.1:$pa -node a -nats embedded -nats-listen 127.0.0.1:$pn "${ja[@]}" -pprof 127.0.0.1:$qa
healthy $pa "${pids[0]}"
node -addr 127.0.0.1:$pb -node b -nats nats://127.0.0.1:$pn "${jb[@]}" -pprof 127.0.0.1:$qb
healthy $pb "${pids[1]}"
"$PYRE" bench topics -json -targets http://127.0.0.1:$pa,http://127.0.0.1:$pb -pid "${pids[0]},${pids[1]}" \
	-conns 1000 -per-conn 100 -limit 5m -topic $topic -label "history=$HIST" >"$OUT/bench.json" &
bench=$!
joined() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^pyre_channels_joined/ { s += $2 } END { print s + 0 }'; }
while kill -0 $bench 2>/dev/null; do
	if [ $(($(joined $pa) + $(joined $pb))) -ge 100000 ]; then
		curl -s -o "$OUT/heap_a.pprof" "http://127.0.0.1:$qa/debug/pprof/heap?gc=1"
		curl -s -o "$OUT/heap_b.pprof" "http://127.0.0.1:$qb/debug/pprof/heap?gc=1"
		break
	fi
	sleep 0.3
done
wait $bench
[ -s "$OUT/heap_a.pprof" ] || { echo "idle-rooms-heap: the rooms were never all joined; see $OUT/bench.json" >&2; exit 1; }
mib() { go tool pprof -sample_index=inuse_space -top -nodefraction=0 -nodecount=1000000 "$@" 2>/dev/null |
	awk '/Showing nodes accounting/ { v = $5; sub(/,$/, "", v); u = substr(v, length(v) - 1); n = v + 0
		if (u == "kB") n /= 1024; else if (u == "GB") n *= 1024; else if (u != "MB") n /= 1048576; print n }'; }
a=$(mib "$PYRE" "$OUT/heap_a.pprof") b=$(mib "$PYRE" "$OUT/heap_b.pprof")
nats=$(mib -focus nats-server "$PYRE" "$OUT/heap_a.pprof")
jq -c --argjson a "${a:-0}" --argjson b "${b:-0}" --argjson nats "${nats:-0}" --arg out "$OUT" \
	'{label: .label, joined: .joined, failed: .failed, joins_per_s: .joins_per_s, join_p99_us: .join.p99_us, heap_a_mib: $a, heap_b_mib: $b, nats_server_mib: $nats,
	  pyre_b_per_room: ((($a - $nats) + $b) * 1048576 / .joined | floor), nats_server_b_per_room: ($nats * 1048576 / .joined | floor), profiles: $out}' "$OUT/bench.json"
