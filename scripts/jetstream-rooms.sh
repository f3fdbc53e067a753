#!/usr/bin/env bash
# Recoverable rooms on two pyre chat nodes whose histories are in JetStream,
# against the same rooms without history: one JSON line per run on stdout,
# a summary on stderr.
#
#   scripts/jetstream-rooms.sh >> results.jsonl
#   ROOMS=9800 RATE=0.5 DURATION=20s scripts/jetstream-rooms.sh
#
# Node a runs an embedded NATS server with JetStream (file storage in a
# fresh directory) on 127.0.0.1:PORT, node b connects to it; both share a
# -secret. pyre bench opens 100 connections at a time (its default).
# Then, in order:
#   1. pyre bench rooms -targets A,B -rooms $ROOMS -size-of 2 on
#      bench-history:rooms- (recorded): member 0 of every room on a, member 1
#      on b, so every message crosses NATS; join latency, push→broadcast
#      latency, loss, server CPU;
#   2. tools/jsinfo: streams and consumers in JetStream, messages and
#      subjects per history stream;
#   3. pyre bench recover -targets A,B -rooms $RECOVER_ROOMS -size-of 3
#      -missed $MISSED: 2×RECOVER_ROOMS members rejoin at once with _since;
#   4. pyre bench topics -targets A,B -conns $TOPIC_CONNS -per-conn 100 on
#      bench-history:idle- (recorded): 100 000 idle recoverable rooms by
#      default, more than the load generator could hold connections for;
#      joins/s and the nodes' RSS per room;
#   5. the nodes restarted, and steps 1 and 4 again on bench:rooms- and
#      bench:idle- (no history), for the same without history.
# Every node runs with -rate-limit 100000 -log-level warn on loopback and
# is stopped when the script ends. ROOMS×2 connections are held by one
# pyre bench process: at most about 9 900 rooms under a limit of 20 000
# open files.
#
# Environment (defaults): ROOMS=9800, RATE=0.5 (messages per second per
# room), DURATION=20s, RECOVER_ROOMS=500, MISSED=20, TOPIC_CONNS=1000,
# PYRE=bin/pyre,
# LOG=/tmp/jetstream-rooms.log, NODE_ARGS (more pyre chat flags for both
# nodes, such as -jetstream-memory), PLAIN=1 (0 skips step 4).
set -euo pipefail

[ $# -eq 0 ] || { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" >&2; exit 2; }
ROOMS=${ROOMS:-9800}
RATE=${RATE:-0.5}
DURATION=${DURATION:-20s}
RECOVER_ROOMS=${RECOVER_ROOMS:-500}
MISSED=${MISSED:-20}
TOPIC_CONNS=${TOPIC_CONNS:-1000}
NODE_ARGS=${NODE_ARGS:-}
PLAIN=${PLAIN:-1}
PYRE=${PYRE:-bin/pyre}
LOG=${LOG:-/tmp/jetstream-rooms.log}
SECRET=jetstream-rooms-bench-secret

[ -x "$PYRE" ] || { echo "jetstream-rooms: $PYRE is missing; run make build" >&2; exit 2; }
for c in curl jq go; do command -v $c >/dev/null || { echo "jetstream-rooms: needs $c" >&2; exit 2; }; done
cd "$(dirname "$0")/.."
store=$(mktemp -d /tmp/jetstream-rooms.XXXXXX)

NAME=jetstream-rooms
# shellcheck source=scripts/lib/servers.sh
. scripts/lib/servers.sh
trap 'stop_servers; rm -rf "$store"' EXIT
trap 'exit 130' INT TERM

start_node() {
	local port=$1
	shift
	# shellcheck disable=SC2086 # NODE_ARGS is a list of flags
	start_bg "$PYRE" chat -addr "127.0.0.1:$port" -secret "$SECRET" -rate-limit 100000 -log-level warn -admin-key k "$@" $NODE_ARGS
}

# start_pair HISTORY starts node a (embedded NATS, JetStream in $store when
# HISTORY is 1) and node b, and sets A, B, PIDS.
start_pair() {
	free_port pa
	free_port pb
	free_port pn
	local js_a=() js_b=()
	if [ "$1" = 1 ]; then js_a=(-jetstream "$store") js_b=(-jetstream on); fi
	start_node "$pa" -node a -nats embedded -nats-listen "127.0.0.1:$pn" "${js_a[@]}"
	healthy "$pa" "${pids[0]}"
	start_node "$pb" -node b -nats "nats://127.0.0.1:$pn" "${js_b[@]}"
	healthy "$pb" "${pids[1]}"
	A=http://127.0.0.1:$pa B=http://127.0.0.1:$pb PIDS=${pids[0]},${pids[1]} NATS=nats://127.0.0.1:$pn
}

rooms() {
	"$PYRE" bench rooms -json -targets "$A,$B" -pid "$PIDS" -rooms "$ROOMS" -size-of 2 -rate "$RATE" \
		-duration "$DURATION" -limit 10m "$@"
}

start_pair 1
hist=$(rooms -topic bench-history:rooms- -label pyre-jetstream)
echo "$hist"
info=$(go run ./tools/jsinfo -nats "$NATS" -json)
echo "$info"
rec=$("$PYRE" bench recover -json -targets "$A,$B" -pid "$PIDS" -rooms "$RECOVER_ROOMS" -size-of 3 -missed "$MISSED" -limit 5m -label pyre-jetstream)
echo "$rec"
topics() {
	"$PYRE" bench topics -json -targets "$A,$B" -pid "$PIDS" -conns "$TOPIC_CONNS" -per-conn 100 -limit 10m "$@"
}
idle=$(topics -topic bench-history:idle- -label pyre-jetstream)
echo "$idle"
info2=$(go run ./tools/jsinfo -nats "$NATS" -json)
echo "$info2"
stop_servers

plain= idle_plain=
if [ "$PLAIN" = 1 ]; then
	start_pair 0
	plain=$(rooms -topic bench:rooms- -label pyre-plain)
	echo "$plain"
	idle_plain=$(topics -topic bench:idle- -label pyre-plain)
	echo "$idle_plain"
fi

{
	echo "rooms $ROOMS×2 over two nodes, history in JetStream vs none:"
	for r in "$hist" ${plain:+"$plain"}; do
		jq -r 'def ms: . / 100 | floor / 10; "  \(.label): joined \(.joined), setup \(.setup_s) s (\((.joined / .setup_s) | floor) joins/s), join p50 \(.join_latency.p50_us | ms) ms p99 \(.join_latency.p99_us | ms) ms; delivered \(.received)/\(.expected), lost \(.lost), push→broadcast p50 \(.latency.p50_us | ms) ms p99 \(.latency.p99_us | ms) ms; server CPU \(.server_cpu_s) s, RSS \(.server_rss_kib) KiB"' <<<"$r"
	done
	jq -r '"  JetStream: \(.streams) streams, \(.consumers) consumers; " + ([.history[] | "\(.name) \(.msgs) msgs \(.subjects) subjects"] | join(", "))' <<<"$info"
	for r in "$idle" ${idle_plain:+"$idle_plain"}; do
		jq -r '"  \(.label) idle rooms: \(.joined) joined, \(.failed) failed, \(.joins_per_s | floor) joins/s, join p99 \(.join.p99_us / 1000 | floor) ms, nodes RSS \(.rss_before_kib) → \(.rss_after_kib) KiB = \(.rss_per_topic_b | floor) B per room"' <<<"$r"
	done
	jq -r '"  JetStream after the idle rooms: \(.streams) streams, \(.consumers) consumers"' <<<"$info2"
	jq -r '"  recover: \(.rejoins) rejoins, \(.recovered) recovered, \(.not_recovered) told to resync, \(.failed) failed; replayed \(.replayed)/\(.expected), lost \(.lost), dups \(.duplicates), reordered \(.reordered); all in \(.all_in_s) s, rejoin p99 \(.rejoin.p99_us / 1000 | floor) ms"' <<<"$rec"
} >&2
