// Package donations is the example fundraising server, after the classic
// Phoenix guide app: donors watch a campaign's running total and give to it
// live on the page at /, admins watch every campaign on a dashboard.
// `pyre donations` runs it. It is written only against pyre's public
// packages and shows the parts the chat example does not: restart policies
// on a channel route, and an OTP-style supervision tree of the app's own
// actors next to the channels.
//
// # Channels
//
// campaign:<id> (any logged-in socket; id from the campaign catalogue).
// Join sends the channel an afterJoin message; its HandleInfo asks the
// ledger for the campaign and pushes campaign_state {id, name, goal,
// total, count}. new_donation {"amount": n, "donor": s} checks n (a whole
// number from 1 to MaxAmount) and s (optional, at most 64 characters),
// replying error {"errors": {field: [message]}} when either is wrong;
// otherwise the ledger records it, the push is answered ok {"total": t}
// and donation_received {donor, amount, total} is broadcast to the topic.
// crash panics on purpose. Anything else is answered error {"reason":
// "unmatched event"}.
//
// The route is Permanent (actors.WithRestart): after a crash the channel
// is restarted in place, so the client sees no phx_error, Join runs again
// and pushes a fresh campaign_state, and the client's subscription is
// never dropped. Pushes that arrive while the channel is restarting wait
// in its mailbox and are handled by the new behaviour; the push that
// crashed it gets no reply. More than three crashes within five seconds
// stop the channel for good: the client gets phx_error and rejoins by
// itself, as it would on a Temporary route.
//
// donors:live (any logged-in socket, admins too). It tracks the socket's
// user with presence (presence_state after the join, shared by the joiners
// of one PresenceWindow, presence_diff from then on) and pushes campaign_refreshed with the whole snapshot at once;
// after that it receives the announcer's campaign_refreshed like the
// dashboard. The page at / joins it, for the donors online and the
// worker's restarts.
//
// dashboard:live (admin sockets only). It tracks the admin with presence
// (presence_state after the join, presence_diff from then on), receives
// campaign_refreshed, and answers crash_worker by crashing the announcer
// (see below).
//
// # Who is an admin
//
// Every socket connects with a token, as phoenix.js's authToken option or
// the "token" param. POST /api/login {"user"}
// issues a user token to anyone. POST /api/admin-login {"user"}, with the
// header "Authorization: Bearer <admin key>", issues an admin token. Both
// are signed with the app secret but under different salts ("user socket"
// and "admin socket"), so neither verifies as the other. The socket's
// Connect callback tries both and records the outcome in the socket's
// assigns ("admin": true or false); dashboard:live refuses a join with
// {"reason": "unauthorized"} unless it is true. An empty admin key
// disables the admin endpoints, and with them the dashboard.
//
// # The supervision tree
//
// supervisor.Start runs one tree, one-for-one, next to the sockets:
//
//   - ledger: the only owner of the campaign totals and of the latest
//     donations (the last RecentDonations, in every snapshot). Channels
//     and HTTP handlers ask it through its mailbox; it never blocks. A
//     channel crash does not touch it, which is why totals survive one.
//   - announcer: the worker that turns ledger snapshots into
//     campaign_refreshed broadcasts on dashboard:live and donors:live
//     (every campaign, plus the announcer's restart count) and on each
//     campaign:<id> (that campaign). It crashes on request (POST
//     /api/crash-worker with the admin key, or crash_worker on the
//     dashboard) and is restarted by the supervisor; the ledger counts its
//     starts, and every start asks the ledger for a snapshot, so a restart
//     is announced at once as worker_restarts in campaign_refreshed (and
//     shows in GET /api/campaigns). Snapshots that reach it while it is
//     down are lost; the next tick makes up for them.
//   - refresher: a supervisor.Ticker that, every Config.Refresh, asks the
//     ledger for a snapshot on the announcer's behalf.
//
// More than five restarts in ten seconds make the tree give up: it stops,
// GET /healthz answers 503, pushes that need the ledger go unanswered
// (phoenix.js reports a timeout), and the process should be restarted by
// whatever runs it.
//
// # HTTP
//
// GET / is the page: every campaign with a progress bar and its total,
// moving live; who is online; the tree with the announcer's restarts; a
// feed of the latest donations (the ledger's, then each one as it is
// given); and, after logging in with a name, a way to give to each
// campaign. It is plain HTML, CSS and JavaScript modules built into the
// binary (under /static/), with the official phoenix.js client under
// /assets/: built in, or read from Config.AssetsDir. Other paths are 404.
//
// GET /healthz, GET /api/campaigns (the ledger's snapshot: every
// campaign's totals, the restart count and the latest donations), POST
// /api/login, POST /api/admin-login, POST /api/crash-worker, the sockets
// under /socket/, and, with an admin key, the live admin view at /admin
// (package admin), which shows the supervision tree.
//
// # Concurrency
//
// App methods are safe from any goroutine. All mutable state lives in
// actors: a channel's in its channel actor, the totals in the ledger, the
// restart count in the ledger. Channels and workers find the ledger and
// the announcer by PIDs fixed when the app is built (a supervisor names a
// child after itself and the child's name, and a restarted child keeps
// that PID), so nothing needs a lock. HTTP handlers ask the ledger with a
// request that gives up after a few seconds.
package donations
