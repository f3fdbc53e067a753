package presence

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestTopicStateMatchesAMap drives a topicState and a plain map with the
// same random sets and deletes, across the switch from slice to map: both
// must always hold the same keys and entries.
func TestTopicStateMatchesAMap(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 7))
		ts := &topicState{}
		want := map[string][]entry{}
		for step := range 400 {
			key := fmt.Sprintf("k%d", r.IntN(3*smallKeys))
			if r.IntN(3) == 0 {
				ts.del(key)
				delete(want, key)
			} else {
				es := []entry{{owner: fmt.Sprintf("o%d", step)}}
				ts.set(key, es)
				want[key] = es
			}
			got := map[string][]entry{}
			for k, es := range ts.all() {
				if _, dup := got[k]; dup {
					t.Fatalf("seed %d step %d: key %s listed twice", seed, step, k)
				}
				got[k] = es
			}
			if ts.len() != len(want) || !maps.EqualFunc(got, want, func(a, b []entry) bool { return a[0].owner == b[0].owner }) {
				t.Fatalf("seed %d step %d: state %v, want %v", seed, step, got, want)
			}
			for k, es := range want {
				if g := ts.get(k); len(g) != 1 || g[0].owner != es[0].owner {
					t.Fatalf("seed %d step %d: get(%s) = %v, want %v", seed, step, k, g, es)
				}
			}
		}
	}
}
