package channel

import (
	"sync"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

// sinkRecorder is a topics.Sink that keeps what it is sent.
type sinkRecorder struct {
	mu         sync.Mutex
	got        []string
	overflowed int // guarded by mu
}

func (s *sinkRecorder) Overflow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overflowed++
}

func (s *sinkRecorder) Serializer() protocol.Serializer { return protocol.V2() }

func (s *sinkRecorder) Send(f protocol.Frame) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, string(f.Data))
	return true
}

func (s *sinkRecorder) frames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func frame(t *testing.T, event string) protocol.Frame {
	t.Helper()
	f, err := protocol.V2().Push(nil, "room:a", event, protocol.EmptyObject())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A closed gate holds frames; Release sends them in order, ahead of any
// later frame, and then lets frames straight through.
func TestGateHoldsUntilRelease(t *testing.T) {
	sink := &sinkRecorder{}
	g := NewGate(sink, false)
	for _, ev := range []string{"a", "b"} {
		if !g.Send(frame(t, ev)) {
			t.Fatalf("held Send(%s) = false", ev)
		}
	}
	if n := len(sink.frames()); n != 0 {
		t.Fatalf("%d frames passed a closed gate", n)
	}
	reply := frame(t, "phx_reply")
	sink.Send(reply) // what the channel writes while the gate is closed
	g.Release(0)
	g.Send(frame(t, "c"))
	want := []string{string(reply.Data), string(frame(t, "a").Data), string(frame(t, "b").Data), string(frame(t, "c").Data)}
	got := sink.frames()
	if len(got) != len(want) {
		t.Fatalf("got %d frames %q, want %q", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// A gate that holds too much reports an overflow and refuses the frame.
func TestGateOverflow(t *testing.T) {
	sink := &sinkRecorder{}
	g := NewGate(sink, false)
	for range maxHeld {
		if !g.Send(frame(t, "x")) {
			t.Fatal("refused below the limit")
		}
	}
	if g.Send(frame(t, "x")) || sink.overflowed != 1 {
		t.Fatalf("past the limit: accepted or overflow called %d times, want refused and 1", sink.overflowed)
	}
}
