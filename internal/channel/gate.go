package channel

import (
	"sync"
	"sync/atomic"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// maxHeld bounds the broadcasts a gate holds while a join reply is written.
const maxHeld = 1024

// Gate is the Sink a channel subscribes with. It holds the broadcasts that
// arrive between the subscription and the join reply and sends them right
// after the reply; from then on frames pass straight through. So the client
// gets the reply first and misses no broadcast made after it (subscribing
// after the reply would drop those made in between).
type Gate struct {
	topics.Sink
	overflow func()
	open     atomic.Bool
	mu       sync.Mutex       // guards held and orders release against Send
	held     []protocol.Frame // guarded by mu
}

func (g *Gate) Send(f protocol.Frame) bool {
	if g.open.Load() {
		return g.Sink.Send(f)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open.Load() { // released while this Send waited
		return g.Sink.Send(f)
	}
	if len(g.held) >= maxHeld {
		if g.overflow != nil {
			g.overflow()
		}
		return false
	}
	g.held = append(g.held, f)
	return true
}

// NewGate returns a gate in front of sink; overflow is called when it
// holds too much. A gate made open passes frames straight through.
func NewGate(sink topics.Sink, overflow func(), open bool) *Gate {
	g := &Gate{Sink: sink, overflow: overflow}
	g.open.Store(open)
	return g
}

// Release sends what was held and opens the gate.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.held {
		g.Sink.Send(f)
	}
	g.held = nil
	g.open.Store(true)
}
