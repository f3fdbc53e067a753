package presence

import "iter"

// topicState is a topic's presences by key. Most topics hold a few keys (a
// private room, a per-user topic), so up to smallKeys they sit in a slice
// scanned in order, which costs a fraction of a map; past that, in a map.
type topicState struct {
	small []keyEntries
	big   map[string][]entry // nil while the slice is in use
	metas int                // entries under all keys
}

type keyEntries struct {
	key     string
	entries []entry // one per owner, in track order; never empty
}

const smallKeys = 8

func (ts *topicState) get(key string) []entry {
	if ts.big != nil {
		return ts.big[key]
	}
	for _, ke := range ts.small {
		if ke.key == key {
			return ke.entries
		}
	}
	return nil
}

// set stores entries (not empty) under key.
func (ts *topicState) set(key string, entries []entry) {
	ts.metas += len(entries) - len(ts.get(key))
	if ts.big != nil {
		ts.big[key] = entries
		return
	}
	for i := range ts.small {
		if ts.small[i].key == key {
			ts.small[i].entries = entries
			return
		}
	}
	if len(ts.small) < smallKeys {
		ts.small = append(ts.small, keyEntries{key, entries})
		return
	}
	ts.big = make(map[string][]entry, 2*smallKeys)
	for _, ke := range ts.small {
		ts.big[ke.key] = ke.entries
	}
	ts.big[key] = entries
	ts.small = nil
}

func (ts *topicState) del(key string) {
	ts.metas -= len(ts.get(key))
	if ts.big != nil {
		delete(ts.big, key)
		return
	}
	for i := range ts.small {
		if ts.small[i].key == key {
			last := len(ts.small) - 1
			ts.small[i] = ts.small[last]
			ts.small[last] = keyEntries{}
			ts.small = ts.small[:last]
			return
		}
	}
}

func (ts *topicState) len() int {
	if ts.big != nil {
		return len(ts.big)
	}
	return len(ts.small)
}

// all yields every key and its entries; the state must not change during
// the iteration.
func (ts *topicState) all() iter.Seq2[string, []entry] {
	return func(yield func(string, []entry) bool) {
		if ts.big != nil {
			for k, es := range ts.big {
				if !yield(k, es) {
					return
				}
			}
			return
		}
		for _, ke := range ts.small {
			if !yield(ke.key, ke.entries) {
				return
			}
		}
	}
}
