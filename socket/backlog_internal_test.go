package socket

import (
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

// A socket makes its backlog when a channel retires or a frame waits, and
// lets it go only once both lists are empty.
func TestBacklogMadeOnNeedAndLetGo(t *testing.T) {
	var s socketActor
	if s.backlog != nil || s.retiredCount() != 0 || s.pendingCount() != 0 {
		t.Fatal("a new socket has a backlog")
	}
	s.tidy() // nothing to let go
	e := &entry{topic: "room:1"}
	s.retire(e)
	b := s.backlogged()
	b.pending = append(b.pending, protocol.Message{Topic: "room:2"})
	if s.retiredCount() != 1 || s.pendingCount() != 1 || s.backlogged() != b {
		t.Fatalf("retired %d, pending %d; want 1 each in one backlog", s.retiredCount(), s.pendingCount())
	}
	b.retired = b.retired[:0]
	s.tidy()
	if s.backlog != b {
		t.Fatal("a backlog with a waiting frame was let go")
	}
	b.pending = nil
	s.tidy()
	if s.backlog != nil {
		t.Fatal("an empty backlog was kept")
	}
}
