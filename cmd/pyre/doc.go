// Command pyre is the one binary of pyre's examples: it serves the chat
// and donations applications and load-tests Phoenix Channels servers.
//
//	pyre chat      -addr 127.0.0.1:4000 -admin-key KEY [-secret S] [-node N] [-nats embedded|nats://host:4222,...]
//	pyre donations -addr 127.0.0.1:4000 -admin-key KEY [-secret S] [-refresh 5s] [-assets DIR]
//	pyre bench     storm|reconnect|fanout|rooms|recover|topics|ping|presence -target http://127.0.0.1:4000 [-json] [mode flags]
//
// Every command prints its flags with -h (pyre bench MODE -h for a mode).
//
// # Serving
//
// chat serves examples/chat: rooms, presence, typing and notifications for
// the official phoenix.js client, with the page at /. The page's
// phoenix.mjs is in the binary however it is built (go install included):
// the repository carries npm's copy; -assets DIR serves another one, from
// a directory holding phoenix.mjs such as npm's
// node_modules/phoenix/priv/static. donations serves
// examples/donations: live campaign totals, an admin dashboard, restart
// policies and a supervision tree, with its own page at / (donors online,
// each campaign's progress, a feed of donations and the worker's
// restarts), whose phoenix.mjs is the same copy, -assets included.
//
// Both listen on -addr (loopback by default), log JSON lines to stderr at
// -log-level, and on SIGINT or SIGTERM stop accepting, drain their sockets
// for at most -drain (clients are closed with 1012 and reconnect) and exit.
// -admin-key guards the admin endpoints, which are off without it; -secret
// signs login tokens (random per process when empty, so tokens do not
// survive a restart or work on another node). Both admit new connections
// at -admit-rate a second (in bursts of -admit-burst) and answer the
// excess with 503 and Retry-After, so that the clients of a drained node,
// which phoenix.js brings back all at once, come in at a pace the node
// keeps up with.
//
// Every flag can also be set by an environment variable: PYRE_ and the
// flag's name in capitals, dashes as underscores (PYRE_ADMIN_KEY for
// -admin-key, PYRE_ADMIT_RATE for -admit-rate); a flag on the command line
// wins over its variable. pyre help chat (or pyre chat -h) lists the flags
// in groups, each with its variable. At -log-level debug the effective
// configuration is logged at start-up, secrets redacted.
//
// chat alone runs as a cluster. -nats "" (the default) is a single node;
// -nats embedded runs a NATS server inside the process on -nats-listen;
// -nats nats://a:4222,nats://b:4222 joins a NATS cluster (with
// -nats-creds, -nats-user/-nats-password, -nats-token and the -nats-tls-*
// files as that cluster needs). Nodes need unique names (-node) and one
// -secret (-nats without one refuses to start). -jetstream DIR keeps the
// rooms' history in NATS JetStream, so a client that reconnects to any
// node gets what it missed: with -nats embedded DIR is where the embedded
// server stores it (-jetstream-memory keeps it in memory instead); against
// a NATS cluster any value turns it on, and the command refuses to start
// if JetStream is off there. chat also takes a per-socket -rate-limit (10
// events a second by default), the -max-queue and
// -write-timeout that close slow clients, -presence-window (100 ms: how
// long a busy room's presence changes gather into one diff),
// -presence-window-max (400 ms: how long that window may grow in a big
// room, 50 µs a user), and -pprof ADDR to serve net/http/pprof on a
// listener of its own.
//
// # Load testing
//
// bench drives a pyre or Phoenix server on this machine over WebSocket
// with V2 JSON frames, through package loadgen:
//
//   - storm opens -conns connections that each join a topic, and reports
//     joins per second, connect-and-join latency and failures;
//   - fanout has one publisher and -subs subscribers on one topic, paced by
//     -rate or by a -window of messages in flight, and reports deliveries
//     per second, loss, reordering and latency; -slow K subscribers stop
//     reading, to see what the server does with slow consumers;
//   - ping runs -clients closed-loop round trips and reports replies per
//     second and round-trip time.
//
// Runs are bounded by their counts, their -duration and a hard -limit, and
// the -target must be a loopback address. The server must hand out tokens
// on POST /api/login (or take -token T or -no-login), answer "ping" with
// its payload and rebroadcast "bench"; pyre chat does, started with
// -rate-limit 100000 (its default, a person's pace, would refuse most of a
// benchmark's pushes). -json prints one
// JSON line instead of the summary. BENCHMARKS.md has figures and the
// commands behind them.
package main
