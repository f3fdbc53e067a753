package presence

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// hub is an in-memory network between trackers that the test schedules:
// it can deliver messages in any order, twice, or never.
type hub struct {
	nodes   map[string]*Tracker
	pending []hubMsg
	clock   time.Time
}

type hubMsg struct {
	to   string // "" for everyone but the sender
	from string
	data []byte
}

type hubPort struct {
	h    *hub
	name string
}

func (p hubPort) broadcast(m *wireMsg) { p.h.post("", p.name, m) }
func (p hubPort) send(node string, m *wireMsg) {
	p.h.post(node, p.name, m)
}
func (p hubPort) close() {}

func (h *hub) post(to, from string, m *wireMsg) {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	h.pending = append(h.pending, hubMsg{to, from, b})
}

// deliver hands message i to its recipients.
func (h *hub) deliver(i int) {
	m := h.pending[i]
	h.pending = slices.Delete(h.pending, i, i+1)
	for name, t := range h.nodes {
		if name == m.from || (m.to != "" && m.to != name) {
			continue
		}
		var w wireMsg
		if err := json.Unmarshal(m.data, &w); err != nil {
			panic(err)
		}
		t.receive(&w)
	}
}

func newHub(tb testing.TB, names ...string) (*hub, map[string]*recorder) {
	tb.Helper()
	h := &hub{nodes: map[string]*Tracker{}, clock: time.Unix(1_000_000, 0)}
	recs := map[string]*recorder{}
	for _, name := range names {
		rec := newRecorder()
		t, err := New(rec, WithNode(name), func(o *options) error {
			o.transport, o.manual = hubPort{h, name}, true
			o.beatEvery, o.downAfter, o.forgetAfter = time.Second, time.Hour, 2*time.Hour
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		t.repl.now = func() time.Time { return h.clock }
		h.nodes[name] = t
		recs[name] = rec
	}
	return h, recs
}

// quiesce runs rounds of heartbeats and in-order delivery until the
// network is empty after a full round.
func (h *hub) quiesce(tb testing.TB) {
	tb.Helper()
	for round := range 50 {
		h.clock = h.clock.Add(time.Second)
		for _, t := range h.nodes {
			t.tick(true)
		}
		for len(h.pending) > 0 {
			h.deliver(0)
		}
		if round > 2 && converged(h) {
			return
		}
	}
	tb.Fatal("replicas did not converge after 50 rounds")
}

// view is a tracker's visible state: "topic|key" → sorted phx_refs.
func view(t *Tracker) map[string][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string][]string{}
	for topic, ts := range t.topics {
		for key, entries := range ts.all() {
			var refs []string
			for _, e := range entries {
				refs = append(refs, e.meta.Ref())
			}
			slices.Sort(refs)
			out[topic+"|"+key] = refs
		}
	}
	return out
}

// truth is the union of every node's own entries.
func truth(h *hub) map[string][]string {
	out := map[string][]string{}
	for _, t := range h.nodes {
		t.mu.Lock()
		for topic, ts := range t.topics {
			for key, entries := range ts.all() {
				for _, e := range entries {
					if e.node == nil {
						out[topic+"|"+key] = append(out[topic+"|"+key], e.meta.Ref())
					}
				}
			}
		}
		t.mu.Unlock()
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

func equalViews(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func converged(h *hub) bool {
	want := truth(h)
	for _, t := range h.nodes {
		if !equalViews(view(t), want) {
			return false
		}
	}
	return true
}

// replay applies a node's diffs, in order, from nothing: phoenix.js's view.
func replay(rec *recorder) map[string][]string {
	state := map[string][]string{}
	for _, d := range rec.all() {
		per := map[string][]string{}
		for k, v := range state {
			if len(k) > len(d.topic) && k[:len(d.topic)+1] == d.topic+"|" {
				per[k[len(d.topic)+1:]] = v
			}
		}
		applyDiff(per, d.diff)
		for k := range state {
			if len(k) > len(d.topic) && k[:len(d.topic)+1] == d.topic+"|" {
				delete(state, k)
			}
		}
		for k, v := range per {
			state[d.topic+"|"+k] = slices.Sorted(slices.Values(v))
		}
	}
	return state
}

// chaos runs steps random actions: local changes, ticks, and deliveries
// that reorder, duplicate and lose messages.
func chaos(h *hub, r *rand.Rand, steps int) {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range h.nodes {
			if !yield(n) {
				return
			}
		}
	})
	for range steps {
		t := h.nodes[names[r.IntN(len(names))]]
		owner := fmt.Sprint("o", r.IntN(6))
		topic := fmt.Sprint("room:", r.IntN(3))
		key := fmt.Sprint("user", r.IntN(4))
		switch x := r.IntN(100); {
		case x < 25:
			t.Track(owner, topic, key, Meta{"x": x})
		case x < 40:
			t.Update(owner, topic, key, Meta{"x": x})
		case x < 50:
			t.Untrack(owner, topic, key)
		case x < 53:
			t.UntrackAll(owner)
		case x < 65:
			h.clock = h.clock.Add(time.Duration(r.IntN(1500)) * time.Millisecond)
			t.tick(r.IntN(3) == 0)
		case x < 90 && len(h.pending) > 0:
			h.deliver(r.IntN(len(h.pending)))
		case x < 95 && len(h.pending) > 0:
			m := h.pending[r.IntN(len(h.pending))]
			h.pending = append(h.pending, m) // a duplicate
		case len(h.pending) > 0:
			i := r.IntN(len(h.pending))
			h.pending = slices.Delete(h.pending, i, i+1) // lost
		}
	}
}

func checkConverged(t *testing.T, h *hub, recs map[string]*recorder) {
	t.Helper()
	h.quiesce(t)
	want := truth(h)
	for name, tr := range h.nodes {
		if got := view(tr); !equalViews(got, want) {
			t.Fatalf("node %s: view %v, want %v", name, got, want)
		}
		if got := replay(recs[name]); !equalViews(got, want) {
			t.Fatalf("node %s: its diffs replay to %v, want %v", name, got, want)
		}
	}
}

// TestReplicasConverge is the property loop: for many seeds, random
// interleavings with duplicated, reordered and lost messages end, once the
// network is quiet, with every node seeing the same presences, and every
// node's diffs replaying to exactly that view.
func TestReplicasConverge(t *testing.T) {
	for seed := range uint64(200) {
		h, recs := newHub(t, "a", "b", "c")
		chaos(h, rand.New(rand.NewPCG(seed, seed*7+1)), 400)
		checkConverged(t, h, recs)
	}
}

func FuzzReplicasConverge(f *testing.F) {
	f.Add(uint64(1), uint16(300))
	f.Add(uint64(42), uint16(2000))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint16) {
		h, recs := newHub(t, "a", "b", "c")
		chaos(h, rand.New(rand.NewPCG(seed, 99)), int(steps%3000))
		checkConverged(t, h, recs)
	})
}

func TestRestartedNodeReplacesItsOldSelf(t *testing.T) {
	h, recs := newHub(t, "a", "b")
	h.nodes["a"].Track("o1", "room", "alice", nil)
	h.quiesce(t)
	if len(view(h.nodes["b"])) != 1 {
		t.Fatal("b never saw alice")
	}
	// a restarts without saying goodbye: a new incarnation, new presences.
	rec := newRecorder()
	a2, err := New(rec, WithNode("a"), func(o *options) error {
		o.transport, o.manual = hubPort{h, "a"}, true
		o.downAfter, o.forgetAfter = time.Hour, 2*time.Hour
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a2.repl.now = func() time.Time { return h.clock }
	h.nodes["a"], recs["a"] = a2, rec
	a2.Track("o9", "room", "bob", nil)
	checkConverged(t, h, recs)
	got := view(h.nodes["b"])
	if _, ok := got["room|alice"]; ok || len(got["room|bob"]) != 1 {
		t.Fatalf("b after a restarted: %v, want bob once and no alice", got)
	}
}

func TestDownPeerLeavesAndComesBack(t *testing.T) {
	h, recs := newHub(t, "a", "b")
	for _, tr := range h.nodes {
		tr.repl.downAfter = 3 * time.Second
	}
	h.nodes["a"].Track("o1", "room", "alice", nil)
	h.quiesce(t)
	// a goes silent: b ticks alone past the down period.
	for range 5 {
		h.clock = h.clock.Add(time.Second)
		h.nodes["b"].tick(true)
	}
	h.pending = nil
	if got := view(h.nodes["b"]); len(got) != 0 {
		t.Fatalf("b still lists %v after a went down", got)
	}
	if got := replay(recs["b"]); len(got) != 0 {
		t.Fatalf("b's clients still see %v", got)
	}
	if p := h.nodes["b"].Peers(); len(p) != 1 || p[0].Up {
		t.Fatalf("b's peers = %+v, want a down", p)
	}
	checkConverged(t, h, recs) // a heard again: alice is back, once
	if got := view(h.nodes["b"]); len(got["room|alice"]) != 1 {
		t.Fatalf("b after a came back: %v", got)
	}
}

func TestByeForgetsAtOnce(t *testing.T) {
	h, recs := newHub(t, "a", "b")
	h.nodes["a"].Track("o1", "room", "alice", nil)
	h.quiesce(t)
	h.nodes["a"].Close()
	for len(h.pending) > 0 {
		h.deliver(0)
	}
	delete(h.nodes, "a")
	if got := view(h.nodes["b"]); len(got) != 0 {
		t.Fatalf("b lists %v after a said goodbye", got)
	}
	if got := replay(recs["b"]); len(got) != 0 {
		t.Fatalf("b's clients still see %v", got)
	}
}
