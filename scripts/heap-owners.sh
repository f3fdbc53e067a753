#!/bin/bash
# heap-owners.sh BIN LABEL PORT [CONNS]: a heap profile with every
# allocation sampled of CONNS idle connections of `pyre chat`, each joined
# to a room of its own, and the server's VmRSS at that moment. The server
# runs with GODEBUG=memprofilerate=1 and -pprof on PORT+1; the storm holds
# the connections 25 s and the profile is read 8 s after the last one is
# open. Writes OUT (default /tmp/pyre-heap)/LABEL/{heap.pb.gz,rss.txt,storm.json}.
# Run it inside the bench lock: flock /tmp/pyre-bench.lock scripts/heap-owners.sh …
# Then: scripts/heap-owners.py BIN OUT/LABEL/heap.pb.gz CONNS
set -u
bin=$1; label=$2; port=$3; n=${4:-10000}
out=${OUT:-/tmp/pyre-heap}/$label
mkdir -p "$out"
GODEBUG=memprofilerate=1 "$bin" chat -addr 127.0.0.1:$port -admin-key k -rate-limit 100000 \
	-log-level warn -pprof 127.0.0.1:$((port+1)) > "$out/server.log" 2>&1 &
spid=$!
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.2; done
"$bin" bench storm -target http://127.0.0.1:$port -pid $spid -conns $n -hold 25s -json \
	> "$out/storm.json" 2> "$out/storm.err" &
lpid=$!
took=
while kill -0 $lpid 2>/dev/null; do
	sleep 1
	if [ -z "$took" ] && [ "$(ss -tn state established "( sport = :$port )" | wc -l)" -gt "$n" ]; then
		sleep 8
		curl -s -o "$out/heap.pb.gz" "http://127.0.0.1:$((port+1))/debug/pprof/heap?gc=1"
		grep VmRSS /proc/$spid/status > "$out/rss.txt"
		took=1
	fi
done
wait $lpid
kill $spid; wait $spid 2>/dev/null
