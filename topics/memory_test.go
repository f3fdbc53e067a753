package topics_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pyrehq/pyre/topics"
)

// memoryPubSub returns a PubSub whose "room:" topics keep a history with r
// in a memory store made with opts.
func memoryPubSub(t *testing.T, r topics.Retention, opts ...topics.MemoryOption) (*topics.PubSub, *topics.MemoryHistory) {
	t.Helper()
	ps := topics.New()
	ps.Retain(keep(r))
	m, err := topics.NewMemoryHistory(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.UseHistory(m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return ps, m
}

// The budget bounds every history together: past it the least recently
// used topics lose their oldest broadcasts, and those without subscribers
// go whole. A position whose broadcasts were evicted is never recovered in
// part.
func TestMemoryBudget(t *testing.T) {
	const budget = 256 << 10
	ps, m := memoryPubSub(t, topics.Retention{Count: 100}, topics.WithHistoryBudget(budget))
	body := strings.Repeat("x", 500)
	// A subscribed topic, written first: the least recently used.
	sub := ps.Subscribe("room:kept", topics.Subscriber{Deliver: func(topics.Broadcast) {}})
	defer sub.Unsubscribe()
	if err := ps.Broadcast("room:kept", "msg", map[string]any{"n": 1, "body": body}); err != nil {
		t.Fatal(err)
	}
	kept, _ := ps.Recover("room:kept", nil)
	first, _ := ps.Recover("room:0", nil)
	for i := range 2000 {
		if err := ps.Broadcast(fmt.Sprintf("room:%d", i), "msg", map[string]any{"n": i, "body": body}); err != nil {
			t.Fatal(err)
		}
		if st := m.Stats(); st.Bytes > budget {
			t.Fatalf("after %d broadcasts the histories take %d bytes, over the budget of %d", i+1, st.Bytes, budget)
		}
	}
	st := m.Stats()
	if st.Evicted[topics.EvictBudget] == 0 || st.Dropped[topics.EvictBudget] == 0 || st.Topics >= 2000 {
		t.Fatalf("stats %+v: want broadcasts evicted and topics dropped for the budget", st)
	}
	// room:0 was dropped whole: its old position is from another epoch.
	since := topics.Position{Epoch: first.Head.Epoch, Seq: 0}
	if rec, _ := ps.Recover("room:0", &since); rec.Outcome != topics.OtherEpoch || len(rec.Missed) != 0 {
		t.Fatalf("Recover of a dropped topic = %v with %d missed, want other epoch", rec.Outcome, len(rec.Missed))
	}
	// room:kept has a subscriber: it keeps its epoch, and the broadcast it
	// lost makes its position too old.
	if rec, _ := ps.Recover("room:kept", &kept.Head); rec.Head.Epoch != kept.Head.Epoch {
		t.Fatalf("the subscribed topic changed epoch: %v → %v", kept.Head, rec.Head)
	} else if rec.Outcome == topics.Recovered && len(rec.Missed) != 0 {
		t.Fatalf("recovered %d broadcasts after the head", len(rec.Missed))
	}
	before := topics.Position{Epoch: kept.Head.Epoch, Seq: 0}
	if rec, _ := ps.Recover("room:kept", &before); rec.Outcome != topics.TooOld {
		t.Fatalf("a position before an evicted broadcast: %v, want too old", rec.Outcome)
	}
}

// A topic with no subscriber and no broadcast for the idle TTL is dropped
// whole by the sweep, without any write; a subscribed one is not.
func TestMemoryIdleTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, m := memoryPubSub(t, topics.Retention{Count: 10},
			topics.WithIdleTTL(time.Minute), topics.WithSweepEvery(time.Second))
		broadcastN(t, ps, "room:idle", 1, 3)
		sub := ps.Subscribe("room:busy", topics.Subscriber{Deliver: func(topics.Broadcast) {}})
		defer sub.Unsubscribe()
		broadcastN(t, ps, "room:busy", 1, 3)
		idle, _ := ps.Recover("room:idle", nil)

		time.Sleep(30 * time.Second)
		synctest.Wait()
		if st := m.Stats(); st.Topics != 2 {
			t.Fatalf("after half the TTL: %+v", st)
		}
		time.Sleep(32 * time.Second) // past the TTL since the Recover above
		synctest.Wait()
		st := m.Stats()
		if st.Topics != 1 || st.Dropped[topics.EvictIdle] != 1 || st.Evicted[topics.EvictIdle] != 3 {
			t.Fatalf("after the TTL: %+v; want room:idle dropped with its 3 broadcasts", st)
		}
		if rec, _ := ps.Recover("room:idle", &idle.Head); rec.Outcome != topics.OtherEpoch {
			t.Fatalf("Recover after the drop = %v, want other epoch", rec.Outcome)
		}
		if got := bodies(t, ps.History("room:busy", 10)); fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("the subscribed topic's history: %v", got)
		}
	})
}

// The Age bound applies without a write, and the ring gives its memory
// back as it empties.
func TestMemoryAgeWithoutWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps, m := memoryPubSub(t, topics.Retention{Count: 1000, Age: 10 * time.Second},
			topics.WithIdleTTL(time.Hour), topics.WithSweepEvery(time.Second))
		empty, _ := ps.Recover("room:1", nil)
		bare := m.Stats().Bytes
		broadcastN(t, ps, "room:1", 1, 300)
		full := m.Stats().Bytes
		if full <= bare {
			t.Fatalf("300 broadcasts take %d bytes, an empty topic %d", full, bare)
		}
		time.Sleep(12 * time.Second)
		synctest.Wait()
		st := m.Stats()
		if st.Evicted[topics.EvictAge] != 300 || st.Bytes != bare {
			t.Fatalf("after the Age: %+v, want 300 evicted for age and %d bytes (an empty topic)", st, bare)
		}
		if rec, _ := ps.Recover("room:1", &empty.Head); rec.Outcome != topics.TooOld {
			t.Fatalf("Recover from before the aged broadcasts = %v, want too old", rec.Outcome)
		}
	})
}

func TestMemoryOptions(t *testing.T) {
	for _, opt := range []topics.MemoryOption{
		topics.WithHistoryBudget(1000), topics.WithIdleTTL(0), topics.WithSweepEvery(-time.Second),
	} {
		if _, err := topics.NewMemoryHistory(opt); err == nil {
			t.Error("a bad option was accepted")
		}
	}
}

// Writers, readers and evictions at once on many topics, under a budget
// they keep exceeding: the race detector checks the locking, and every
// recovery is whole or refused.
func TestMemoryConcurrent(t *testing.T) {
	ps, m := memoryPubSub(t, topics.Retention{Count: 50}, topics.WithHistoryBudget(64<<10))
	body := strings.Repeat("y", 200)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				topic := fmt.Sprintf("room:%d", (i*7+w)%300)
				if err := ps.Broadcast(topic, "msg", map[string]any{"n": i, "body": body}); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					head, _ := ps.Recover(topic, nil)
					since := topics.Position{Epoch: head.Head.Epoch, Seq: head.Head.Seq - min(head.Head.Seq, 3)}
					rec, _ := ps.Recover(topic, &since)
					if rec.Outcome == topics.Recovered && uint64(len(rec.Missed)) != rec.Head.Seq-since.Seq {
						t.Errorf("%s: recovered %d broadcasts after %d with the head at %d", topic, len(rec.Missed), since.Seq, rec.Head.Seq)
					}
				}
			}
		})
	}
	wg.Wait()
	if st := m.Stats(); st.Bytes > 64<<10 || st.Evicted[topics.EvictBudget] == 0 {
		t.Fatalf("stats %+v: want evictions for the budget and the bytes within it", st)
	}
}
