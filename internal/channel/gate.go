package channel

import (
	"sync"
	"sync/atomic"

	"github.com/pyrehq/pyre/protocol"
)

// maxHeld bounds the broadcasts a gate holds while a join reply is written.
const maxHeld = 1024

// Gate is the Sink a channel subscribes with. It holds the broadcasts that
// arrive between the subscription and the join reply and sends them right
// after the reply; from then on frames pass straight through. So the client
// gets the reply first and misses no broadcast made after it (subscribing
// after the reply would drop those made in between).
//
// On a topic that keeps a history the gate also knows each broadcast's
// position (SendSeq): a join that replayed the history up to some position
// releases the gate with it as the floor, and every frame at or below the
// floor, held or late, is dropped, since the client already has it.
type Gate struct {
	Sink
	open  atomic.Bool
	floor atomic.Uint64 // set once, by Release, before open
	mu    sync.Mutex    // guards held and orders release against Send
	held  []heldFrame   // guarded by mu
}

type heldFrame struct {
	f   protocol.Frame
	seq uint64 // 0 when the topic keeps no history
}

// Send holds or passes a frame that has no stream position.
func (g *Gate) Send(f protocol.Frame) bool { return g.SendSeq(f, 0) }

// SendSeq is Send for a broadcast at position seq of its topic's stream.
func (g *Gate) SendSeq(f protocol.Frame, seq uint64) bool {
	if g.open.Load() {
		return g.pass(f, seq)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open.Load() { // released while this Send waited
		return g.pass(f, seq)
	}
	if len(g.held) >= maxHeld {
		g.Sink.Overflow()
		return false
	}
	g.held = append(g.held, heldFrame{f, seq})
	return true
}

func (g *Gate) pass(f protocol.Frame, seq uint64) bool {
	if seq != 0 && seq <= g.floor.Load() {
		return true // already sent by the join's recovery
	}
	return g.Sink.Send(f)
}

// NewGate returns a gate in front of sink, whose Overflow is called when
// the gate holds too much. A gate made open passes frames straight
// through.
func NewGate(sink Sink, open bool) *Gate {
	g := &Gate{}
	g.Init(sink, open)
	return g
}

// Init sets up g, a Gate held by value inside a larger struct, as NewGate
// would; call it before g is subscribed anywhere, and once.
func (g *Gate) Init(sink Sink, open bool) {
	g.Sink = sink
	g.open.Store(open)
}

// Release sends what was held, except broadcasts at or below position
// floor of the topic's stream (0 drops none), and opens the gate.
func (g *Gate) Release(floor uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.floor.Store(floor)
	for _, h := range g.held {
		g.pass(h.f, h.seq)
	}
	g.held = nil
	g.open.Store(true)
}
