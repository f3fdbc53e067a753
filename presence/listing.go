package presence

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pyrehq/pyre/protocol"
)

// Listing is a topic's presence list encoded as the payload of
// presence_state, as the topic's subscribers know it: the state after the
// last presence_diff broadcast on the topic. Every diff broadcast after it
// reaches a subscriber that was subscribed when it asked, so a client that
// applies the listing and then those diffs, as phoenix.js does, sees the
// tracker's state. JSON is shared by everyone who asks until the next diff:
// never modify it.
type Listing struct {
	JSON   []byte // {"key": {"metas": [...]}, ...}, keys sorted
	Listed int    // keys in JSON: all of them, or the first n of a page
	Keys   int    // keys on the topic
	Metas  int    // metas on the topic (one per owner of a key)
}

// published is a topic's presences as its subscribers know them: the state
// after the last diff broadcast on the topic, kept apart from the tracker's
// live state, which also holds the changes still waiting in a coalescing
// window.
// It keeps each key's encoded form and the encoded list of its current
// version, so that every joiner until the next diff gets the same bytes and
// a new version re-encodes only the keys that changed.
type published struct {
	mu      sync.Mutex // guards the fields below; taken after emitMu, never before
	version uint64
	keys    publishedKeys
	metas   int
	order   []string // keys, sorted; nil after a key came or went
	full    []byte   // the list at version; nil when stale
	page    []byte   // the last page encoded at version; nil when stale
	pageN   int      // its length in keys
}

type publishedKey struct {
	key   string
	metas []meta
	frag  []byte // `"key":{"metas":[...]}`; nil when stale, never kept in a small list
}

// publishedKeys are a published list's keys: a slice while there are at
// most smallKeys (most rooms: one user, a few), a map past that, as in
// topicState.
type publishedKeys struct {
	small []*publishedKey
	big   map[string]*publishedKey // nil while the slice is in use
}

func (pk *publishedKeys) get(key string) *publishedKey {
	if pk.big != nil {
		return pk.big[key]
	}
	for _, vk := range pk.small {
		if vk.key == key {
			return vk
		}
	}
	return nil
}

// add stores vk, whose key is not in the list yet.
func (pk *publishedKeys) add(vk *publishedKey) {
	if pk.big == nil && len(pk.small) < smallKeys {
		pk.small = append(pk.small, vk)
		return
	}
	if pk.big == nil {
		pk.big = make(map[string]*publishedKey, 2*smallKeys)
		for _, o := range pk.small {
			pk.big[o.key] = o
		}
		pk.small = nil
	}
	pk.big[vk.key] = vk
}

func (pk *publishedKeys) del(key string) {
	if pk.big != nil {
		delete(pk.big, key)
		return
	}
	for i, vk := range pk.small {
		if vk.key == key {
			last := len(pk.small) - 1
			pk.small[i] = pk.small[last]
			pk.small[last] = nil
			pk.small = pk.small[:last]
			return
		}
	}
}

func (pk *publishedKeys) len() int {
	if pk.big != nil {
		return len(pk.big)
	}
	return len(pk.small)
}

// sorted returns the keys in sort order.
func (pk *publishedKeys) sorted() []string {
	if pk.big != nil {
		return slices.Sorted(maps.Keys(pk.big))
	}
	out := make([]string, len(pk.small))
	for i, vk := range pk.small {
		out[i] = vk.key
	}
	slices.Sort(out)
	return out
}

// newPublished starts a topic's published list from the tracker's state of
// a topic that has no pending changes; t.mu must be held by the caller.
func newPublished(ts *topicState) *published {
	v := &published{}
	if ts == nil {
		return v
	}
	for k, entries := range ts.all() {
		vk := &publishedKey{key: k, metas: make([]meta, len(entries))}
		for i, e := range entries {
			vk.metas[i] = e.meta
		}
		v.keys.add(vk)
		v.metas += len(entries)
	}
	return v
}

// mirrors reports whether the view is a small list holding what
// newPublished would make of ts: the same keys, each with the same metas in
// the same order. Its keys are read without v.mu: the caller holds emitMu,
// under which alone they change.
func (v *published) mirrors(ts *topicState) bool {
	if ts == nil || v.keys.big != nil || ts.big != nil || ts.len() != v.keys.len() || ts.metas != v.metas {
		return false
	}
	for _, vk := range v.keys.small {
		entries := ts.get(vk.key)
		if len(entries) != len(vk.metas) {
			return false
		}
		for i, e := range entries {
			if e.meta.Ref() != vk.metas[i].Ref() {
				return false
			}
		}
	}
	return true
}

// apply moves the view past one diff, as phoenix.js applies it (joins,
// then leaves, by phx_ref), and returns how many keys are left.
func (v *published) apply(p *pendingDiff) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, joined := range p.joins {
		vk := v.keys.get(k)
		if vk == nil {
			vk = &publishedKey{key: k}
			v.keys.add(vk)
			v.order = nil
		}
		for _, m := range joined {
			if i := refIndex(vk.metas, m.Ref()); i >= 0 {
				vk.metas[i] = m
				continue
			}
			vk.metas = append(vk.metas, m)
			v.metas++
		}
		vk.frag = nil
	}
	for k, left := range p.leaves {
		vk := v.keys.get(k)
		if vk == nil {
			continue
		}
		for _, m := range left {
			if i := refIndex(vk.metas, m.Ref()); i >= 0 {
				vk.metas = slices.Delete(vk.metas, i, i+1)
				v.metas--
			}
		}
		vk.frag = nil
		if len(vk.metas) == 0 {
			v.keys.del(k)
			v.order = nil
		}
	}
	v.version++
	v.full, v.page = nil, nil
	return v.keys.len()
}

// listing encodes the first n keys (all of them when n < 0) of the view's
// current version, or returns the encoding made for an earlier caller.
// fetch, when the tracker has a fetch function, enriches the listed keys
// first; the encoding is then made from the enriched state (once per
// version as well). encodes counts the encodings made.
func (v *published) listing(n int, fetch func(State) State, encodes *atomic.Uint64) (Listing, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := Listing{Keys: v.keys.len(), Metas: v.metas}
	if n < 0 || n > out.Keys {
		n = out.Keys
	}
	out.Listed = n
	all := n == out.Keys
	switch {
	case all && v.full != nil:
		out.JSON = v.full
		return out, nil
	case !all && v.page != nil && v.pageN == n:
		out.JSON = v.page
		return out, nil
	}
	if v.order == nil {
		v.order = v.keys.sorted()
	}
	keys := v.order[:n]
	var b []byte
	var err error
	if fetch != nil {
		s := make(State, len(keys))
		for _, k := range keys {
			s[k] = Entry{Metas: metasOf(v.keys.get(k).metas)}
		}
		if b, err = fetch(s).AppendJSON(nil); err != nil {
			return Listing{}, err
		}
	} else if b, err = v.appendKeys(make([]byte, 0, v.sizeHint(all)), keys); err != nil {
		return Listing{}, err
	}
	encodes.Add(1)
	if all {
		v.full = b
	} else {
		v.page, v.pageN = b, n
	}
	out.JSON = b
	return out, nil
}

// appendKeys writes keys as a JSON object from their cached forms,
// encoding those that changed since the last time. A small list keeps no
// forms: it is encoded whole, once per version, and its keys' forms would
// only double what the encoded list holds.
func (v *published) appendKeys(dst []byte, keys []string) ([]byte, error) {
	dst = append(dst, '{')
	small := v.keys.big == nil
	for i, k := range keys {
		vk := v.keys.get(k)
		if i > 0 {
			dst = append(dst, ',')
		}
		if small {
			var err error
			dst = protocol.AppendString(dst, k)
			dst = append(dst, ':')
			if dst, err = appendEntry(dst, vk.metas); err != nil {
				return nil, err
			}
			continue
		}
		if vk.frag == nil {
			f := protocol.AppendString(nil, k)
			f = append(f, ':')
			f, err := appendEntry(f, vk.metas)
			if err != nil {
				return nil, err
			}
			vk.frag = f
		}
		dst = append(dst, vk.frag...)
	}
	return append(dst, '}'), nil
}

// sizeHint guesses the size of an encoded list: a full one at about 96
// bytes a key, which is what a chat room's presences take.
func (v *published) sizeHint(all bool) int {
	if n := v.keys.len(); all && n > 0 {
		return 2 + 96*n
	}
	return 256
}

// Listing returns topic's presence list encoded as the payload of
// presence_state. It is encoded once per version of the topic's list (once
// per diff broadcast), however many ask (a small topic's list is encoded
// again after the topic has been quiet: see the package doc); a caller
// subscribed to the topic before the call receives every diff after it.
// Presences tracked in an open coalescing window are not in it yet: they
// come with the window's diff.
func (t *Tracker) Listing(topic string) (Listing, error) { return t.listing(topic, -1) }

// Page is Listing limited to the first n keys in sort order, for rooms too
// large to list: Keys and Metas still count the whole topic. Diffs after it
// name keys outside the page too, so a client that applies them sees the
// page plus who came since, less who left.
func (t *Tracker) Page(topic string, n int) (Listing, error) { return t.listing(topic, max(n, 0)) }

func (t *Tracker) listing(topic string, n int) (Listing, error) {
	return t.publishedOf(topic).listing(n, t.fetchFor(topic), &t.encodes)
}

// fetchFor is the fetch function bound to topic, or nil without one.
func (t *Tracker) fetchFor(topic string) func(State) State {
	if t.opts.fetch == nil {
		return nil
	}
	return func(s State) State { return t.fetch(topic, s) }
}

// publishedOf returns topic's published view, making it on the first ask: what
// is pending for the topic is broadcast first (early, if a window is open),
// so that the view starts from a state every subscriber is told about.
func (t *Tracker) publishedOf(topic string) *published {
	t.mu.Lock()
	v := t.published[topic]
	t.mu.Unlock()
	if v != nil {
		return v
	}
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	t.mu.Lock()
	var p *pendingDiff
	if v = t.published[topic]; v == nil {
		p = t.pending[topic]
		delete(t.pending, topic)
		ts := t.topics[topic]
		v = newPublished(ts)
		if ts != nil {
			t.published[topic] = v
		}
	}
	t.mu.Unlock()
	if p != nil {
		t.emit(topic, p)
	}
	return v
}
