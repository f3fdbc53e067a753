#!/bin/sh
# Runs a server while scraping its Prometheus metrics every second, the way
# BENCHMARKS.md measures the cost of metrics ("Metrics on and off"):
#
#   scripts/scrape-while.sh ADDR COMMAND [ARGS...]
#
# GET http://ADDR/metrics is fetched every second for as long as the server
# runs; the script then execs COMMAND, so the server keeps this process's
# id (the load harness reads the server's CPU and memory by that id) and
# the scraping stops once it exits. In a harness command line:
#
#   ../shared/bench/run.sh "$PWD/scripts/scrape-while.sh {ADDR} bin/pyre chat -addr {ADDR} -admin-key k -log-level warn -rate-limit 100000" metrics-on
addr=$1
shift
(while kill -0 $$ 2>/dev/null; do
	curl -s -o /dev/null "http://$addr/metrics"
	sleep 1
done) &
exec "$@"
