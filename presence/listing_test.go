package presence

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// client is a simulated phoenix.js Presence on one topic: subscribed at
// from (an index into its node's recorded diffs), then given a listing.
// Diffs that came before the listing are held and applied after it, the
// rest in order: in the end it has applied the listing and then every diff
// from its subscription on.
type client struct {
	rec   *recorder
	topic string
	from  int
	state State
}

// join subscribes a client (the recorder's length, under its lock, is the
// point after which it receives every diff) and then asks for the listing.
func join(tb testing.TB, tr *Tracker, rec *recorder, topic string) *client {
	tb.Helper()
	rec.mu.Lock()
	c := &client{rec: rec, topic: topic, from: len(rec.diffs)}
	rec.mu.Unlock()
	l, err := tr.Listing(topic)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(l.JSON, &c.state); err != nil {
		tb.Fatalf("listing %s: %v", l.JSON, err)
	}
	if n := len(c.state); n != l.Listed || n != l.Keys {
		tb.Fatalf("listing has %d keys, says %d listed of %d", n, l.Listed, l.Keys)
	}
	return c
}

// joinTracking is join for a client that is tracked as it joins: it
// subscribes, then TrackAndList gives it its listing.
func joinTracking(tb testing.TB, tr *Tracker, rec *recorder, owner, topic, key string) *client {
	tb.Helper()
	rec.mu.Lock()
	c := &client{rec: rec, topic: topic, from: len(rec.diffs)}
	rec.mu.Unlock()
	listed := 0
	_, err := tr.TrackAndList(owner, topic, key, Meta{"joining": true}, func(l Listing, err error) {
		listed++
		if err == nil {
			err = json.Unmarshal(l.JSON, &c.state)
		}
		if err != nil {
			tb.Errorf("listing: %v", err)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	if listed != 1 {
		tb.Fatalf("TrackAndList listed %d times, want once", listed)
	}
	return c
}

// view applies what the client received and returns key → sorted refs.
func (c *client) view() map[string][]string {
	v := map[string][]string{}
	for k, p := range c.state {
		v[k] = refsOf(p)
	}
	for _, d := range c.rec.all()[c.from:] {
		if d.topic == c.topic {
			applyDiff(v, d.diff)
		}
	}
	for k := range v {
		slices.Sort(v[k])
	}
	return v
}

// viewDiff names the keys on which got and want differ.
func viewDiff(got, want map[string][]string) string {
	var b strings.Builder
	for k, refs := range want {
		if !slices.Equal(got[k], refs) {
			fmt.Fprintf(&b, "%s: got %v, want %v; ", k, got[k], refs)
		}
	}
	for k, refs := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "%s: got %v, want nothing; ", k, refs)
		}
	}
	return b.String()
}

func listRefs(tr *Tracker, topic string) map[string][]string {
	want := map[string][]string{}
	for k, p := range tr.List(topic) {
		want[k] = slices.Sorted(slices.Values(refsOf(p)))
	}
	return want
}

func TestListingIsSharedUntilTheNextDiff(t *testing.T) {
	tr, rec := newTracker(t, WithCoalesce(time.Hour)) // windows end at Close
	tr.Track("o0", "room", "u0", Meta{"n": 0})
	first, _ := tr.Listing("room")
	for i := 1; i <= 50; i++ {
		// Joiners in one window: each tracks, then gets the same bytes.
		tr.Track(fmt.Sprint("o", i), "room", fmt.Sprint("u", i), Meta{"n": i})
		l, err := tr.Listing("room")
		if err != nil {
			t.Fatal(err)
		}
		if &l.JSON[0] != &first.JSON[0] {
			t.Fatalf("joiner %d got a listing of its own", i)
		}
	}
	if n := tr.Stats().Listings; n != 1 {
		t.Fatalf("%d listings encoded for one window, want 1", n)
	}
	if got := string(first.JSON); !strings.Contains(got, `"u0"`) || strings.Contains(got, `"u1"`) {
		t.Fatalf("listing %s: want u0 (broadcast) and not u1 (still in the window)", got)
	}
	if len(rec.all()) != 1 {
		t.Fatalf("%d diffs while the window is open, want 1", len(rec.all()))
	}
	tr.Close() // ends the window: one diff with u1…u50
	l, _ := tr.Listing("room")
	if l.Keys != 51 || l.Metas != 51 || tr.Stats().Listings != 2 {
		t.Fatalf("after the window: %d keys, %d metas, %d encodings; want 51, 51, 2", l.Keys, l.Metas, tr.Stats().Listings)
	}
	var s State
	if err := json.Unmarshal(l.JSON, &s); err != nil || len(s) != 51 {
		t.Fatalf("listing does not decode to 51 keys: %v", err)
	}
}

func TestListingMatchesStateJSON(t *testing.T) {
	tr, _ := newTracker(t)
	for i := range 30 {
		tr.Track(fmt.Sprint("o", i), "room", fmt.Sprint("k", i%12), Meta{"i": i, "s": "x\"y"})
	}
	tr.Update("o3", "room", "k3", Meta{"typing": true})
	tr.Untrack("o4", "room", "k4")
	l, err := tr.Listing("room")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tr.List("room").AppendJSON(nil)
	var a, b State
	_ = json.Unmarshal(l.JSON, &a)
	_ = json.Unmarshal(want, &b)
	if fmt.Sprint(listRefsOf(a)) != fmt.Sprint(listRefsOf(b)) {
		t.Fatalf("listing %s\nList    %s", l.JSON, want)
	}
}

func listRefsOf(s State) map[string][]string {
	out := map[string][]string{}
	for k, p := range s {
		out[k] = slices.Sorted(slices.Values(refsOf(p)))
	}
	return out
}

func TestLoneChangeIsNotDelayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		tr, err := New(rec, WithNode("n"), WithCoalesce(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		count := func() int { return len(rec.all()) }
		tr.Track("a", "room", "alice", nil)
		if count() != 1 {
			t.Fatal("a lone join waited for a window")
		}
		tr.Track("b", "room", "bob", nil) // inside alice's window
		if count() != 1 {
			t.Fatal("a join inside the window left at once")
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if count() != 2 {
			t.Fatalf("%d diffs at the window's end, want 2", count())
		}
		// The window that sent bob stays open one more period, then
		// closes for want of changes: the room is quiet again.
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		tr.Track("c", "room", "carol", nil)
		if count() != 3 {
			t.Fatal("the first change in a quiet room waited")
		}
		tr.Track("x", "other", "dave", nil) // another topic has its own window
		if count() != 4 {
			t.Fatal("a change on a quiet topic waited for another topic's window")
		}
	})
}

func TestTrackAndListListsBeforeTheDiff(t *testing.T) {
	tr, rec := newTracker(t, WithCoalesce(time.Hour))
	tr.Track("o1", "room", "ann", nil) // opens room's window, which never ends here
	tr.Listing("room")                 // room has a published list from now on
	var seen []string
	tr.TrackAndList("o2", "hall", "bob", nil, func(l Listing, err error) {
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range rec.all() {
			if d.topic == "hall" {
				n++
			}
		}
		seen = append(seen, fmt.Sprintf("%s diffs=%d", l.JSON[:7], n))
	})
	// Inside room's open window: listed after tracking, without the
	// newcomer, whose diff waits for the window. (hall was quiet: bob was
	// listed before hall's diff left.)
	tr.TrackAndList("o3", "room", "cat", nil, func(l Listing, err error) {
		seen = append(seen, fmt.Sprintf("keys=%d cat=%v", l.Keys, strings.Contains(string(l.JSON), `"cat"`)))
	})
	want := []string{`{"bob": diffs=0`, "keys=1 cat=false"}
	if !slices.Equal(seen, want) {
		t.Fatalf("listed %q, want %q", seen, want)
	}
	if d := rec.all(); len(d) != 2 || d[1].topic != "hall" {
		t.Fatalf("diffs %v, want room's first and then hall's", d)
	}
}

func TestPageAndCounts(t *testing.T) {
	tr, _ := newTracker(t)
	for i := range 10 {
		tr.Track(fmt.Sprint("o", i), "room", fmt.Sprintf("k%02d", i), nil)
	}
	tr.Track("tab2", "room", "k05", nil)
	if c := tr.Counts("room"); c.Keys != 10 || c.Metas != 11 {
		t.Fatalf("Counts = %+v, want 10 keys and 11 metas", c)
	}
	if c := tr.Counts("empty"); c.Keys != 0 || c.Metas != 0 {
		t.Fatalf("Counts of an empty topic = %+v", c)
	}
	p, err := tr.Page("room", 3)
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := json.Unmarshal(p.JSON, &s); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for k := range s {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(got, []string{"k00", "k01", "k02"}) || p.Listed != 3 || p.Keys != 10 || p.Metas != 11 {
		t.Fatalf("Page(3) = %v (listed %d of %d keys, %d metas)", got, p.Listed, p.Keys, p.Metas)
	}
	if again, _ := tr.Page("room", 3); &again.JSON[0] != &p.JSON[0] {
		t.Fatal("the same page was encoded twice in one version")
	}
	if all, _ := tr.Page("room", 100); all.Listed != 10 {
		t.Fatalf("Page(100) listed %d, want all 10", all.Listed)
	}
	if none, _ := tr.Page("room", 0); none.Listed != 0 || string(none.JSON) != "{}" || none.Keys != 10 {
		t.Fatalf("Page(0) = %s, %+v", none.JSON, none)
	}
	tr.UntrackAll("o0")
	if p, _ := tr.Page("room", 1); !strings.Contains(string(p.JSON), `"k01"`) || p.Keys != 9 {
		t.Fatalf("after k00 left, Page(1) = %s (%d keys)", p.JSON, p.Keys)
	}
	if l, _ := tr.Listing("nobody"); string(l.JSON) != "{}" || l.Keys != 0 {
		t.Fatalf("listing of an empty topic = %s", l.JSON)
	}
}

// TestJoinersSeeTheTruth is the property test of one node: many goroutines
// track, update and untrack in one room while clients join at random
// points; every client's listing plus the diffs after its subscription
// gives the tracker's final list.
func TestJoinersSeeTheTruth(t *testing.T) {
	for _, coalesce := range []time.Duration{0, time.Millisecond, 20 * time.Millisecond} {
		t.Run(fmt.Sprint("coalesce=", coalesce), func(t *testing.T) {
			tr, rec := newTracker(t, WithCoalesce(coalesce))
			var wg sync.WaitGroup
			var mu sync.Mutex
			var clients []*client
			for g := range 6 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 1))
					for i := range 400 {
						owner := fmt.Sprint("g", g, "-", r.IntN(9))
						key := fmt.Sprint("user", r.IntN(12))
						switch x := r.IntN(100); {
						case x < 45:
							tr.Track(owner, "room", key, Meta{"i": i})
						case x < 60:
							tr.Update(owner, "room", key, Meta{"i": i})
						case x < 80:
							tr.Untrack(owner, "room", key)
						case x < 85:
							tr.UntrackAll(owner)
						case x < 92:
							c := join(t, tr, rec, "room")
							mu.Lock()
							clients = append(clients, c)
							mu.Unlock()
						default:
							c := joinTracking(t, tr, rec, fmt.Sprint("j", g, "-", i), "room", key)
							mu.Lock()
							clients = append(clients, c)
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			tr.Close() // the last windows' diffs
			want := listRefs(tr, "room")
			if len(clients) == 0 {
				t.Fatal("no client joined")
			}
			for i, c := range clients {
				if got := c.view(); !equalViews(got, want) {
					t.Fatalf("client %d (subscribed at diff %d): %s", i, c.from, viewDiff(got, want))
				}
			}
		})
	}
}

// TestJoinersSeeTheTruthAcrossNodes is the same property over three
// replicating nodes whose messages are reordered, duplicated and lost:
// once the network is quiet, every client on every node sees the truth.
func TestJoinersSeeTheTruthAcrossNodes(t *testing.T) {
	for seed := range uint64(60) {
		h, recs := newHub(t, "a", "b", "c")
		r := rand.New(rand.NewPCG(seed, seed*3+5))
		var clients []*client
		for range 300 {
			chaos(h, r, 1)
			if r.IntN(10) == 0 {
				name := []string{"a", "b", "c"}[r.IntN(3)]
				topic := fmt.Sprint("room:", r.IntN(3))
				clients = append(clients, join(t, h.nodes[name], recs[name], topic))
			}
		}
		h.quiesce(t)
		want := truth(h)
		for i, c := range clients {
			per := map[string][]string{}
			for k, refs := range want {
				if key, ok := strings.CutPrefix(k, c.topic+"|"); ok {
					per[key] = refs
				}
			}
			if got := c.view(); !equalViews(got, per) {
				t.Fatalf("seed %d, client %d on %s: %s", seed, i, c.topic, viewDiff(got, per))
			}
		}
	}
}

func BenchmarkListing8000(b *testing.B) {
	tr, _ := newTracker(b)
	for i := range 8000 {
		tr.Track(fmt.Sprint("o", i), "room", fmt.Sprint("user-", i), Meta{"online_at": "1765000000", "typing": false})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// A new version each time: one key changes, the rest is cached.
		tr.Update(fmt.Sprint("o", i%8000), "room", fmt.Sprint("user-", i%8000), Meta{"online_at": "1765000000", "typing": i%2 == 0})
		if _, err := tr.Listing("room"); err != nil {
			b.Fatal(err)
		}
	}
}

// A topic can be due twice when TrackAndList runs (it changed again after
// an earlier diff went out, before that change was broadcast): the joiner
// is still listed once.
func TestTrackAndListListsOnce(t *testing.T) {
	tr, _ := newTracker(t)
	tr.mu.Lock()
	tr.due = append(tr.due, "room") // as if an earlier change were still to broadcast
	tr.mu.Unlock()
	n := 0
	if _, err := tr.TrackAndList("o", "room", "ann", nil, func(Listing, error) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("listed %d times, want once", n)
	}
}

// With WithCoalesceGrowth a big room's window is longer, in proportion
// to its keys and never past the maximum, while a small room keeps the
// base period and a quiet room's first change still leaves at once.
func TestCoalesceGrowthWidensBigRooms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		const base, perKey, most = 100 * time.Millisecond, time.Millisecond, 400 * time.Millisecond
		tr, err := New(rec, WithNode("n"), WithCoalesce(base), WithCoalesceGrowth(perKey, most))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		count := func(topic string) int {
			n := 0
			for _, d := range rec.all() {
				if d.topic == topic {
					n++
				}
			}
			return n
		}
		// gathers checks that a change made as topic's window opens
		// leaves with the window's diff, want later, not a moment sooner.
		gathers := func(topic, owner string, want time.Duration) {
			t.Helper()
			before := count(topic)
			tr.Track(owner, topic, owner, nil)
			time.Sleep(want - time.Millisecond)
			synctest.Wait()
			if count(topic) != before {
				t.Fatalf("%s: the change left before %v", topic, want)
			}
			time.Sleep(time.Millisecond)
			synctest.Wait()
			if count(topic) != before+1 {
				t.Fatalf("%s: the change had not left after %v", topic, want)
			}
		}
		for _, c := range []struct {
			topic string
			keys  int
			want  time.Duration
		}{
			{"small", 20, base}, // 20 ms by the keys: the base period
			{"mid", 250, 250 * time.Millisecond},
			{"big", 2000, most}, // 2 s by the keys: the maximum
		} {
			for i := range c.keys {
				tr.Track(fmt.Sprint(i), c.topic, fmt.Sprint(i), nil)
			}
			if got := count(c.topic); got != 1 {
				t.Fatalf("%s: %d diffs while its first window is open, want the first change's alone", c.topic, got)
			}
			// The first window opened with one key: the base period.
			time.Sleep(base)
			synctest.Wait()
			if got := count(c.topic); got != 2 {
				t.Fatalf("%s: %d diffs after the first window, want 2", c.topic, got)
			}
			// The window that sent them stays open, with every key
			// in: it gathers for the grown period.
			gathers(c.topic, "late", c.want)
			// Quiet for a whole window: the room's next change goes out at once.
			time.Sleep(2 * most)
			synctest.Wait()
			before := count(c.topic)
			tr.Track("lone", c.topic, "lone", nil)
			if count(c.topic) != before+1 {
				t.Fatalf("%s: the first change in the quiet room waited", c.topic)
			}
		}
	})
}

func TestCoalesceGrowthValidates(t *testing.T) {
	for _, opts := range [][]Option{
		{WithCoalesceGrowth(time.Millisecond, time.Second)}, // no base window
		{WithCoalesce(200 * time.Millisecond), WithCoalesceGrowth(time.Millisecond, 100*time.Millisecond)},
		{WithCoalesce(100 * time.Millisecond), WithCoalesceGrowth(time.Millisecond, 2*MaxCoalesce)},
		{WithCoalesce(100 * time.Millisecond), WithCoalesceGrowth(-time.Millisecond, time.Second)},
	} {
		if _, err := New(newRecorder(), append(opts, WithNode("n"))...); err == nil {
			t.Errorf("options %d accepted", len(opts))
		}
	}
}

// A topic's published list keeps its keys in a slice up to smallKeys and
// in a map past that; its listing is the tracker's state on both sides of
// the switch, growing and shrinking, and a small list is encoded whole.
func TestListingAcrossTheSmallListBound(t *testing.T) {
	tr, _ := newTracker(t, WithCoalesce(0))
	check := func(step string) {
		t.Helper()
		l, err := tr.Listing("room")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := tr.List("room").AppendJSON(nil)
		var got, exp State
		if err := json.Unmarshal(l.JSON, &got); err != nil {
			t.Fatalf("%s: listing %s: %v", step, l.JSON, err)
		}
		_ = json.Unmarshal(want, &exp)
		if fmt.Sprint(got) != fmt.Sprint(exp) || l.Keys != len(exp) || l.Listed != len(exp) {
			t.Fatalf("%s: listing %s (%d keys), want %s", step, l.JSON, l.Keys, want)
		}
	}
	check("empty")
	for i := range 2*smallKeys + 1 {
		tr.Track(fmt.Sprint("o", i), "room", fmt.Sprint("k", i), Meta{"i": i})
		check(fmt.Sprint("track ", i))
		if i == 2 {
			tr.Track("p2", "room", "k2", Meta{"second": true}) // a key with two metas
			check("second meta")
		}
	}
	for i := range 2*smallKeys + 1 {
		tr.Untrack(fmt.Sprint("o", i), "room", fmt.Sprint("k", i))
		check(fmt.Sprint("untrack ", i))
	}
	tr.Untrack("p2", "room", "k2")
	tr.Track("o0", "room", "k0", Meta{"again": true})
	check("again")
}

// A quiet small topic does not keep its published list: it is let go
// once nothing is pending and no window is open, and the next listing,
// built again from the live state, is the one the kept list would have
// given. A list whose metas are in another order than the live state's
// (after an update of one of a key's two metas), and a big one, are kept.
func TestQuietSmallListIsReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, err := New(newRecorder(), WithNode("n"), WithCoalesce(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		kept := func(topic string) bool {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			return tr.published[topic] != nil
		}
		var first []byte
		tr.TrackAndList("a", "room", "ann", Meta{"n": 1}, func(l Listing, err error) { first = l.JSON })
		if !kept("room") {
			t.Fatal("the list was let go inside the window")
		}
		time.Sleep(100 * time.Millisecond) // the window gathered nothing and closes
		synctest.Wait()
		if kept("room") {
			t.Fatal("a quiet one-key topic kept its list")
		}
		l, err := tr.Listing("room")
		if err != nil || string(l.JSON) != string(first) || l.Keys != 1 || l.Metas != 1 {
			t.Fatalf("listing after the release %s (%d keys, %d metas, %v), want %s", l.JSON, l.Keys, l.Metas, err, first)
		}

		// Two metas under one key, the first updated: the list has them
		// in the order phoenix.js gives them, the live state in track
		// order, so the list stays.
		tr.Track("b", "room", "ann", Meta{"n": 2})
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		tr.Listing("room")
		tr.Update("a", "room", "ann", Meta{"n": 3})
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if !kept("room") {
			t.Fatal("a list in another order than the live state was let go")
		}
		before, _ := tr.Listing("room")
		if !strings.Contains(string(before.JSON), `{"n":2,`) || strings.Index(string(before.JSON), `"n":2`) > strings.Index(string(before.JSON), `"n":3`) {
			t.Fatalf("listing %s: want the updated meta after the other", before.JSON)
		}

		// A big topic keeps its list when quiet.
		for i := range smallKeys + 1 {
			tr.Track(fmt.Sprint("o", i), "hall", fmt.Sprint("k", i), nil)
		}
		tr.Listing("hall")
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if !kept("hall") {
			t.Fatal("a quiet big topic let its list go")
		}
	})
}

// Without coalescing a small topic is quiet again as soon as its diff is
// out: its list goes then, and a listing in between has the change.
func TestSmallListIsReleasedAfterEachDiff(t *testing.T) {
	tr, _ := newTracker(t)
	tr.Track("a", "room", "ann", nil)
	l1, _ := tr.Listing("room")
	tr.mu.Lock()
	held := tr.published["room"] != nil
	tr.mu.Unlock()
	if !held {
		t.Fatal("the list asked for was not kept until the next diff")
	}
	tr.Track("b", "room", "bob", nil)
	tr.mu.Lock()
	held = tr.published["room"] != nil
	tr.mu.Unlock()
	if held {
		t.Fatal("the list was kept after the diff")
	}
	l2, _ := tr.Listing("room")
	if l2.Keys != 2 || string(l1.JSON) == string(l2.JSON) || !strings.Contains(string(l2.JSON), `"bob"`) {
		t.Fatalf("listings %s then %s", l1.JSON, l2.JSON)
	}
}
