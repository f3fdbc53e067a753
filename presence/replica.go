package presence

import (
	"time"
)

// Replication, in short. Each node owns the presences tracked on it: only
// that node adds, updates or removes them. A node numbers its own changes
// 1, 2, 3… (its version) and publishes them in batches, deltas, each saying
// which version it starts from. A peer keeps, for every other node, the
// last version it applied and that node's entries. It applies a delta that
// starts where it stands, skips what it already has (a duplicate or an
// overlap), and asks the owner for its full state when a delta or a
// heartbeat shows a gap. A full state replaces that node's entries when it is
// newer than what the peer holds. Since every node's part has a single
// writer and a version that only grows, applying any mix of duplicated,
// reordered or lost messages followed by the repairs converges to the same
// state on every peer: the merged view is a map from node to the newest
// version of that node's entries.
//
// A node is known by its name and its incarnation (the start time of its
// tracker). A message from a newer incarnation replaces everything known of
// the older one; a message from an older one is ignored. A node silent for
// the down period is down: its entries leave every peer's view (with
// presence_diff leaves) but are kept, and come back as joins if it is heard
// from again; after the permanent-down period they are forgotten. A node that
// closes its tracker says goodbye and peers forget it at once.

// wireOp is one change to a node's entries; a nil Meta removes the entry.
type wireOp struct {
	Topic string `json:"t"`
	Key   string `json:"k"`
	Owner string `json:"o"`
	Meta  Meta   `json:"m,omitempty"`
}

// Message kinds.
const (
	kindHeartbeat = "hb"
	kindDelta     = "delta"
	kindBye       = "bye"
	kindSyncReq   = "sync"
	kindState     = "state"
)

// wireMsg is what nodes send each other.
type wireMsg struct {
	Kind string `json:"kind"`
	Node string `json:"node"`
	Inc  int64  `json:"inc"`
	// Base is the version a delta starts from; Version is the sender's
	// version after it (for heartbeats and states, its current version).
	Base    uint64   `json:"base,omitempty"`
	Version uint64   `json:"v"`
	Ops     []wireOp `json:"ops,omitempty"`
	// A state is sent in Chunks parts numbered from 0.
	Chunk  int `json:"chunk,omitempty"`
	Chunks int `json:"chunks,omitempty"`
}

// transport carries wireMsgs between trackers.
type transport interface {
	// broadcast sends m to every other node.
	broadcast(m *wireMsg)
	// send sends m to one node.
	send(node string, m *wireMsg)
	close()
}

// ekey names one entry of a node.
type ekey struct{ topic, key, owner string }

// replica is what this tracker knows of another node.
type replica struct {
	name     *string // the node's name, which its entries point at
	inc      int64
	version  uint64
	entries  map[ekey]meta
	lastSeen time.Time
	down     bool
	syncAt   time.Time // when a full state was last asked for
	partial  *partialState
}

// partialState gathers the chunks of one full state.
type partialState struct {
	inc     int64
	version uint64
	chunks  map[int][]wireOp
	total   int
}

// Replication timing; see WithReplication.
type replication struct {
	tr          transport
	deltaEvery  time.Duration
	beatEvery   time.Duration
	downAfter   time.Duration
	forgetAfter time.Duration
	chunkSize   int
	now         func() time.Time
}

// run drives replication until Close: deltas every deltaEvery, a heartbeat
// and a liveness check every beatEvery.
func (t *Tracker) run() {
	defer t.wg.Done()
	t.tick(true) // announce ourselves at once
	tk := time.NewTicker(t.repl.deltaEvery)
	defer tk.Stop()
	last := time.Now()
	for {
		select {
		case <-t.stop:
			return
		case now := <-tk.C:
			beat := now.Sub(last) >= t.repl.beatEvery
			if beat {
				last = now
			}
			t.tick(beat)
		}
	}
}

// recordLocked queues one of this node's changes for the peers; m nil is
// a removal. t.mu must be held.
func (t *Tracker) recordLocked(topic, key, owner string, m *meta) {
	if t.repl == nil {
		return
	}
	t.version++
	op := wireOp{Topic: topic, Key: key, Owner: owner}
	if m != nil {
		op.Meta = m.Meta()
	}
	t.outbox = append(t.outbox, op)
}

// outgoingLocked turns the outbox into deltas of at most chunkSize ops.
func (t *Tracker) outgoingLocked() []*wireMsg {
	if len(t.outbox) == 0 {
		return nil
	}
	var out []*wireMsg
	base := t.version - uint64(len(t.outbox))
	for ops := t.outbox; len(ops) > 0; {
		n := min(len(ops), t.repl.chunkSize)
		m := &wireMsg{Kind: kindDelta, Node: t.opts.node, Inc: t.inc, Base: base, Version: base + uint64(n), Ops: ops[:n:n]}
		out = append(out, m)
		base += uint64(n)
		ops = ops[n:]
	}
	t.outbox = nil
	return out
}

// stateLocked is this node's full state, in chunks.
func (t *Tracker) stateLocked() []*wireMsg {
	var ops []wireOp
	for topic, ts := range t.topics {
		for key, entries := range ts.all() {
			for _, e := range entries {
				if e.node == nil {
					ops = append(ops, wireOp{Topic: topic, Key: key, Owner: e.owner, Meta: e.meta.Meta()})
				}
			}
		}
	}
	chunks := max(1, (len(ops)+t.repl.chunkSize-1)/t.repl.chunkSize)
	out := make([]*wireMsg, 0, chunks)
	for i := range chunks {
		part := ops[min(i*t.repl.chunkSize, len(ops)):min((i+1)*t.repl.chunkSize, len(ops))]
		out = append(out, &wireMsg{Kind: kindState, Node: t.opts.node, Inc: t.inc, Version: t.version, Ops: part, Chunk: i, Chunks: chunks})
	}
	return out
}

// tick publishes pending deltas and, every beat, a heartbeat, and marks
// silent nodes down or forgets them.
func (t *Tracker) tick(beat bool) {
	if !t.lockOpen() {
		return
	}
	out := t.outgoingLocked()
	var changed bool
	if beat {
		out = append(out, &wireMsg{Kind: kindHeartbeat, Node: t.opts.node, Inc: t.inc, Version: t.version})
		now := t.repl.now()
		for name, r := range t.replicas {
			silent := now.Sub(r.lastSeen)
			if silent > t.repl.forgetAfter {
				changed = t.hideLocked(name, r) || changed
				delete(t.replicas, name)
				t.log.Info().Str("peer", name).Msg("presence peer forgotten")
				continue
			}
			if !r.down && silent > t.repl.downAfter {
				changed = t.hideLocked(name, r) || changed
				r.down = true
				t.log.Warn().Str("peer", name).Dur("silent", silent).Int("presences", len(r.entries)).Msg("presence peer down; its presences left")
			}
		}
	}
	t.mu.Unlock()
	for _, m := range out {
		t.repl.tr.broadcast(m)
	}
	if changed {
		t.afterChange()
	}
}

// receive applies a message from another node.
func (t *Tracker) receive(m *wireMsg) {
	if m.Node == t.opts.node || m.Node == "" {
		return // our own, or nobody's
	}
	type send struct {
		to string
		m  *wireMsg
	}
	var sends []send
	var broadcasts []*wireMsg
	if !t.lockOpen() {
		return
	}
	changed := false
	r := t.replicas[m.Node]
	switch {
	case r != nil && m.Inc < r.inc:
		t.mu.Unlock()
		return // an older incarnation, already replaced
	case r != nil && m.Inc > r.inc:
		// The node restarted: what the old incarnation had is gone.
		changed = t.hideLocked(m.Node, r)
		r = nil
	}
	if m.Kind == kindBye {
		if r != nil {
			changed = t.hideLocked(m.Node, r) || changed
			delete(t.replicas, m.Node)
			t.log.Info().Str("peer", m.Node).Msg("presence peer left")
		}
		t.mu.Unlock()
		if changed {
			t.afterChange()
		}
		return
	}
	now := t.repl.now()
	if r == nil {
		name := m.Node
		r = &replica{name: &name, inc: m.Inc, entries: map[ekey]meta{}}
		t.replicas[m.Node] = r
		// Let the newcomer hear from us now rather than at our next beat.
		broadcasts = append(broadcasts, &wireMsg{Kind: kindHeartbeat, Node: t.opts.node, Inc: t.inc, Version: t.version})
		t.log.Info().Str("peer", m.Node).Msg("presence peer up")
	}
	r.lastSeen = now
	if r.down {
		r.down = false
		changed = t.showLocked(r) || changed
		t.log.Info().Str("peer", m.Node).Msg("presence peer back up")
	}
	needSync := false
	switch m.Kind {
	case kindHeartbeat:
		needSync = m.Version > r.version
	case kindDelta:
		switch {
		case m.Version <= r.version:
			// Already applied.
		case m.Base > r.version:
			needSync = true // a gap: some delta was lost
		default:
			skip := r.version - m.Base
			if skip > uint64(len(m.Ops)) {
				needSync = true
				break
			}
			for _, op := range m.Ops[skip:] {
				changed = t.applyLocked(m.Node, r, op) || changed
			}
			r.version = m.Version
		}
	case kindSyncReq:
		for _, s := range t.stateLocked() {
			sends = append(sends, send{m.Node, s})
		}
	case kindState:
		changed = t.stateChunkLocked(m.Node, r, m) || changed
	}
	if needSync && now.Sub(r.syncAt) >= t.repl.beatEvery {
		r.syncAt = now
		sends = append(sends, send{m.Node, &wireMsg{Kind: kindSyncReq, Node: t.opts.node, Inc: t.inc, Version: t.version}})
	}
	t.mu.Unlock()
	for _, b := range broadcasts {
		t.repl.tr.broadcast(b)
	}
	for _, s := range sends {
		t.repl.tr.send(s.to, s.m)
	}
	if changed {
		t.afterChange()
	}
}

// stateChunkLocked gathers a full state and applies it once complete.
func (t *Tracker) stateChunkLocked(node string, r *replica, m *wireMsg) bool {
	if m.Version < r.version || m.Chunks < 1 || m.Chunk < 0 || m.Chunk >= m.Chunks {
		return false
	}
	p := r.partial
	if p == nil || p.inc != m.Inc || p.version != m.Version || p.total != m.Chunks {
		p = &partialState{inc: m.Inc, version: m.Version, chunks: map[int][]wireOp{}, total: m.Chunks}
		r.partial = p
	}
	p.chunks[m.Chunk] = m.Ops
	if len(p.chunks) < p.total {
		return false
	}
	r.partial = nil
	want := map[ekey]Meta{}
	for i := range p.total {
		for _, op := range p.chunks[i] {
			if op.Meta != nil {
				want[ekey{op.Topic, op.Key, op.Owner}] = op.Meta
			}
		}
	}
	changed := false
	for k := range r.entries {
		if _, ok := want[k]; !ok {
			changed = t.applyLocked(node, r, wireOp{Topic: k.topic, Key: k.key, Owner: k.owner}) || changed
		}
	}
	for k, meta := range want {
		changed = t.applyLocked(node, r, wireOp{Topic: k.topic, Key: k.key, Owner: k.owner, Meta: meta}) || changed
	}
	r.version = p.version
	return changed
}

// applyLocked applies one op of node's to its entries and, while the node is
// up, to the visible state, noting the diff. It reports a visible change.
func (t *Tracker) applyLocked(node string, r *replica, op wireOp) bool {
	k := ekey{op.Topic, op.Key, op.Owner}
	old, had := r.entries[k]
	if op.Meta == nil {
		if !had {
			return false
		}
		delete(r.entries, k)
		if r.down {
			return false
		}
		t.dropEntryLocked(node, op.Topic, op.Key, op.Owner)
		t.noteLocked(op.Topic, op.Key, nil, &old)
		return true
	}
	if had && old.Ref() == op.Meta.Ref() {
		return false // the same meta again
	}
	m := compact(op.Meta)
	r.entries[k] = m
	if r.down {
		return false
	}
	t.putEntryLocked(r.name, op.Topic, op.Key, op.Owner, m)
	if had {
		t.noteLocked(op.Topic, op.Key, &m, &old)
	} else {
		t.noteLocked(op.Topic, op.Key, &m, nil)
	}
	return true
}

// hideLocked removes node's entries from the visible state with leaves.
func (t *Tracker) hideLocked(node string, r *replica) bool {
	if r.down {
		return false
	}
	for k, m := range r.entries {
		t.dropEntryLocked(node, k.topic, k.key, k.owner)
		t.noteLocked(k.topic, k.key, nil, &m)
	}
	return len(r.entries) > 0
}

// showLocked puts r's entries back into the visible state with joins.
func (t *Tracker) showLocked(r *replica) bool {
	for k, m := range r.entries {
		t.putEntryLocked(r.name, k.topic, k.key, k.owner, m)
		t.noteLocked(k.topic, k.key, &m, nil)
	}
	return len(r.entries) > 0
}

// Peers lists the other nodes this tracker hears from, with whether each is
// up and how many presences it owns.
func (t *Tracker) Peers() []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Peer, 0, len(t.replicas))
	for name, r := range t.replicas {
		out = append(out, Peer{Node: name, Up: !r.down, Presences: len(r.entries), Version: r.version})
	}
	return out
}

// Peer describes another node as this tracker knows it.
type Peer struct {
	Node      string `json:"node"`
	Up        bool   `json:"up"`
	Presences int    `json:"presences"`
	Version   uint64 `json:"version"`
}
