package presence

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a Broadcaster that keeps every diff it is given.
type recorder struct {
	mu      sync.Mutex
	diffs   []recorded
	ch      chan struct{}
	discard bool // count nothing, keep nothing (benchmarks)
}

type recorded struct {
	topic, event string
	diff         Diff
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1)} }

func (r *recorder) LocalBroadcast(topic, event string, payload any) error {
	if r.discard {
		return nil
	}
	r.mu.Lock()
	r.diffs = append(r.diffs, recorded{topic, event, payload.(Diff)})
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.diffs)
}

// waitFor polls until n diffs were recorded.
func (r *recorder) waitFor(tb testing.TB, n int) []recorded {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if d := r.all(); len(d) >= n {
			return d
		}
		select {
		case <-r.ch:
		case <-deadline:
			tb.Fatalf("got %d diffs, want %d", len(r.all()), n)
		}
	}
}

func newTracker(tb testing.TB, opts ...Option) (*Tracker, *recorder) {
	tb.Helper()
	r := newRecorder()
	t, err := New(r, append([]Option{WithNode("test")}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { t.Close() })
	return t, r
}

func refsOf(p Entry) []string {
	var out []string
	for _, m := range p.Metas {
		out = append(out, m.Ref())
	}
	return out
}

func TestTrackListAndDiff(t *testing.T) {
	tr, rec := newTracker(t)
	ref, err := tr.Track("o1", "room:1", "alice", Meta{"status": "away"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != 16 {
		t.Fatalf("phx_ref %q has %d chars, want 16", ref, len(ref))
	}
	got := tr.List("room:1")
	if len(got) != 1 || len(got["alice"].Metas) != 1 {
		t.Fatalf("List = %v", got)
	}
	m := got["alice"].Metas[0]
	if m["status"] != "away" || m.Ref() != ref {
		t.Fatalf("meta = %v", m)
	}
	diffs := rec.waitFor(t, 1)
	d := diffs[0]
	if d.topic != "room:1" || d.event != EventDiff {
		t.Fatalf("broadcast on %q %q", d.topic, d.event)
	}
	if refs := refsOf(d.diff.Joins["alice"]); !slices.Equal(refs, []string{ref}) || len(d.diff.Leaves) != 0 {
		t.Fatalf("diff = %+v", d.diff)
	}
	if len(tr.List("room:other")) != 0 || tr.List("room:other") == nil {
		t.Fatal("List of an empty topic should be an empty, non-nil State")
	}
}

func TestMetaIsCopied(t *testing.T) {
	tr, _ := newTracker(t)
	meta := Meta{"n": 1}
	if _, err := tr.Track("o", "t", "k", meta); err != nil {
		t.Fatal(err)
	}
	meta["n"] = 2
	if _, ok := meta[RefKey]; ok {
		t.Fatal("Track wrote phx_ref into the caller's map")
	}
	if got := tr.List("t")["k"].Metas[0]["n"]; got != 1 {
		t.Fatalf("stored meta changed with the caller's map: n = %v", got)
	}
}

func TestSeveralOwnersOneKey(t *testing.T) {
	tr, rec := newTracker(t)
	r1, _ := tr.Track("tab1", "room:1", "alice", Meta{})
	r2, _ := tr.Track("tab2", "room:1", "alice", Meta{})
	if got := refsOf(tr.List("room:1")["alice"]); !slices.Equal(got, []string{r1, r2}) {
		t.Fatalf("metas = %v, want [%s %s]", got, r1, r2)
	}
	if err := tr.Untrack("tab1", "room:1", "alice"); err != nil {
		t.Fatal(err)
	}
	if got := refsOf(tr.List("room:1")["alice"]); !slices.Equal(got, []string{r2}) {
		t.Fatalf("after one tab left, metas = %v, want [%s]", got, r2)
	}
	d := rec.waitFor(t, 3)[2].diff
	if got := refsOf(d.Leaves["alice"]); !slices.Equal(got, []string{r1}) || len(d.Joins) != 0 {
		t.Fatalf("leave diff = %+v", d)
	}
}

func TestErrors(t *testing.T) {
	tr, _ := newTracker(t)
	if _, err := tr.Track("o", "t", "k", nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"track twice", second(tr.Track("o", "t", "k", nil)), ErrAlreadyTracked},
		{"update unknown key", second(tr.Update("o", "t", "x", nil)), ErrNotTracked},
		{"update unknown topic", second(tr.Update("o", "nope", "k", nil)), ErrNotTracked},
		{"update other owner", second(tr.Update("o2", "t", "k", nil)), ErrNotTracked},
		{"empty key", second(tr.Track("o", "t", "", nil)), ErrInvalid},
		{"empty owner", second(tr.Track("", "t", "k", nil)), ErrInvalid},
		{"untrack absent", tr.Untrack("o", "t", "absent"), nil},
	}
	for _, tt := range tests {
		if tt.err != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if _, err := New(newRecorder(), WithCoalesce(-time.Second)); err == nil {
		t.Error("negative coalesce period accepted")
	}
	if _, err := New(newRecorder(), WithNode("")); err == nil {
		t.Error("empty node name accepted")
	}
}

func second(_ string, err error) error { return err }

func TestUpdateIsJoinAndLeave(t *testing.T) {
	tr, rec := newTracker(t)
	old, _ := tr.Track("o", "room:1", "alice", Meta{"typing": false})
	ref, err := tr.Update("o", "room:1", "alice", Meta{"typing": true, RefPrevKey: "forged"})
	if err != nil {
		t.Fatal(err)
	}
	if ref == old {
		t.Fatal("update kept the old ref")
	}
	d := rec.waitFor(t, 2)[1].diff
	j, l := d.Joins["alice"].Metas, d.Leaves["alice"].Metas
	if len(j) != 1 || len(l) != 1 {
		t.Fatalf("update diff = %+v, want alice in joins and leaves", d)
	}
	if j[0].Ref() != ref || j[0][RefPrevKey] != old || j[0]["typing"] != true {
		t.Fatalf("joined meta = %v", j[0])
	}
	if l[0].Ref() != old || l[0]["typing"] != false {
		t.Fatalf("left meta = %v", l[0])
	}
	if got := tr.List("room:1")["alice"].Metas; len(got) != 1 || got[0].Ref() != ref {
		t.Fatalf("List after update = %v", got)
	}
}

func TestUntrackAll(t *testing.T) {
	tr, rec := newTracker(t)
	tr.Track("chan", "a", "alice", nil)
	tr.Track("chan", "b", "alice", nil)
	tr.Track("other", "a", "bob", nil)
	rec.waitFor(t, 3)
	tr.UntrackAll("chan")
	diffs := rec.waitFor(t, 5)
	left := map[string]bool{}
	for _, d := range diffs[3:] {
		if len(d.diff.Leaves["alice"].Metas) == 1 {
			left[d.topic] = true
		}
	}
	if !left["a"] || !left["b"] {
		t.Fatalf("leaves on %v, want a and b", left)
	}
	if tr.Count("a") != 1 || tr.Count("b") != 0 {
		t.Fatalf("counts a=%d b=%d, want 1 and 0", tr.Count("a"), tr.Count("b"))
	}
	tr.UntrackAll("chan") // nothing left: no further diff
	tr.UntrackAll("nobody")
	if n := len(rec.all()); n != 5 {
		t.Fatalf("%d diffs after idle UntrackAll, want 5", n)
	}
}

func TestDiffJSONNeverNull(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{Diff{}, `{"joins":{},"leaves":{}}`},
		{State(nil), `{}`},
		{Entry{}, `{"metas":[]}`},
		{Entry{Metas: []Meta{{"a": 1}}, Extra: map[string]any{"user": "Al", "metas": "ignored"}}, `{"metas":[{"a":1}],"user":"Al"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("json of %#v = %s, want %s", tt.v, b, tt.want)
		}
	}
	var p Entry
	if err := json.Unmarshal([]byte(`{"metas":[{"phx_ref":"x"}],"name":"Al"}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Metas[0].Ref() != "x" || p.Extra["name"] != "Al" {
		t.Fatalf("unmarshal = %+v", p)
	}
}

func TestCoalesce(t *testing.T) {
	tr, rec := newTracker(t, WithCoalesce(time.Hour)) // the windows end only at Close
	for i := range 100 {
		if _, err := tr.Track(fmt.Sprint("o", i), "room:1", fmt.Sprint("u", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	tr.Track("gone", "room:1", "ghost", nil)
	tr.Untrack("gone", "room:1", "ghost")
	tr.Track("x", "room:2", "k", nil)
	// Each topic's first change opens its window and leaves at once.
	diffs := rec.all()
	if len(diffs) != 2 || diffs[0].topic != "room:1" || diffs[1].topic != "room:2" {
		t.Fatalf("got %d diffs before the windows ended, want room:1's first and room:2's", len(diffs))
	}
	if _, ok := diffs[0].diff.Joins["u0"]; !ok || len(diffs[0].diff.Joins) != 1 {
		t.Fatalf("first diff = %+v, want u0 alone", diffs[0].diff)
	}
	tr.Close()
	diffs = rec.all()
	if len(diffs) != 3 || diffs[2].topic != "room:1" {
		t.Fatalf("got %d diffs, want room:1's window at Close", len(diffs))
	}
	d := diffs[2].diff
	if len(d.Joins) != 99 || len(d.Leaves) != 0 {
		t.Fatalf("coalesced diff has %d joins and %d leaves, want 99 and 0", len(d.Joins), len(d.Leaves))
	}
	if _, ok := d.Joins["ghost"]; ok {
		t.Fatal("a meta that joined and left in one batch was reported")
	}
	if _, err := tr.Track("late", "room:1", "k", nil); err != ErrClosed {
		t.Fatalf("Track after Close = %v, want ErrClosed", err)
	}
}

func TestCoalesceTimerFlushes(t *testing.T) {
	tr, rec := newTracker(t, WithCoalesce(5*time.Millisecond))
	tr.Track("a", "room:1", "alice", nil)
	tr.Track("b", "room:1", "bob", nil)
	deadline := time.After(5 * time.Second)
	for {
		joins := 0
		for _, d := range rec.all() {
			joins += len(d.diff.Joins)
		}
		if joins == 2 {
			return
		}
		select {
		case <-rec.ch:
		case <-deadline:
			t.Fatalf("the timer broadcast %d of 2 joins", joins)
		}
	}
}

func TestFetchEnrichesInBatches(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	fetch := func(topic string, s State) State {
		mu.Lock()
		calls++
		mu.Unlock()
		for k, p := range s {
			p.Extra = map[string]any{"name": "user " + k}
			s[k] = p
		}
		return s
	}
	tr, rec := newTracker(t, WithFetch(fetch), WithCoalesce(time.Hour))
	for i := range 10 {
		tr.Track(fmt.Sprint(i), "t", fmt.Sprint(i), nil)
	}
	tr.Close()
	// The first join leaves at once, the other nine in one diff; the
	// empty leaves halves are not fetched.
	if calls != 2 {
		t.Fatalf("fetch called %d times for two diffs, want 2", calls)
	}
	if got := rec.all()[1].diff.Joins["3"].Extra["name"]; got != "user 3" {
		t.Fatalf("diff extra = %v", got)
	}
	l := tr.List("t")
	if calls != 3 || l["7"].Extra["name"] != "user 7" {
		t.Fatalf("List: calls=%d entry=%+v", calls, l["7"])
	}
	p, ok := tr.Get("t", "5")
	if !ok || p.Extra["name"] != "user 5" || calls != 4 {
		t.Fatalf("Get = %+v %v (calls %d)", p, ok, calls)
	}
	if _, ok := tr.Get("t", "absent"); ok {
		t.Fatal("Get found an absent key")
	}
}

// applyDiff is phoenix.js's syncDiff: joins first (a joined meta replaces
// one with the same phx_ref), then leaves by phx_ref.
func applyDiff(state map[string][]string, d Diff) {
	for k, p := range d.Joins {
		joined := refsOf(p)
		kept := slices.DeleteFunc(state[k], func(r string) bool { return slices.Contains(joined, r) })
		state[k] = append(kept, joined...)
	}
	for k, p := range d.Leaves {
		gone := refsOf(p)
		state[k] = slices.DeleteFunc(state[k], func(r string) bool { return slices.Contains(gone, r) })
		if len(state[k]) == 0 {
			delete(state, k)
		}
	}
}

// TestConcurrentDiffsReplayToList checks that a client applying every diff
// in the order it arrives ends with exactly what List reports, while many
// goroutines track, update and untrack at once.
func TestConcurrentDiffsReplayToList(t *testing.T) {
	for _, coalesce := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprint("coalesce=", coalesce), func(t *testing.T) {
			tr, rec := newTracker(t, WithCoalesce(coalesce))
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 300 {
						owner := fmt.Sprint("g", g, "-", i%7)
						key := fmt.Sprint("user", i%5)
						switch i % 3 {
						case 0:
							tr.Track(owner, "room", key, Meta{"i": i})
						case 1:
							tr.Update(owner, "room", key, Meta{"i": i})
						case 2:
							if i%2 == 0 {
								tr.Untrack(owner, "room", key)
							} else {
								tr.UntrackAll(owner)
							}
						}
					}
				})
			}
			wg.Wait()
			tr.Close()
			replayed := map[string][]string{}
			for _, d := range rec.all() {
				applyDiff(replayed, d.diff)
			}
			want := map[string][]string{}
			for k, p := range tr.List("room") {
				want[k] = refsOf(p)
			}
			if len(replayed) != len(want) {
				t.Fatalf("replayed %d keys, List has %d", len(replayed), len(want))
			}
			for k, refs := range want {
				got := slices.Clone(replayed[k])
				slices.Sort(got)
				slices.Sort(refs)
				if !slices.Equal(got, refs) {
					t.Fatalf("key %s: replayed %v, List %v", k, got, refs)
				}
			}
		})
	}
}

func TestRefsAreUnique(t *testing.T) {
	tr, _ := newTracker(t)
	seen := map[string]bool{}
	for i := range 10000 {
		r := tr.newRef()
		if seen[r] {
			t.Fatalf("ref %s repeated after %d refs", r, i)
		}
		seen[r] = true
	}
}

func BenchmarkTrackUntrack(b *testing.B) {
	tr, _ := newTracker(b)
	b.ReportAllocs()
	for b.Loop() {
		tr.Track("o", "room:1", "alice", Meta{"online_at": 1})
		tr.Untrack("o", "room:1", "alice")
	}
}

func BenchmarkList100(b *testing.B) {
	tr, _ := newTracker(b)
	for i := range 100 {
		tr.Track(fmt.Sprint(i), "room:1", fmt.Sprint(i), Meta{"online_at": i})
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.List("room:1")
	}
}

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder produces
// valid JSON that decodes to what encoding/json's encoding decodes to.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	metas := []Meta{
		{},
		{"online_at": "1700000000", "typing": false, "n": 3, "big": int64(1) << 60},
		{"quote\"key": "a\\b\n\t\x01<>&", "uni": "é ✓ \u2028", "bad": "\xff"},
		{"f": 1.5, "nil": nil, "list": []any{1, "x", nil}, "nested": Meta{"k": true}, "m": map[string]int{"z": 1}},
	}
	for _, m := range metas {
		ours, err := m.AppendJSON(nil)
		if err != nil || !json.Valid(ours) {
			t.Fatalf("AppendJSON(%v) = %s, %v", m, ours, err)
		}
		ref, err := json.Marshal(map[string]any(m))
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		_ = json.Unmarshal(ours, &a)
		_ = json.Unmarshal(ref, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("meta %v: ours %s, encoding/json %s", m, ours, ref)
		}
	}
	s := State{"b": {Metas: []Meta{metas[1]}}, "a\"": {Metas: nil, Extra: map[string]any{"name": "Al"}}}
	out, err := json.Marshal(Diff{Joins: s})
	if err != nil || !json.Valid(out) {
		t.Fatalf("diff: %s %v", out, err)
	}
	var back struct {
		Joins  map[string]Entry `json:"joins"`
		Leaves map[string]Entry `json:"leaves"`
	}
	if err := json.Unmarshal(out, &back); err != nil || len(back.Joins) != 2 || back.Leaves == nil || back.Joins["a\""].Extra["name"] != "Al" {
		t.Fatalf("diff round trip: %s → %+v %v", out, back, err)
	}
}

// An owner's presences are indexed in track order, the first apart from
// the rest: untracking the first or one in the middle keeps the order, and
// UntrackAll removes what is left in it, leaving nothing of the owner.
func TestOwnerIndexKeepsTrackOrder(t *testing.T) {
	tr, rec := newTracker(t)
	for i := 1; i <= 4; i++ {
		if _, err := tr.Track("o", fmt.Sprint("t", i), fmt.Sprint("k", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	tr.Track("other", "t1", "k9", nil)
	tr.Untrack("o", "t1", "k1") // the first: t2 takes its place
	tr.Untrack("o", "t3", "k3") // one of the rest
	from := len(rec.all())
	tr.UntrackAll("o")
	var left []string
	for _, d := range rec.all()[from:] {
		for k := range d.diff.Leaves {
			left = append(left, d.topic+"/"+k)
		}
	}
	if want := []string{"t2/k2", "t4/k4"}; !slices.Equal(left, want) {
		t.Fatalf("UntrackAll left %v, want %v", left, want)
	}
	tr.mu.Lock()
	_, first := tr.owners["o"]
	_, more := tr.ownersMore["o"]
	_, other := tr.owners["other"]
	tr.mu.Unlock()
	if first || more || !other {
		t.Fatalf("index after UntrackAll: o first %v, o more %v, other %v", first, more, other)
	}
	if _, err := tr.Track("o", "t1", "k1", nil); err != nil {
		t.Fatalf("tracking again: %v", err)
	}
}
