package presence

import (
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/topics"
)

// natsTransport carries replication messages over NATS: broadcasts on
// PREFIX.presence.all, messages for one node on PREFIX.presence.node.NAME.
type natsTransport struct {
	t      *Tracker
	nc     *nats.Conn
	all    string
	prefix string
	subs   []*nats.Subscription

	sentBytes, sentMsgs         atomic.Uint64
	receivedBytes, receivedMsgs atomic.Uint64
}

func newNATSTransport(t *Tracker, nc *nats.Conn, prefix string) (*natsTransport, error) {
	n := &natsTransport{t: t, nc: nc, all: prefix + ".presence.all", prefix: prefix + ".presence.node."}
	for _, subject := range []string{n.all, n.prefix + topics.SubjectToken(t.opts.node)} {
		s, err := nc.Subscribe(subject, n.handle)
		if err != nil {
			n.close()
			return nil, err
		}
		// Replication must not be dropped as a slow consumer for a burst.
		_ = s.SetPendingLimits(-1, 256<<20)
		n.subs = append(n.subs, s)
	}
	return n, nil
}

func (n *natsTransport) handle(msg *nats.Msg) {
	n.receivedBytes.Add(uint64(len(msg.Data)))
	n.receivedMsgs.Add(1)
	var m wireMsg
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		n.t.log.Warn().Err(err).Str("subject", msg.Subject).Msg("dropped a malformed presence message")
		return
	}
	n.t.receive(&m)
}

func (n *natsTransport) publish(subject string, m *wireMsg) {
	b, err := json.Marshal(m)
	if err != nil {
		n.t.log.Error().Err(err).Str("kind", m.Kind).Msg("presence message not encodable")
		return
	}
	if err := n.nc.Publish(subject, b); err != nil {
		// A peer that misses a delta finds the gap at the next heartbeat
		// and asks for the full state.
		n.t.log.Debug().Err(err).Str("kind", m.Kind).Msg("presence publish failed")
		return
	}
	n.sentBytes.Add(uint64(len(b)))
	n.sentMsgs.Add(1)
}

func (n *natsTransport) broadcast(m *wireMsg) { n.publish(n.all, m) }
func (n *natsTransport) send(node string, m *wireMsg) {
	n.publish(n.prefix+topics.SubjectToken(node), m)
}

func (n *natsTransport) close() {
	_ = n.nc.FlushTimeout(time.Second)
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
}

// Stats is what a tracker holds and what its replication carried.
type Stats struct {
	// Entries is the number of presences in the merged view: this
	// node's and those of the peers that are up.
	Entries int
	// Listings is how many presence lists (and pages) have been encoded:
	// one per version of a topic's list that someone asked for, however
	// many joiners shared it.
	Listings uint64
	// Replication over NATS since the tracker started (0 without it):
	// bytes and messages published, and received from other nodes.
	SentBytes, SentMsgs         uint64
	ReceivedBytes, ReceivedMsgs uint64
}

// Stats reports the tracker's counters; safe from any goroutine.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	s := Stats{Entries: t.entries, Listings: t.encodes.Load()}
	t.mu.Unlock()
	if t.repl == nil {
		return s
	}
	if n, ok := t.repl.tr.(*natsTransport); ok {
		s.SentBytes, s.SentMsgs = n.sentBytes.Load(), n.sentMsgs.Load()
		s.ReceivedBytes, s.ReceivedMsgs = n.receivedBytes.Load(), n.receivedMsgs.Load()
	}
	return s
}

// SentBytes reports the bytes and messages this tracker has published for
// replication (0 without NATS).
func (t *Tracker) SentBytes() (bytes, msgs uint64) {
	if t.repl == nil {
		return 0, 0
	}
	if n, ok := t.repl.tr.(*natsTransport); ok {
		return n.sentBytes.Load(), n.sentMsgs.Load()
	}
	return 0, 0
}
