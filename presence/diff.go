package presence

import "time"

// noteLocked records a join (of joined) and/or a leave (of left) of key on
// topic for the next broadcast; t.mu must be held.
func (t *Tracker) noteLocked(topic, key string, joined, left Meta) {
	p := t.pending[topic]
	if p == nil {
		p = &pendingDiff{joins: map[string][]Meta{}, leaves: map[string][]Meta{}}
		t.pending[topic] = p
		t.order = append(t.order, topic)
	}
	if joined != nil {
		p.joins[key] = append(p.joins[key], joined)
	}
	if left == nil {
		return
	}
	// A meta that joined in this same batch was never seen by a client:
	// drop it from the joins instead of reporting a leave.
	ref := left.Ref()
	for i, m := range p.joins[key] {
		if m.Ref() == ref {
			p.joins[key] = append(p.joins[key][:i:i], p.joins[key][i+1:]...)
			if len(p.joins[key]) == 0 {
				delete(p.joins, key)
			}
			return
		}
	}
	p.leaves[key] = append(p.leaves[key], left)
}

// afterChange broadcasts now, or arms the coalescing timer.
func (t *Tracker) afterChange() {
	if t.opts.coalesce <= 0 {
		t.flush()
		return
	}
	t.mu.Lock()
	if t.timer == nil && !t.closed {
		t.wg.Add(1)
		t.timer = time.AfterFunc(t.opts.coalesce, func() {
			defer t.wg.Done()
			t.mu.Lock()
			t.timer = nil
			t.mu.Unlock()
			t.flush()
		})
	}
	t.mu.Unlock()
}

// flush broadcasts every pending diff, in the order the topics changed.
// emitMu is taken before the pending set so that two flushes cannot swap
// the order of one topic's diffs.
func (t *Tracker) flush() {
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	t.mu.Lock()
	pending, order := t.pending, t.order
	if len(order) == 0 {
		t.mu.Unlock()
		return
	}
	t.pending, t.order = map[string]*pendingDiff{}, nil
	t.mu.Unlock()
	for _, topic := range order {
		p := pending[topic]
		d := Diff{Joins: stateOf(p.joins), Leaves: stateOf(p.leaves)}
		if d.Empty() {
			continue
		}
		d.Joins = t.fetch(topic, d.Joins)
		d.Leaves = t.fetch(topic, d.Leaves)
		if err := t.b.LocalBroadcast(topic, EventDiff, d); err != nil {
			t.log.Warn().Err(err).Str("topic", topic).Msg("presence diff broadcast failed")
		}
	}
}

func stateOf(m map[string][]Meta) State {
	s := make(State, len(m))
	for k, metas := range m {
		s[k] = Entry{Metas: metas}
	}
	return s
}
