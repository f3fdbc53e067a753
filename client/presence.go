package client

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
)

// Meta is one presence of a key (a user on one device, say): the metadata
// the server tracked, with its "phx_ref".
type Meta map[string]any

// Ref returns the meta's "phx_ref", which tells presences apart.
func (m Meta) Ref() string {
	s, _ := m["phx_ref"].(string)
	return s
}

// Entry is what a presence key holds: its metas, oldest first.
type Entry struct {
	Metas []Meta `json:"metas"`
}

// PresenceState is a topic's presences by key, the payload of
// presence_state.
type PresenceState map[string]Entry

// PresenceDiff is the payload of presence_diff: the metas that joined and
// those that left, by key. An update is the same key in both.
type PresenceDiff struct {
	Joins  PresenceState `json:"joins"`
	Leaves PresenceState `json:"leaves"`
}

// Presence keeps a channel's presences as phoenix.js's Presence does:
// presence_state replaces what it knew (reported as joins and leaves),
// presence_diff changes it, and diffs that come after a join and before
// that join's state wait for the state. Its callbacks run on the
// channel's goroutine; List is safe from any goroutine.
type Presence struct {
	mu      sync.Mutex // guards state, for List
	state   PresenceState
	pending []PresenceDiff // touched only on the channel's goroutine
	synced  bool           // a state came after the last join; channel's goroutine only

	hmu             sync.Mutex // guards the callbacks
	onJoin, onLeave func(key string, current, changed *Entry)
	onSync          func()
}

// NewPresence follows the presences of ch. Make it before ch.Join, so that
// the first presence_state is seen.
func NewPresence(ch *Channel) *Presence {
	p := &Presence{state: PresenceState{}}
	ch.onJoin(func() { p.synced = false })
	ch.On("presence_state", func(m Message) {
		var s PresenceState
		if err := m.Decode(&s); err != nil {
			ch.c.log.Warn().Err(err).Str("topic", m.Topic).Msg("malformed presence_state dropped")
			return
		}
		p.syncState(s)
	})
	ch.On("presence_diff", func(m Message) {
		var d PresenceDiff
		if err := m.Decode(&d); err != nil {
			ch.c.log.Warn().Err(err).Str("topic", m.Topic).Msg("malformed presence_diff dropped")
			return
		}
		if !p.synced {
			p.pending = append(p.pending, d)
			return
		}
		p.syncDiff(d)
		p.callSync()
	})
	return p
}

// OnJoin sets the callback for a key that gained metas: current is what
// the key held before (nil if it was absent), joined the metas that came.
func (p *Presence) OnJoin(f func(key string, current, joined *Entry)) {
	p.hmu.Lock()
	p.onJoin = f
	p.hmu.Unlock()
}

// OnLeave sets the callback for a key that lost metas: current is what it
// still holds (no metas when the key is gone), left the metas that went.
func (p *Presence) OnLeave(f func(key string, current, left *Entry)) {
	p.hmu.Lock()
	p.onLeave = f
	p.hmu.Unlock()
}

// OnSync sets the callback run after each state or diff was applied.
func (p *Presence) OnSync(f func()) {
	p.hmu.Lock()
	p.onSync = f
	p.hmu.Unlock()
}

// List returns a copy of the presences, by key.
func (p *Presence) List() PresenceState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.clone()
}

func (p *Presence) callbacks() (onJoin, onLeave func(string, *Entry, *Entry), onSync func()) {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	return p.onJoin, p.onLeave, p.onSync
}

func (p *Presence) callSync() {
	if _, _, f := p.callbacks(); f != nil {
		f()
	}
}

// syncState applies a full state: keys it lacks leave, keys it adds join,
// and within a key metas are told apart by phx_ref. Pending diffs follow.
func (p *Presence) syncState(next PresenceState) {
	p.mu.Lock()
	cur := p.state.clone()
	p.mu.Unlock()
	d := PresenceDiff{Joins: PresenceState{}, Leaves: PresenceState{}}
	for key, e := range cur {
		if _, ok := next[key]; !ok {
			d.Leaves[key] = e
		}
	}
	for key, e := range next {
		old, ok := cur[key]
		if !ok {
			d.Joins[key] = e
			continue
		}
		if joined := missing(e.Metas, old.Metas); len(joined) > 0 {
			d.Joins[key] = Entry{Metas: joined}
		}
		if left := missing(old.Metas, e.Metas); len(left) > 0 {
			d.Leaves[key] = Entry{Metas: left}
		}
	}
	p.syncDiff(d)
	for _, pd := range p.pending {
		p.syncDiff(pd)
	}
	p.pending = nil
	p.synced = true
	p.callSync()
}

// syncDiff applies joins (a joining key's metas replace those with the
// same phx_ref, the others kept before them), then leaves (metas removed
// by phx_ref, a key without metas removed).
func (p *Presence) syncDiff(d PresenceDiff) {
	onJoin, onLeave, _ := p.callbacks()
	for _, key := range slices.Sorted(maps.Keys(d.Joins)) {
		joined := d.Joins[key].clone()
		p.mu.Lock()
		old, had := p.state[key]
		next := Entry{Metas: append(missing(old.Metas, joined.Metas), joined.Metas...)}
		p.state[key] = next.clone()
		p.mu.Unlock()
		if onJoin != nil {
			var current *Entry
			if had {
				current = &old
			}
			onJoin(key, current, &joined)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(d.Leaves)) {
		left := d.Leaves[key].clone()
		p.mu.Lock()
		old, had := p.state[key]
		if !had {
			p.mu.Unlock()
			continue
		}
		rest := Entry{Metas: missing(old.Metas, left.Metas)}
		if len(rest.Metas) == 0 {
			delete(p.state, key)
		} else {
			p.state[key] = rest.clone()
		}
		p.mu.Unlock()
		if onLeave != nil {
			onLeave(key, &rest, &left)
		}
	}
}

// missing returns the metas of a whose phx_ref is not in b.
func missing(a, b []Meta) []Meta {
	out := []Meta{}
	for _, m := range a {
		if !slices.ContainsFunc(b, func(o Meta) bool { return o.Ref() == m.Ref() }) {
			out = append(out, m)
		}
	}
	return out
}

func (e Entry) clone() Entry {
	out := Entry{Metas: make([]Meta, len(e.Metas))}
	for i, m := range e.Metas {
		out.Metas[i] = deepCopy(m)
	}
	return out
}

func (s PresenceState) clone() PresenceState {
	out := make(PresenceState, len(s))
	for k, e := range s {
		out[k] = e.clone()
	}
	return out
}

// deepCopy copies a meta through JSON, as its values came from JSON.
func deepCopy(m Meta) Meta {
	b, err := json.Marshal(m)
	if err != nil {
		return maps.Clone(m)
	}
	var out Meta
	if json.Unmarshal(b, &out) != nil {
		return maps.Clone(m)
	}
	return out
}
