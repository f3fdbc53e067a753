// Package presence tracks who is on which topic and tells the topic's
// subscribers about every change in the format phoenix.js Presence reads.
//
// A presence is a (topic, key, owner) triple with a meta map. The key is
// what clients group by (a user id); the owner is who tracked it (a channel
// instance, a worker) and is what UntrackAll removes when it stops. One key
// tracked by several owners, such as one user in two browser tabs, is one
// key with several metas.
//
// Every meta carries "phx_ref", a 16-character reference unique to that
// track or update; an update also carries "phx_ref_prev", the ref it
// replaces. Changes reach the topic's local subscribers as "presence_diff"
// broadcasts:
//
//	{"joins": {"alice": {"metas": [...]}}, "leaves": {}}
//
// An update appears as the key in both joins (the new meta) and leaves (the
// old one). The state a channel pushes after joining ("presence_state") is
// List(topic).
//
//	ps := topics.New()
//	tr, _ := presence.New(ps, presence.WithNode("n1"))
//	defer tr.Close()
//	ref, _ := tr.Track("worker-1", "room:lobby", "bot", presence.Meta{"status": "idle"})
//	state := tr.List("room:lobby") // {"bot": {"metas": [{"status": "idle", "phx_ref": ref}]}}
//
// # Coalescing
//
// By default each change is broadcast as its own diff as soon as it is made.
// WithCoalesce(d) gathers the changes of each topic for up to d and
// broadcasts them as one diff, which is what a join storm needs: a client
// applies a batched diff exactly as it applies the single ones, and a meta
// that joined and left within one batch is left out of both halves.
//
// # Enrichment
//
// WithFetch installs a function that sees every State before it leaves the
// tracker (List, Get and both halves of each diff) and may add fields next to
// "metas", for example user names loaded in one query for the whole batch.
//
// # Concurrency
//
// Every method is safe to call from any goroutine. Diffs are broadcast
// outside the tracker's state lock, in the order the changes were made; the
// Broadcaster must not call back into the tracker synchronously. A fetch
// function runs on the caller's goroutine (List, Get) or on the goroutine
// that broadcasts diffs and must not block for long. Close stops the
// coalescing timer, broadcasts what is pending and waits for it.
package presence
