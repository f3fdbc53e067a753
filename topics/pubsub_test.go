package topics_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// sink records frames; a real Sink is a connection writer.
type sink struct {
	ser    protocol.Serializer
	mu     sync.Mutex
	frames []protocol.Frame
}

func (s *sink) Serializer() protocol.Serializer { return s.ser }
func (s *sink) Send(f protocol.Frame) bool {
	s.mu.Lock()
	s.frames = append(s.frames, f)
	s.mu.Unlock()
	return true
}
func (s *sink) texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, f := range s.frames {
		out = append(out, string(f.Data))
	}
	return out
}

func TestFanOutPerSerializer(t *testing.T) {
	ps := topics.New()
	v1, v2, other := &sink{ser: protocol.V1()}, &sink{ser: protocol.V2()}, &sink{ser: protocol.V2()}
	ps.Subscribe("room:1", topics.Subscriber{Sink: v1})
	ps.Subscribe("room:1", topics.Subscriber{Sink: v2})
	ps.Subscribe("room:2", topics.Subscriber{Sink: other})
	if err := ps.Broadcast("room:1", "new_msg", map[string]string{"body": "hi"}); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(v1.texts()), `[{"topic":"room:1","event":"new_msg","payload":{"body":"hi"},"ref":null}]`; got != want {
		t.Errorf("V1 got %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(v2.texts()), `[[null,null,"room:1","new_msg",{"body":"hi"}]]`; got != want {
		t.Errorf("V2 got %s, want %s", got, want)
	}
	if n := len(other.texts()); n != 0 {
		t.Errorf("subscriber of another topic got %d frames", n)
	}
}

func TestSharedEncoding(t *testing.T) {
	ps := topics.New()
	a, b := &sink{ser: protocol.V2()}, &sink{ser: protocol.V2()}
	ps.Subscribe("t", topics.Subscriber{Sink: a})
	ps.Subscribe("t", topics.Subscriber{Sink: b})
	_ = ps.Broadcast("t", "e", nil)
	if &a.frames[0].Data[0] != &b.frames[0].Data[0] {
		t.Fatal("two V2 subscribers got separately encoded frames; want one shared encoding")
	}
}

func TestInterceptAndFrom(t *testing.T) {
	ps := topics.New()
	var got []topics.Broadcast
	s1 := &sink{ser: protocol.V2()}
	self := ps.Subscribe("t", topics.Subscriber{Sink: s1})
	s2 := &sink{ser: protocol.V2()}
	ps.Subscribe("t", topics.Subscriber{Sink: s2, Intercept: []string{"secret"}, Deliver: func(b topics.Broadcast) {
		got = append(got, b)
	}})
	_ = ps.BroadcastFrom(self, "t", "secret", map[string]int{"x": 1})
	_ = ps.Broadcast("t", "plain", nil)
	if len(s1.texts()) != 1 {
		t.Fatalf("sender got %v; want only the plain broadcast", s1.texts())
	}
	if len(got) != 1 || got[0].Event != "secret" || string(got[0].Payload.Bytes()) != `{"x":1}` {
		t.Fatalf("intercepted = %+v", got)
	}
	if len(s2.texts()) != 1 {
		t.Fatalf("interceptor's sink got %v; want only the plain broadcast", s2.texts())
	}
}

func TestUnsubscribe(t *testing.T) {
	ps := topics.New()
	subs := make([]*topics.Subscription, 10)
	sinks := make([]*sink, 10)
	for i := range subs {
		sinks[i] = &sink{ser: protocol.V2()}
		subs[i] = ps.Subscribe("t", topics.Subscriber{Sink: sinks[i]})
	}
	for _, i := range []int{0, 9, 4, 4} { // first, last, middle, twice
		subs[i].Unsubscribe()
	}
	if n := ps.Count("t"); n != 7 {
		t.Fatalf("Count = %d, want 7", n)
	}
	_ = ps.Broadcast("t", "e", nil)
	for i, s := range sinks {
		want := 1
		if i == 0 || i == 9 || i == 4 {
			want = 0
		}
		if n := len(s.texts()); n != want {
			t.Errorf("sink %d got %d frames, want %d", i, n, want)
		}
	}
	for _, i := range []int{1, 2, 3, 5, 6, 7, 8} {
		subs[i].Unsubscribe()
	}
	if n := ps.Count("t"); n != 0 {
		t.Fatalf("Count after all unsubscribed = %d", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	ps := topics.New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := fmt.Sprintf("t%d", g%2)
			for range 200 {
				s := ps.Subscribe(topic, topics.Subscriber{Sink: &sink{ser: protocol.V2()}})
				_ = ps.Broadcast(topic, "e", nil)
				s.Unsubscribe()
			}
		}()
	}
	wg.Wait()
	if ps.Count("t0")+ps.Count("t1") != 0 {
		t.Fatal("subscriptions left behind")
	}
}

// nopSink counts frames without keeping them.
type nopSink struct{ n int }

func (s *nopSink) Serializer() protocol.Serializer { return protocol.V2() }
func (s *nopSink) Send(protocol.Frame) bool        { s.n++; return true }

// BenchmarkBroadcast reports the cost per delivered frame; allocations per
// delivery must not grow with the subscriber count.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			ps := topics.New()
			for range n {
				ps.Subscribe("room:bench", topics.Subscriber{Sink: &nopSink{}})
			}
			payload := protocol.RawJSON([]byte(`{"body":"a message of a typical size for a chat room"}`))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = ps.Broadcast("room:bench", "bench", payload)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
