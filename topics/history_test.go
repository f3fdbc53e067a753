package topics_test

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// keep makes every topic starting with "room:" keep a history.
func keep(r topics.Retention) topics.RetentionFunc {
	return func(topic string) (topics.Retention, bool) {
		return r, len(topic) > 5 && topic[:5] == "room:"
	}
}

func bodies(t *testing.T, bs []topics.Broadcast) []int {
	t.Helper()
	out := []int{}
	for _, b := range bs {
		var v struct {
			N   int    `json:"n"`
			Pos string `json:"_pos"`
		}
		if err := b.Payload.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(".%d", b.Seq); len(v.Pos) < len(want) || v.Pos[len(v.Pos)-len(want):] != want {
			t.Fatalf("payload %s carries _pos %q, want one ending in %q", b.Payload.Bytes(), v.Pos, want)
		}
		out = append(out, v.N)
	}
	return out
}

func broadcastN(t *testing.T, ps *topics.PubSub, topic string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := ps.Broadcast(topic, "msg", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHistoryCountBound(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 3}))
	broadcastN(t, ps, "room:1", 1, 5)
	if got := bodies(t, ps.History("room:1", 10)); fmt.Sprint(got) != "[3 4 5]" {
		t.Fatalf("History = %v, want [3 4 5]", got)
	}
	if got := bodies(t, ps.History("room:1", 2)); fmt.Sprint(got) != "[4 5]" {
		t.Fatalf("History(2) = %v, want [4 5]", got)
	}
	if got := ps.History("plain", 10); got != nil {
		t.Fatalf("a topic that keeps no history has %v", got)
	}
}

func TestHistoryBytesBound(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Bytes: 100}))
	broadcastN(t, ps, "room:1", 1, 20)
	got := bodies(t, ps.History("room:1", 100))
	size := 0
	for _, b := range ps.History("room:1", 100) {
		size += len(b.Event) + len(b.Payload.Bytes())
	}
	if size > 100 || len(got) == 0 || got[len(got)-1] != 20 {
		t.Fatalf("History = %v (%d bytes), want the newest within 100 bytes", got, size)
	}
}

func TestHistoryAgeBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := topics.New()
		ps.Retain(keep(topics.Retention{Count: 100, Age: time.Minute}))
		broadcastN(t, ps, "room:1", 1, 2)
		time.Sleep(50 * time.Second)
		broadcastN(t, ps, "room:1", 3, 3)
		time.Sleep(20 * time.Second)
		if got := bodies(t, ps.History("room:1", 10)); fmt.Sprint(got) != "[3]" {
			t.Fatalf("History = %v, want [3]", got)
		}
		time.Sleep(time.Minute)
		if got := ps.History("room:1", 10); len(got) != 0 {
			t.Fatalf("History = %v, want none", got)
		}
	})
}

func TestHistoryRefusesNonObjects(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 3}))
	got := 0
	sub := ps.Subscribe("room:1", topics.Subscriber{Deliver: func(topics.Broadcast) { got++ }})
	defer sub.Unsubscribe()
	for _, p := range []any{[]int{1}, "text", protocol.Binary([]byte("x"))} {
		if err := ps.Broadcast("room:1", "msg", p); !errors.Is(err, protocol.ErrNotObject) {
			t.Errorf("Broadcast(%v) = %v, want ErrNotObject", p, err)
		}
	}
	if got != 0 {
		t.Fatalf("%d refused broadcasts were delivered", got)
	}
	if err := ps.Broadcast("plain", "msg", "text"); err != nil {
		t.Fatalf("a plain topic takes any payload: %v", err)
	}
}

// seqSink records the frames and positions Dispatch hands it.
type seqSink struct {
	plain int
	seqs  []uint64
}

func (s *seqSink) Serializer() protocol.Serializer { return protocol.V2() }
func (s *seqSink) Send(protocol.Frame) bool        { s.plain++; return true }
func (s *seqSink) SendSeq(_ protocol.Frame, seq uint64) bool {
	s.seqs = append(s.seqs, seq)
	return true
}

func TestDispatchGivesPositionsToSeqSinks(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 3}))
	s := &seqSink{}
	a := ps.Subscribe("room:1", topics.Subscriber{Sink: s})
	b := ps.Subscribe("plain", topics.Subscriber{Sink: s})
	defer a.Unsubscribe()
	defer b.Unsubscribe()
	broadcastN(t, ps, "room:1", 1, 3)
	broadcastN(t, ps, "plain", 1, 2)
	if fmt.Sprint(s.seqs) != "[1 2 3]" || s.plain != 2 {
		t.Fatalf("positions %v and %d plain frames, want [1 2 3] and 2", s.seqs, s.plain)
	}
}

func TestRecoverOutcomes(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 3}))
	fresh, ok := ps.Recover("room:1", nil)
	if !ok || fresh.Outcome != topics.Fresh || fresh.Head.Seq != 0 || fresh.Head.Epoch == "" {
		t.Fatalf("fresh Recover = %+v, %v", fresh, ok)
	}
	broadcastN(t, ps, "room:1", 1, 5) // keeps 3, 4, 5
	epoch := fresh.Head.Epoch
	for _, tc := range []struct {
		since  topics.Position
		want   topics.Outcome
		missed string
	}{
		{topics.Position{Epoch: epoch, Seq: 5}, topics.Recovered, "[]"},
		{topics.Position{Epoch: epoch, Seq: 3}, topics.Recovered, "[4 5]"},
		{topics.Position{Epoch: epoch, Seq: 2}, topics.Recovered, "[3 4 5]"},
		{topics.Position{Epoch: epoch, Seq: 1}, topics.TooOld, "[]"},
		{topics.Position{Epoch: epoch, Seq: 0}, topics.TooOld, "[]"},
		{topics.Position{Epoch: epoch, Seq: 6}, topics.Ahead, "[]"},
		{topics.Position{Epoch: epoch + "x", Seq: 4}, topics.OtherEpoch, "[]"},
	} {
		rec, _ := ps.Recover("room:1", &tc.since)
		if rec.Outcome != tc.want || fmt.Sprint(bodies(t, rec.Missed)) != tc.missed || rec.Head.Seq != 5 {
			t.Errorf("Recover(%v) = %v %v head %v; want %v %s head 5",
				tc.since, rec.Outcome, bodies(t, rec.Missed), rec.Head, tc.want, tc.missed)
		}
	}
	if rec, ok := ps.Recover("plain", &topics.Position{Epoch: epoch, Seq: 1}); ok || rec.Outcome != topics.NoHistory {
		t.Fatalf("Recover on a plain topic = %+v, %v", rec, ok)
	}
	other := topics.New()
	other.Retain(keep(topics.Retention{Count: 3}))
	if r, _ := other.Recover("room:1", nil); r.Head.Epoch == epoch {
		t.Fatal("two streams share an epoch")
	}
}

func TestRecoverSharesNoTopic(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 10}))
	broadcastN(t, ps, "room:1", 1, 3)
	broadcastN(t, ps, "room:2", 7, 7)
	head, _ := ps.Recover("room:1", nil)
	rec, _ := ps.Recover("room:2", &topics.Position{Epoch: head.Head.Epoch, Seq: 0})
	if rec.Outcome == topics.Recovered {
		t.Fatalf("a position of room:1 recovered room:2: %v", bodies(t, rec.Missed))
	}
}

func TestParsePosition(t *testing.T) {
	for _, s := range []string{"abc.0", "z9.18446744073709551615", "a.b.7"} {
		if _, err := topics.ParsePosition(s); s == "a.b.7" {
			if err == nil {
				t.Errorf("ParsePosition(%q) accepted a dot in the epoch", s)
			}
		} else if p, err := topics.ParsePosition(s); err != nil || p.String() != s {
			t.Errorf("ParsePosition(%q) = %v, %v", s, p, err)
		}
	}
	for _, s := range []string{"", ".1", "abc.", "abc", "ABC.1", "abc.-1", "abc.+1", "abc.1x", "abc.18446744073709551616", "é.1"} {
		if _, err := topics.ParsePosition(s); !errors.Is(err, topics.ErrBadPosition) {
			t.Errorf("ParsePosition(%q) err = %v, want ErrBadPosition", s, err)
		}
	}
}

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"abc.1", "", "a.b.c", "x.99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := topics.ParsePosition(s)
		if err != nil {
			return
		}
		if q, err := topics.ParsePosition(p.String()); err != nil || q != p {
			t.Fatalf("%q parsed to %v, which does not round-trip: %v, %v", s, p, q, err)
		}
	})
}

func TestRetentionValidate(t *testing.T) {
	for _, tc := range []struct {
		r  topics.Retention
		ok bool
	}{
		{topics.Retention{Count: 1}, true},
		{topics.Retention{Bytes: 1, Age: time.Second}, true},
		{topics.Retention{Age: time.Second}, false},
		{topics.Retention{}, false},
		{topics.Retention{Count: -1, Bytes: 5}, false},
	} {
		if err := tc.r.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tc.r, err, tc.ok)
		}
	}
}

// nopSeqSink counts frames as the join gate takes them, position and all.
type nopSeqSink struct{ n int }

func (s *nopSeqSink) Serializer() protocol.Serializer     { return protocol.V2() }
func (s *nopSeqSink) Send(protocol.Frame) bool            { s.n++; return true }
func (s *nopSeqSink) SendSeq(protocol.Frame, uint64) bool { s.n++; return true }

// BenchmarkFanoutRecoverable compares the fan-out of one broadcast to 1 000
// subscribers on a plain topic and on one that keeps a history.
func BenchmarkFanoutRecoverable(b *testing.B) {
	const subs = 1000
	for _, recoverable := range []bool{false, true} {
		name := "plain"
		if recoverable {
			name = "recoverable"
		}
		b.Run(name, func(b *testing.B) {
			ps := topics.New()
			if recoverable {
				ps.Retain(keep(topics.Retention{Count: 1000, Age: time.Hour}))
			}
			for range subs {
				ps.Subscribe("room:bench", topics.Subscriber{Sink: &nopSeqSink{}})
			}
			payload := protocol.RawJSON([]byte(`{"body":"a message of a typical size for a chat room"}`))
			b.ReportAllocs()
			for b.Loop() {
				_ = ps.Broadcast("room:bench", "bench", payload)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
		})
	}
}

// BenchmarkHistoryMemory reports the heap one recoverable topic holds at
// rest: a stream made by a join and never broadcast to, and one holding
// its full history of 100 chat-sized messages.
func BenchmarkHistoryMemory(b *testing.B) {
	const topicsN = 2000
	for _, msgs := range []int{0, 100} {
		b.Run(fmt.Sprintf("messages=%d", msgs), func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				ps := topics.New()
				ps.Retain(keep(topics.Retention{Count: 100}))
				for i := range topicsN {
					topic := "room:" + strconv.Itoa(i)
					ps.Recover(topic, nil)
					for range msgs {
						_ = ps.Broadcast(topic, "new_msg", map[string]string{"user": "alice", "body": "a message of a typical size"})
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/topicsN, "B/topic")
				runtime.KeepAlive(ps)
			}
		})
	}
}

// watchLog is a Remote that records Watch calls.
type watchLog struct {
	mu      sync.Mutex
	watched map[string]bool
}

func (w *watchLog) Publish(*topics.Subscription, topics.Broadcast) {}
func (w *watchLog) Watch(topic string, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watched[topic] = on
}
func (w *watchLog) on(topic string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.watched[topic]
}

// TestHistoryStaysWatched checks that a node keeps receiving the other
// nodes' broadcasts on a topic that keeps a history after its last local
// subscriber leaves, and from the stream's start even without one:
// otherwise its history would have holes it cannot see.
func TestHistoryStaysWatched(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 3}))
	w := &watchLog{watched: map[string]bool{}}
	if err := ps.Attach(w); err != nil {
		t.Fatal(err)
	}
	sub := ps.Subscribe("room:1", topics.Subscriber{Sink: &nopSeqSink{}})
	ps.Recover("room:1", nil)
	sub.Unsubscribe()
	if !w.on("room:1") {
		t.Fatal("room:1 unwatched with its history kept")
	}
	_ = ps.Broadcast("room:2", "msg", nil) // starts room:2's stream
	if !w.on("room:2") {
		t.Fatal("room:2 keeps a history but is not watched")
	}
	plain := ps.Subscribe("plain", topics.Subscriber{Sink: &nopSeqSink{}})
	plain.Unsubscribe()
	if w.on("plain") {
		t.Fatal("a plain topic stayed watched")
	}
}

func TestHistoryRecordsChosenEvents(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 10, Events: []string{"msg"}}))
	s := &seqSink{}
	sub := ps.Subscribe("room:1", topics.Subscriber{Sink: s})
	defer sub.Unsubscribe()
	broadcastN(t, ps, "room:1", 1, 1)
	for _, event := range []string{"typing", "presence_diff"} {
		if err := ps.Broadcast("room:1", event, []int{1}); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
	}
	if got := ps.History("room:1", 10); len(got) != 1 || fmt.Sprint(s.seqs) != "[1]" || s.plain != 2 {
		t.Fatalf("history %v, positions %v, %d plain frames; want 1, [1], 2", got, s.seqs, s.plain)
	}
	all := topics.New()
	all.Retain(keep(topics.Retention{Count: 10}))
	_ = all.Broadcast("room:1", "presence_diff", map[string]any{})
	if got := all.History("room:1", 10); len(got) != 0 {
		t.Fatalf("presence_diff recorded: %v", got)
	}
}

// orderSink checks that positions arrive one by one, in order.
type orderSink struct {
	mu   sync.Mutex
	next uint64
	bad  string
}

func (s *orderSink) Serializer() protocol.Serializer { return protocol.V2() }
func (s *orderSink) Send(protocol.Frame) bool        { return true }
func (s *orderSink) SendSeq(_ protocol.Frame, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq != s.next && s.bad == "" {
		s.bad = fmt.Sprintf("got position %d, want %d", seq, s.next)
	}
	s.next = seq + 1
	return true
}

// TestPositionsFollowDeliveryOrder broadcasts from several goroutines at
// once: every subscriber must see the positions 1, 2, 3, ... in order, or
// a client keeping the last one could skip a message still in flight.
func TestPositionsFollowDeliveryOrder(t *testing.T) {
	ps := topics.New()
	ps.Retain(keep(topics.Retention{Count: 100}))
	sinks := make([]*orderSink, 4)
	for i := range sinks {
		sinks[i] = &orderSink{next: 1}
		defer ps.Subscribe("room:1", topics.Subscriber{Sink: sinks[i]}).Unsubscribe()
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 500 {
				if err := ps.Broadcast("room:1", "msg", map[string]int{"n": i}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, s := range sinks {
		if s.bad != "" || s.next != 2001 {
			t.Fatalf("subscriber %d: %s (next %d)", i, s.bad, s.next)
		}
	}
}
