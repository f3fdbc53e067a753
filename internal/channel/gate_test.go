package channel_test

import (
	"fmt"
	"testing"

	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/protocol"
)

type frames struct{ got []string }

func (f *frames) Serializer() protocol.Serializer { return protocol.V2() }
func (f *frames) Send(fr protocol.Frame) bool {
	f.got = append(f.got, string(fr.Data))
	return true
}

func frame(s string) protocol.Frame { return protocol.Frame{Data: []byte(s)} }

func TestGateReleaseDropsAtOrBelowFloor(t *testing.T) {
	sink := &frames{}
	g := channel.NewGate(sink, nil, false)
	g.SendSeq(frame("4"), 4)
	g.Send(frame("plain"))
	g.SendSeq(frame("5"), 5)
	g.SendSeq(frame("6"), 6)
	g.Release(5)
	g.SendSeq(frame("3-late"), 3)
	g.SendSeq(frame("7"), 7)
	if got := fmt.Sprint(sink.got); got != "[plain 6 7]" {
		t.Fatalf("sent %s, want [plain 6 7]", got)
	}
}

func TestGateOverflow(t *testing.T) {
	overflowed := 0
	g := channel.NewGate(&frames{}, func() { overflowed++ }, false)
	for i := range 2000 {
		g.SendSeq(frame("x"), uint64(i+1))
	}
	if overflowed == 0 {
		t.Fatal("a closed gate held without bound")
	}
}
