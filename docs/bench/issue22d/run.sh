#!/usr/bin/env bash
# Issue 22's last sitting: owners, harness storms, conn-cost pairs, 19 000
# held, throughput. B: the base binary, A: the binary under test (absolute
# paths); results under /tmp/s22.
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
mkdir -p /tmp/s22
B=${B:?B=/path/to/base/pyre}; A=${A:-$ROOT/bin/pyre}
H=$(cd ../shared/bench && pwd)
args="chat -addr {ADDR} -admin-key k -log-level warn -rate-limit 100000 -max-sockets-per-user 0"
echo "== owners $(date -u +%T)"
PYRE=$A PROFILE=1 OUT=/tmp/s22/cc HOLD=8s SETTLE=3 LOG=/tmp/s22/cc.log scripts/conn-cost.sh > /tmp/s22/cc.json
echo "== storm $(date -u +%T)"
cd $H
for t in "rawceil rawceil" "$B $args|base" "$A $args|after" "$A $args -memory-limit 100MiB|after-ml100" "$A $args -memory-limit 90MiB|after-ml90" "rawceil rawceil" "$A $args|after" "$B $args|base"; do
  if [[ $t == rawceil* ]]; then SCENARIOS=storm OUT=/tmp/s22/h ./run.sh rawceil rawceil 2>/dev/null | grep '^storm'
  else cmd=${t%|*}; name=${t#*|}; SCENARIOS=storm OUT=/tmp/s22/h ./run.sh "$cmd" "$name" 2>/dev/null | grep '^storm'; fi
done
cd "$ROOT"
echo "== conn-cost pairs $(date -u +%T)"
for i in 1 2; do for p in $B $A; do PYRE=$p HOLD=8s SETTLE=3 LOG=/tmp/s22/cp.log scripts/conn-cost.sh | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print('$p', d['held_kib_per_conn'], d['server_cpu_s'], round(d['joins_per_s']))"; done; done
echo "== hold 19000 $(date -u +%T)"
for ml in "" "-memory-limit 165MiB"; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  $A chat -addr 127.0.0.1:$port -rate-limit 100000 -max-sockets-per-user 0 -log-level warn $ml >/tmp/s22/hold.log 2>&1 & pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
  ulimit -n 20000
  $A bench storm -json -target http://127.0.0.1:$port -conns 19000 -src-ips 4 -hold 60s -pid $pid > /tmp/s22/hold-${ml:+ml}.json 2>/tmp/s22/hold-err.log
  python3 -c "import json; d=json.load(open('/tmp/s22/hold-${ml:+ml}.json')); print('hold $ml', {k:d.get(k) for k in ('joined','still_open','joins_per_s','server_cpu_s','rss_per_conn_kib','held_kib_per_conn')})"
  kill $pid; wait $pid 2>/dev/null
done
echo "== throughput $(date -u +%T)"
cd $H
for t in "rawceil|rawceil" "$B $args|base" "$A $args|after" "$B $args|base" "$A $args|after"; do
  cmd=${t%|*}; name=${t#*|}
  SCENARIOS="fanout rate ping" FANOUT_RUNS=1 FANOUT_SECS=20 PING_SECS=10 OUT=/tmp/s22/t ./run.sh "$cmd" "$name" 2>/dev/null | grep -E '^(fanout|rate|ping)'
done
echo "== done $(date -u +%T)"
