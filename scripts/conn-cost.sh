#!/usr/bin/env bash
# What an idle connection costs: one pyre chat, a storm of CONNS WebSocket
# connections each joined to its own room and held, and, while they are
# held, the server's RSS and (PROFILE=1) a heap profile that samples every
# allocation. One JSON line per run on stdout (the storm's report with the
# held figures added); the profile and the runtime's memory statistics in
# OUT.
#
#   scripts/conn-cost.sh                       # RSS only, Go's defaults
#   PROFILE=1 OUT=/tmp/cc scripts/conn-cost.sh # and a heap profile
#   SERVER_ARGS='-memory-limit off' scripts/conn-cost.sh
#
# The server is
#   pyre chat -addr 127.0.0.1:PORT -rate-limit 100000 -max-sockets-per-user 0 \
#     -log-level warn -admin-key k $SERVER_ARGS
# with, for PROFILE=1, GODEBUG=memprofilerate=1 in its environment (every
# allocation sampled from the first one on) and -pprof 127.0.0.1:PPORT. The
# load is
#   pyre bench storm -json -target http://127.0.0.1:PORT -pid PID -conns $CONNS -hold $HOLD
# Once every connection is open (the server holds CONNS more descriptors)
# and SETTLE has passed, the script reads VmRSS and, with PROFILE=1, saves
#   OUT/heap0.pb.gz    GET /debug/pprof/heap?gc=1, before the storm
#   OUT/heap.pb.gz     GET /debug/pprof/heap?gc=1
#   OUT/heap.txt       GET /debug/pprof/heap?gc=1&debug=1 (MemStats at its end)
#   OUT/goroutines.txt GET /debug/pprof/goroutine?debug=1
# Read the profiles with
#   go tool pprof -sample_index=inuse_space -top -nodefraction=0 PYRE OUT/heap.pb.gz
# or sum them by owner, per connection (a second column: the part allocated
# on a channel's join path, the channel side):
#   for p in heap0 heap; do go tool pprof -sample_index=inuse_space -traces PYRE OUT/$p.pb.gz >OUT/$p.traces; done
#   go run ./tools/heapowners -conns $CONNS -base OUT/heap0.traces OUT/heap.traces
#
# Environment (defaults): PYRE=bin/pyre, CONNS=10000, HOLD=30s, SETTLE=5s,
# PROFILE=0, OUT=/tmp/conn-cost, SERVER_ARGS, SERVER_ENV (VAR=value … for
# the server), LOG=/tmp/conn-cost.log.
set -euo pipefail

[ $# -eq 0 ] || { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" >&2; exit 2; }
PYRE=${PYRE:-bin/pyre}
CONNS=${CONNS:-10000}
HOLD=${HOLD:-30s}
SETTLE=${SETTLE:-5}
SETTLE=${SETTLE%s}
PROFILE=${PROFILE:-0}
OUT=${OUT:-/tmp/conn-cost}
SERVER_ARGS=${SERVER_ARGS:-}
SERVER_ENV=${SERVER_ENV:-}
LOG=${LOG:-/tmp/conn-cost.log}

[ -x "$PYRE" ] || { echo "conn-cost: $PYRE is missing; run make build" >&2; exit 2; }
for c in curl jq; do command -v $c >/dev/null || { echo "conn-cost: needs $c" >&2; exit 2; }; done
mkdir -p "$OUT"

NAME=conn-cost
# shellcheck source=scripts/lib/servers.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/servers.sh"
storm=
trap 'stop_servers; [ -z "$storm" ] || kill "$storm" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

free_port port
env=() prof=()
# shellcheck disable=SC2206 # SERVER_ENV is a list of assignments
[ -z "$SERVER_ENV" ] || env=($SERVER_ENV)
if [ "$PROFILE" = 1 ]; then
	free_port pport
	env+=(GODEBUG=memprofilerate=1)
	prof=(-pprof "127.0.0.1:$pport")
fi
# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags
start_bg env "${env[@]}" "$PYRE" chat -addr "127.0.0.1:$port" -rate-limit 100000 -max-sockets-per-user 0 \
	-log-level warn -admin-key k "${prof[@]}" $SERVER_ARGS
pid=${pids[0]}
healthy "$port" "$pid"

fds() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
base_fds=$(fds)
base_rss=$(rss)
[ "$PROFILE" != 1 ] || curl -fsS -o "$OUT/heap0.pb.gz" "http://127.0.0.1:$pport/debug/pprof/heap?gc=1"
report=$(mktemp)
"$PYRE" bench storm -json -target "http://127.0.0.1:$port" -pid "$pid" -conns "$CONNS" -hold "$HOLD" >"$report" &
storm=$!
end=$((SECONDS + 120))
while [ "$(fds)" -lt $((base_fds + CONNS)) ]; do
	kill -0 "$storm" 2>/dev/null && [ "$SECONDS" -lt "$end" ] || { echo "conn-cost: the connections did not all open" >&2; exit 1; }
	sleep 0.2
done
sleep "$SETTLE"
held_rss=$(rss)
if [ "$PROFILE" = 1 ]; then
	curl -fsS -o "$OUT/heap.pb.gz" "http://127.0.0.1:$pport/debug/pprof/heap?gc=1"
	curl -fsS -o "$OUT/heap.txt" "http://127.0.0.1:$pport/debug/pprof/heap?gc=1&debug=1"
	curl -fsS -o "$OUT/goroutines.txt" "http://127.0.0.1:$pport/debug/pprof/goroutine?debug=1"
fi
wait "$storm"
storm=
jq -c --argjson conns "$CONNS" --argjson b "$base_rss" --argjson h "$held_rss" \
	'. + {base_rss_kib: $b, held_rss_kib: $h, held_kib_per_conn: ((($h - $b) / $conns) * 100 | round / 100)}' "$report"
rm -f "$report"
