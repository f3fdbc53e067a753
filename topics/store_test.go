package topics_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// storeKinds makes, for each history store pyre ships, a PubSub whose
// "room:" topics keep a history with r in that store.
var storeKinds = []struct {
	name string
	make func(t *testing.T, r topics.Retention) *topics.PubSub
}{
	{"memory", func(t *testing.T, r topics.Retention) *topics.PubSub {
		ps := topics.New()
		ps.Retain(keep(r))
		m, err := topics.NewMemoryHistory()
		if err != nil {
			t.Fatal(err)
		}
		if err := ps.UseHistory(m); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Close() })
		return ps
	}},
	{"jetstream", func(t *testing.T, r topics.Retention) *topics.PubSub {
		srv := testutil.StartNATS(t, testutil.NATSJetStream())
		return startHistoryNode(t, srv, "a", r).ps
	}},
}

// received collects what a subscriber gets, in order.
type received struct {
	mu sync.Mutex
	bs []topics.Broadcast
}

func (r *received) add(b topics.Broadcast) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bs = append(r.bs, b)
}

func (r *received) all() []topics.Broadcast {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]topics.Broadcast(nil), r.bs...)
}

// TestStoreContract runs one body against every store: positions grow in
// delivery order, a recovery hands back exactly what followed a position
// or says why it cannot, and never a part of it.
func TestStoreContract(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			ps := kind.make(t, topics.Retention{Count: 3})
			var got received
			sub := ps.Subscribe("room:1", topics.Subscriber{Deliver: got.add})
			defer sub.Unsubscribe()
			fresh, ok := ps.Recover("room:1", nil)
			if !ok || fresh.Outcome != topics.Fresh || fresh.Head.Epoch == "" {
				t.Fatalf("fresh Recover = %+v, %v", fresh, ok)
			}
			broadcastN(t, ps, "room:1", 1, 5)
			testutil.Eventually(t, 10*time.Second, func() bool { return len(got.all()) == 5 }, "five deliveries (got %v)", testutil.Lazy(func() string { return fmt.Sprint(len(got.all())) }))
			bs := got.all()
			if fmt.Sprint(bodies(t, bs)) != "[1 2 3 4 5]" {
				t.Fatalf("delivered %v", bodies(t, bs))
			}
			pos := make([]topics.Position, len(bs))
			for i, b := range bs {
				var v struct {
					Pos string `json:"_pos"`
				}
				if err := b.Payload.Decode(&v); err != nil {
					t.Fatal(err)
				}
				p, err := topics.ParsePosition(v.Pos)
				if err != nil || p.Epoch != fresh.Head.Epoch || p.Seq != b.Seq || (i > 0 && p.Seq <= pos[i-1].Seq) {
					t.Fatalf("delivery %d: _pos %q (%v), Seq %d; want the epoch %s and growing positions", i, v.Pos, err, b.Seq, fresh.Head.Epoch)
				}
				pos[i] = p
			}

			for _, tc := range []struct {
				name   string
				since  topics.Position
				want   topics.Outcome
				missed string
			}{
				{"at the head", pos[4], topics.Recovered, "[]"},
				{"one behind", pos[3], topics.Recovered, "[5]"},
				{"at the oldest kept", pos[2], topics.Recovered, "[4 5]"},
				{"evicted", pos[0], topics.TooOld, "[]"},
				{"before the first", fresh.Head, topics.TooOld, "[]"},
				{"ahead", topics.Position{Epoch: pos[4].Epoch, Seq: pos[4].Seq + 1}, topics.Ahead, "[]"},
				{"another epoch", topics.Position{Epoch: pos[4].Epoch + "x", Seq: pos[3].Seq}, topics.OtherEpoch, "[]"},
			} {
				rec, _ := ps.Recover("room:1", &tc.since)
				if rec.Outcome != tc.want || fmt.Sprint(bodies(t, rec.Missed)) != tc.missed || rec.Head != pos[4] || rec.Since != tc.since {
					t.Errorf("%s: Recover(%v) = %v %v head %v; want %v %s head %v",
						tc.name, tc.since, rec.Outcome, bodies(t, rec.Missed), rec.Head, tc.want, tc.missed, pos[4])
				}
			}
			if h := ps.History("room:1", 2); fmt.Sprint(bodies(t, h)) != "[4 5]" {
				t.Errorf("History(2) = %v, want [4 5]", bodies(t, h))
			}
			if err := ps.Broadcast("room:1", "msg", []int{1}); !errors.Is(err, protocol.ErrNotObject) {
				t.Errorf("a non-object broadcast: %v, want ErrNotObject", err)
			}
			if rec, ok := ps.Recover("plain", &pos[4]); ok || rec.Outcome != topics.NoHistory {
				t.Errorf("Recover on a plain topic = %+v, %v", rec, ok)
			}
			if err := ps.UseHistory(nil); !errors.Is(err, topics.ErrHistoryAttached) {
				t.Errorf("a second store: %v, want ErrHistoryAttached", err)
			}
		})
	}
}
