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
// old one).
//
//	ps := topics.New()
//	tr, _ := presence.New(ps, presence.WithNode("n1"))
//	defer tr.Close()
//	ref, _ := tr.Track("worker-1", "room:lobby", "bot", presence.Meta{"status": "idle"})
//	state := tr.List("room:lobby") // {"bot": {"metas": [{"status": "idle", "phx_ref": ref}]}}
//
// # What a joiner is sent
//
// Listing(topic) is the topic's list as its subscribers know it (the state
// after the last diff broadcast on the topic), already encoded as the
// payload of "presence_state". It is encoded once per version of the list,
// so every joiner until the next diff shares the same bytes, and a new
// version re-encodes only the keys that changed. A caller that subscribed
// to the topic before asking receives every diff after the listing: the
// diffs that came between its subscription and the listing are ones the
// listing already holds, and phoenix.js applies them again without change
// (a join replaces the meta with the same phx_ref; a leave of an absent
// meta is nothing). A topic of a few keys (up to eight) does not keep its
// list while it is quiet, with nothing pending and no window open: it
// costs less to encode it again for the next joiner than to hold it in
// every quiet room. List, by contrast, is the tracker's live state, built
// for each call.
//
// TrackAndList tracks a joiner and hands it the listing in one call: in a
// quiet topic, after the list has taken the joiner and before the diff
// that tells the others is broadcast, so that a joiner's presence_state can
// be queued ahead of that diff's delivery to a big room.
//
// For rooms too large to list, Page(topic, n) is the first n keys in sort
// order with the counts of the whole topic, and Counts(topic) gives the
// number of keys and metas without listing anything.
//
// # Coalescing
//
// By default each change is broadcast as its own diff as soon as it is made.
// WithCoalesce(d) gives each topic a window: the first change of a quiet
// topic is broadcast at once and opens a window of d; changes made during
// the window leave together as one diff when it ends, and a window that
// sent something opens the next one, so a join storm on one room costs one
// diff (and, for joiners, one listing) per d, while a lone join in a quiet
// room is not delayed. A meta that joined and left within one window is
// left out of both halves. Presences tracked during a window are in the
// listings only once the window's diff is out; until then a joiner learns
// of them, itself included, from that diff.
//
// Each window's diff reaches every subscriber, one write each, so with
// WithCoalesceGrowth(perKey, max) a big topic's windows are longer: a
// window opening on k keys lasts k×perKey when that is more than d, at
// most max, which keeps a storm's writes a second about level as rooms
// grow; a quiet topic's first change still leaves at once.
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
// that broadcasts diffs and must not block for long. Listings share their
// bytes: never modify Listing.JSON. Close stops the coalescing windows,
// broadcasts what is pending and waits for it.
package presence
