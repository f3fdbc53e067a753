package socket

import (
	"math"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/protocol"
)

// entry is one joined channel of a socket. It never changes once made.
type entry struct {
	topic  string
	pid    *actor.PID
	handle *channel.Handle
	// inflight counts the messages handed to the channel and not yet
	// handled; see gone.
	inflight *atomic.Int32
	joinRef  protocol.Ref
	done     func() // the Done of every Inbound sent to this channel
}

// gone marks a channel's Inflight count once its Socket actor has taken
// back the credits of what the channel never handled: any later increment
// stays negative, which tells the reader the channel is gone.
const gone = math.MinInt32 / 2

// routes is an immutable table of a socket's joined channels. The Socket
// actor owns the current table and replaces it on every join and leave;
// the reader looks topics up in whichever table it loaded, with no lock.
// Most sockets join a handful of channels, so the table is a slice scanned
// in order; past smallRoutes it also carries a map.
type routes struct {
	list  []*entry
	index map[string]*entry // nil while len(list) <= smallRoutes
}

const smallRoutes = 16

var noRoutes = &routes{}

func (r *routes) get(topic string) *entry {
	if r.index != nil {
		return r.index[topic]
	}
	for _, e := range r.list {
		if e.topic == topic {
			return e
		}
	}
	return nil
}

func (r *routes) len() int { return len(r.list) }

// with returns a table that also has e, replacing any channel on e.topic.
func (r *routes) with(e *entry) *routes {
	next := make([]*entry, 0, len(r.list)+1)
	for _, old := range r.list {
		if old.topic != e.topic {
			next = append(next, old)
		}
	}
	return build(append(next, e))
}

// without returns a table without the channel for which drop is true.
func (r *routes) without(drop func(*entry) bool) *routes {
	next := make([]*entry, 0, len(r.list))
	for _, e := range r.list {
		if !drop(e) {
			next = append(next, e)
		}
	}
	if len(next) == len(r.list) {
		return r
	}
	return build(next)
}

func build(list []*entry) *routes {
	if len(list) == 0 {
		return noRoutes
	}
	r := &routes{list: list}
	if len(list) > smallRoutes {
		r.index = make(map[string]*entry, len(list))
		for _, e := range list {
			r.index[e.topic] = e
		}
	}
	return r
}
