package socket

import (
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

// One test per rule of fastPath (see its documentation).

// newFastPath is a fastPath of its own; a socket holds one by value.
func newFastPath(maxInflight int) *fastPath {
	fp := new(fastPath)
	fp.init(maxInflight)
	return fp
}

func joinedPath(t *testing.T, topic string) (*fastPath, *entry) {
	t.Helper()
	fp := newFastPath(4)
	e := fp.newEntry(topic, nil, nil, nil)
	fp.publish(fp.routes().with(e))
	return fp, e
}

// Rule 1: a published table is a new value; a table the reader loaded
// before is left as it was.
func TestFastPathTablesAreImmutable(t *testing.T) {
	fp, e := joinedPath(t, "room:a")
	before := fp.routes()
	fp.publish(before.without(func(x *entry) bool { return x == e }))
	if before.get("room:a") != e {
		t.Fatal("removing a channel changed a table the reader may hold")
	}
	if fp.routes().get("room:a") != nil {
		t.Fatal("the published table still has the removed channel")
	}
}

// Rule 2: the reader bypasses the Socket actor only for a non-join on a
// joined topic while held is zero.
func TestFastPathBypassOnlyWhenNothingHeld(t *testing.T) {
	fp, e := joinedPath(t, "room:a")
	push := protocol.Message{Topic: "room:a", Event: "shout"}
	if got := fp.bypass(&push); got != e {
		t.Fatalf("bypass(push on joined topic) = %v, want its entry", got)
	}
	join := protocol.Message{Topic: "room:a", Event: protocol.EventJoin}
	if fp.bypass(&join) != nil {
		t.Fatal("a join bypassed the Socket actor")
	}
	other := protocol.Message{Topic: "room:b", Event: "shout"}
	if fp.bypass(&other) != nil {
		t.Fatal("a push on a topic not joined bypassed the Socket actor")
	}
	fp.hold()
	if fp.bypass(&push) != nil {
		t.Fatal("a push bypassed the Socket actor while it held an earlier message")
	}
	fp.unhold()
	if fp.bypass(&push) != e {
		t.Fatal("bypass not allowed again once nothing is held")
	}
}

// Rule 3: a join holds the path from its start; the channel it adds is in
// the table by the time held drops, so the first push the reader may
// bypass with finds it.
func TestFastPathTableBeforeHeldDrops(t *testing.T) {
	fp := newFastPath(4)
	push := protocol.Message{Topic: "room:a", Event: "shout"}
	fp.hold() // the join message, counted by the reader
	e := fp.newEntry("room:a", nil, nil, nil)
	if fp.bypass(&push) != nil {
		t.Fatal("bypass allowed while a join runs")
	}
	fp.publish(fp.routes().with(e)) // joined
	fp.unhold()                     // endJoin
	if fp.bypass(&push) != e {
		t.Fatal("after the join ended the reader does not see the channel")
	}
}

// Rule 4: at most maxInflight credits are out; the next take waits until
// one comes back, and every way back returns exactly one.
func TestFastPathCreditsBoundAndReturn(t *testing.T) {
	fp, e := joinedPath(t, "room:a")
	for range 4 {
		if !fp.take() {
			t.Fatal("take failed with credits left")
		}
	}
	if fp.credits() != 4 {
		t.Fatalf("%d of 4 credits out, want all: a fifth take would not wait", fp.credits())
	}
	taken := make(chan bool)
	go func() { taken <- fp.take() }()
	if !e.enter() {
		t.Fatal("enter on a live channel failed")
	}
	e.done() // the channel handled a message: one credit back
	if !<-taken {
		t.Fatal("the waiting take failed")
	}
	if n := e.inflight.Load(); n != 0 {
		t.Fatalf("in flight after done: %d, want 0", n)
	}
	fp.give() // the Socket actor answered one
	if fp.credits() != 3 {
		t.Fatalf("credits out: %d, want 3", fp.credits())
	}
}

// Rule 5: a stopped channel's unhandled messages give their credits back
// and its entry turns away later messages.
func TestFastPathReclaimMarksGone(t *testing.T) {
	fp, e := joinedPath(t, "room:a")
	for range 3 {
		fp.take()
		e.enter()
	}
	fp.reclaim(e)
	if fp.credits() != 0 {
		t.Fatalf("credits out after reclaim: %d, want 0", fp.credits())
	}
	if e.enter() {
		t.Fatal("enter succeeded on a channel whose credits were reclaimed")
	}
	e.done() // a late Done of a message the channel did handle after all
	if e.enter() {
		t.Fatal("a late done revived a gone channel")
	}
}

// Rule 6: closing wakes a reader waiting for a credit, which then stops.
func TestFastPathCloseWakesReader(t *testing.T) {
	fp := newFastPath(1)
	fp.take()
	taken := make(chan bool)
	go func() { taken <- fp.take() }()
	early := fp.doneChan() // asked for before the close
	fp.close()
	fp.close() // idempotent
	if <-taken {
		t.Fatal("take succeeded after close")
	}
	for i, done := range []<-chan struct{}{early, fp.doneChan()} {
		select {
		case <-done:
		default:
			t.Errorf("Done channel %d not closed after close", i)
		}
	}
}

// Done is made on first use: one asked for after the close is closed too,
// and one asked for before is closed by it.
func TestFastPathDoneMadeOnFirstUse(t *testing.T) {
	fp := newFastPath(1)
	done := fp.doneChan()
	select {
	case <-done:
		t.Fatal("Done closed before the close")
	default:
	}
	if fp.doneChan() != done {
		t.Fatal("Done made twice")
	}
	late := newFastPath(1)
	late.close()
	select {
	case <-late.doneChan():
	default:
		t.Fatal("Done made after the close is open")
	}
}

// An entry keeps its join_ref as a string and compares a push's join_ref
// with it as protocol.Ref's Equal does: nulls alike, tokens byte for byte.
func TestEntryJoinRefIsAsRefEqual(t *testing.T) {
	refs := []protocol.Ref{nil, protocol.Ref("null"), protocol.Ref(`"1"`), protocol.Ref(`"2"`), protocol.Ref("1"), protocol.Ref(`"10"`)}
	fp := newFastPath(1)
	for _, joined := range refs {
		e := fp.newEntry("room:a", nil, nil, joined)
		for _, pushed := range refs {
			if got, want := e.joinRefIs(pushed), pushed.Equal(joined); got != want {
				t.Errorf("joined with %q, pushed with %q: joinRefIs %v, Equal %v", joined, pushed, got, want)
			}
		}
	}
}
