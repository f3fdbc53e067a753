package channel

import (
	"fmt"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

func frameOf(s string) protocol.Frame { return protocol.Frame{Data: []byte(s)} }

// Released with a floor, a gate drops the broadcasts at or below it, held
// or arriving late, and passes the rest and frames with no position.
func TestGateReleaseDropsAtOrBelowFloor(t *testing.T) {
	sink := &sinkRecorder{}
	g := NewGate(sink, false)
	g.SendSeq(frameOf("4"), 4)
	g.Send(frameOf("plain"))
	g.SendSeq(frameOf("5"), 5)
	g.SendSeq(frameOf("6"), 6)
	g.Release(5)
	g.SendSeq(frameOf("3-late"), 3)
	g.SendSeq(frameOf("7"), 7)
	if got := fmt.Sprint(sink.frames()); got != "[plain 6 7]" {
		t.Fatalf("sent %s, want [plain 6 7]", got)
	}
}
