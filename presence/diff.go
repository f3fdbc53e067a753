package presence

import (
	"cmp"
	"slices"
	"time"
)

// pendingDiff gathers a topic's changes until they are broadcast.
type pendingDiff struct {
	seq           uint64            // order of the topic's first change, for Close
	joins, leaves map[string][]meta // each made on its first write (most diffs have only joins or only leaves)
}

// noteLocked records a join (of joined) and/or a leave (of left) of key on
// topic for the next broadcast; t.mu must be held. A topic that had nothing
// pending and no open window becomes due: afterChange broadcasts it at once.
func (t *Tracker) noteLocked(topic, key string, joined, left *meta) {
	p := t.pending[topic]
	if p == nil {
		t.pendingSeq++
		p = &pendingDiff{seq: t.pendingSeq}
		t.pending[topic] = p
		if _, open := t.windows[topic]; !open {
			t.due = append(t.due, topic)
		}
	}
	if joined != nil {
		// A meta that left in this same batch and comes back (a peer's
		// presences hidden and shown again) never left for a client.
		if i := refIndex(p.leaves[key], joined.Ref()); i >= 0 {
			p.leaves[key] = slices.Delete(p.leaves[key], i, i+1)
			if len(p.leaves[key]) == 0 {
				delete(p.leaves, key)
			}
		} else {
			if p.joins == nil {
				p.joins = map[string][]meta{}
			}
			p.joins[key] = append(p.joins[key], *joined)
		}
	}
	if left == nil {
		return
	}
	// A meta that joined in this same batch was never seen by a client:
	// drop it from the joins instead of reporting a leave.
	if i := refIndex(p.joins[key], left.Ref()); i >= 0 {
		p.joins[key] = slices.Delete(p.joins[key], i, i+1)
		if len(p.joins[key]) == 0 {
			delete(p.joins, key)
		}
		return
	}
	if p.leaves == nil {
		p.leaves = map[string][]meta{}
	}
	p.leaves[key] = append(p.leaves[key], *left)
}

func refIndex(metas []meta, ref string) int {
	for i, m := range metas {
		if m.Ref() == ref {
			return i
		}
	}
	return -1
}

// afterChange broadcasts the topics that became due. With coalescing, a
// due topic first opens its window: the change goes out now, and the
// topic's further changes wait for the window's end, when they leave as
// one diff.
func (t *Tracker) afterChange() { t.afterChangeListing("", nil) }

// afterChangeListing is afterChange that, if it broadcasts topic, hands
// list topic's listing between the move of the topic's list and the
// broadcast of its diff. It reports whether it did.
func (t *Tracker) afterChangeListing(topic string, list func(Listing, error)) bool {
	t.mu.Lock()
	due := t.due
	t.due = nil
	if t.opts.coalesce > 0 && !t.closed {
		for _, d := range due {
			t.openWindowLocked(d)
		}
	}
	t.mu.Unlock()
	listed := false
	for _, d := range due {
		// A topic can be due twice (its diff went out and it changed
		// again before this ran): list is handed one listing only.
		if d == topic && list != nil && !listed {
			listed = t.flushTopicListing(d, list)
		} else {
			t.flushTopic(d)
		}
	}
	return listed
}

// openWindowLocked arms topic's window; t.mu must be held.
func (t *Tracker) openWindowLocked(topic string) {
	if _, open := t.windows[topic]; open {
		return
	}
	t.wg.Add(1)
	t.windows[topic] = time.AfterFunc(t.windowLocked(topic), func() { t.windowEnd(topic) })
}

// windowLocked is how long topic's window gathers: the coalescing period,
// or longer for a big topic with WithCoalesceGrowth, up to its maximum;
// t.mu must be held.
func (t *Tracker) windowLocked(topic string) time.Duration {
	d := t.opts.coalesce
	if t.opts.coalescePerKey > 0 {
		if ts := t.topics[topic]; ts != nil {
			d = max(d, min(time.Duration(ts.len())*t.opts.coalescePerKey, t.opts.coalesceMax))
		}
	}
	return d
}

// windowEnd broadcasts what topic gathered during its window. A window that
// gathered something opens the next one, since the storm may go on; one
// that gathered nothing closes, and the topic's next change goes out at
// once.
func (t *Tracker) windowEnd(topic string) {
	defer t.wg.Done()
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	sent, _ := t.flushTopicLocked(topic, nil)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	delete(t.windows, topic)
	if sent || t.pending[topic] != nil {
		t.openWindowLocked(topic)
		return
	}
	t.releaseQuietLocked(topic)
}

// flushTopic broadcasts topic's pending diff, if any, and moves its
// published view (if it has one) to the state after it. emitMu is taken
// before the pending diff so that two flushes cannot swap the order of one
// topic's diffs, and the view moves before the diff leaves: whoever reads
// the view before the move is subscribed already and gets the diff.
// It reports whether there was a diff to broadcast.
func (t *Tracker) flushTopic(topic string) bool {
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	sent, _ := t.flushTopicLocked(topic, nil)
	return sent
}

// flushTopicListing is flushTopic that, when there is a diff, hands list
// the topic's listing after the list moved and before the diff leaves. A
// topic without a published list gets one here, from the live state, which
// is the state after the diff since nothing else is pending. It reports
// whether list was called.
func (t *Tracker) flushTopicListing(topic string, list func(Listing, error)) bool {
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	_, listed := t.flushTopicLocked(topic, list)
	return listed
}

// flushTopicLocked is flushTopicListing with emitMu held; sent reports
// whether there was a pending diff.
func (t *Tracker) flushTopicLocked(topic string, list func(Listing, error)) (sent, listed bool) {
	t.mu.Lock()
	p := t.pending[topic]
	delete(t.pending, topic)
	v := t.published[topic]
	fresh := false
	if p != nil && v == nil && list != nil {
		v, fresh = newPublished(t.topics[topic]), true
		if v.keys.len() > 0 {
			t.published[topic] = v
		}
	}
	t.mu.Unlock()
	if p == nil {
		return false, false
	}
	if v != nil && !fresh && v.apply(p) == 0 {
		t.mu.Lock()
		if t.published[topic] == v {
			delete(t.published, topic)
		}
		t.mu.Unlock()
	}
	if list != nil {
		list(v.listing(-1, t.fetchFor(topic), &t.encodes))
	}
	t.emit(topic, p)
	t.mu.Lock()
	t.releaseQuietLocked(topic)
	t.mu.Unlock()
	return true, list != nil
}

// releaseQuietLocked forgets the published list of a small topic that is
// quiet (nothing pending, no window open) when it holds what its next
// listing would be built from anyway, the live state in the same order:
// most rooms have a user or a few and are quiet most of the time, and
// keeping their list and its encoding would cost each room more than
// encoding it again for the next joiner. A big topic keeps its list, whose
// encoded keys a new version reuses. emitMu and t.mu must be held: the
// list's keys only change under emitMu.
func (t *Tracker) releaseQuietLocked(topic string) {
	v := t.published[topic]
	if v == nil || t.pending[topic] != nil {
		return
	}
	if _, open := t.windows[topic]; open {
		return
	}
	if v.mirrors(t.topics[topic]) {
		delete(t.published, topic)
	}
}

// emit broadcasts one pending diff; emitMu must be held.
func (t *Tracker) emit(topic string, p *pendingDiff) {
	d := Diff{Joins: stateOf(p.joins), Leaves: stateOf(p.leaves)}
	if d.Empty() {
		return
	}
	d.Joins = t.fetch(topic, d.Joins)
	d.Leaves = t.fetch(topic, d.Leaves)
	if err := t.b.LocalBroadcast(topic, EventDiff, d); err != nil {
		t.log.Warn().Err(err).Str("topic", topic).Msg("presence diff broadcast failed")
	}
}

// flushAll broadcasts every pending diff, in the order the topics first
// changed.
func (t *Tracker) flushAll() {
	t.mu.Lock()
	topics := make([]*pendingDiff, 0, len(t.pending))
	names := make(map[*pendingDiff]string, len(t.pending))
	for name, p := range t.pending {
		topics = append(topics, p)
		names[p] = name
	}
	t.due = nil
	t.mu.Unlock()
	slices.SortFunc(topics, func(a, b *pendingDiff) int { return cmp.Compare(a.seq, b.seq) })
	for _, p := range topics {
		t.flushTopic(names[p])
	}
}

func stateOf(m map[string][]meta) State {
	s := make(State, len(m))
	for k, metas := range m {
		s[k] = Entry{Metas: metasOf(metas)}
	}
	return s
}
