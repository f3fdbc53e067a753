package topics

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/protocol"
)

// NATS is the Remote that links the PubSubs of a cluster through a NATS
// server. Each topic with local subscribers is one NATS subscription on
// PREFIX.t.<SubjectToken(topic)>, so a node only receives the topics it
// needs; a broadcast is published once to that subject and every node with
// interest dispatches it to its own subscribers, encoding it once per
// serializer there.
//
// Delivery across nodes is at most once, as Phoenix.PubSub's: a broadcast
// published while this node's NATS connection is down is buffered by nats.go
// (up to its reconnect buffer) and sent after the reconnect, but broadcasts
// other nodes publish while this node is away are not replayed, and a node
// that cannot keep up drops what overflows its lanes (counted in Stats).
// Local subscribers are served throughout.
type NATS struct {
	ps     *PubSub
	nc     *nats.Conn
	node   string
	prefix string // subject prefix, ends with ".t."
	log    zerolog.Logger
	seed   maphash.Seed

	lanes []chan *nats.Msg // one dispatcher goroutine each; a topic always uses the same lane
	done  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex                    // guards subs; closed is set under it
	subs   map[string]*nats.Subscription // topic → its NATS subscription
	closed atomic.Bool                   // read without mu on the publish path

	published, received, dropped, failed atomic.Uint64
	lastFailLog                          atomic.Int64 // unix nanoseconds of the last publish-failure log line
}

// Option configures the NATS adapter (NewNATS); PubSub itself needs none.
type Option func(*natsOptions) error

type natsOptions struct {
	node       string
	prefix     string
	log        zerolog.Logger
	lanes      int
	laneBuffer int
}

// WithNode names this node in the envelopes it publishes (required).
func WithNode(name string) Option {
	return func(o *natsOptions) error {
		if name == "" {
			return errors.New("topics: empty node name")
		}
		o.node = name
		return nil
	}
}

// WithSubjectPrefix sets the first subject token (default "pyre"), so that
// several applications can share one NATS cluster.
func WithSubjectPrefix(p string) Option {
	return func(o *natsOptions) error {
		if p == "" || SubjectToken(p) != p {
			return errors.New("topics: the subject prefix must be one plain token")
		}
		o.prefix = p
		return nil
	}
}

// WithLogger sets the NATS adapter's logger.
func WithLogger(l zerolog.Logger) Option {
	return func(o *natsOptions) error { o.log = l; return nil }
}

// WithLanes sets how many goroutines dispatch incoming broadcasts (default
// 4) and how many messages each may hold before dropping (default 8192).
func WithLanes(n, buffer int) Option {
	return func(o *natsOptions) error {
		if n < 1 || buffer < 1 {
			return errors.New("topics: lanes and their buffer must be positive")
		}
		o.lanes, o.laneBuffer = n, buffer
		return nil
	}
}

// NewNATS attaches a NATS adapter to ps over nc. nc should be connected with
// nats.NoEcho() so that the server does not send this node's publishes back
// to it (they are dropped by node name otherwise). The adapter does not own
// nc: Close it after the adapter.
func NewNATS(ps *PubSub, nc *nats.Conn, opts ...Option) (*NATS, error) {
	o := natsOptions{prefix: "pyre", log: zerolog.Nop(), lanes: 4, laneBuffer: 8192}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.node == "" {
		return nil, errors.New("topics: NewNATS needs WithNode")
	}
	n := &NATS{
		ps: ps, nc: nc, node: o.node, prefix: o.prefix + ".t.",
		log:  o.log.With().Str("component", "pubsub").Str("node", o.node).Logger(),
		seed: maphash.MakeSeed(),
		done: make(chan struct{}),
		subs: map[string]*nats.Subscription{},
	}
	n.lanes = make([]chan *nats.Msg, o.lanes)
	for i := range n.lanes {
		n.lanes[i] = make(chan *nats.Msg, o.laneBuffer)
		n.wg.Add(1)
		go n.run(n.lanes[i])
	}
	if err := ps.Attach(n); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Subject returns the NATS subject that carries topic.
func (n *NATS) Subject(topic string) string { return n.prefix + SubjectToken(topic) }

// Watch subscribes to topic's subject on its first local subscriber and
// unsubscribes after its last. nats.go keeps the subscription across
// reconnects and sends it again to the server it reconnects to.
func (n *NATS) Watch(topic string, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed.Load() {
		return
	}
	if !on {
		if s := n.subs[topic]; s != nil {
			delete(n.subs, topic)
			if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				n.log.Warn().Err(err).Str("topic", topic).Msg("nats unsubscribe failed")
			}
		}
		return
	}
	if n.subs[topic] != nil {
		return
	}
	lane := n.lanes[maphash.String(n.seed, topic)%uint64(len(n.lanes))]
	s, err := n.nc.ChanSubscribe(n.Subject(topic), lane)
	if err != nil {
		n.log.Error().Err(err).Str("topic", topic).Msg("nats subscribe failed")
		return
	}
	n.subs[topic] = s
}

// Publish sends b to the other nodes; from (which may be nil) identifies
// the sending subscription in the envelope.
func (n *NATS) Publish(from *Subscription, b Broadcast) {
	if n.closed.Load() {
		return
	}
	var sender uint64
	if from != nil {
		sender = from.id
	}
	data := encodeEnvelope(make([]byte, 0, 64+len(b.Topic)+len(b.Event)+len(b.Payload.Bytes())), n.node, sender, b)
	if err := n.nc.Publish(n.Subject(b.Topic), data); err != nil {
		n.failed.Add(1)
		// One line per second at most: an outage must not flood the log.
		now := time.Now().UnixNano()
		if last := n.lastFailLog.Load(); now-last > int64(time.Second) && n.lastFailLog.CompareAndSwap(last, now) {
			n.log.Warn().Err(err).Str("topic", b.Topic).Uint64("failed_total", n.failed.Load()).Msg("nats publish failed; broadcast not sent to other nodes")
		}
		return
	}
	n.published.Add(1)
}

// run dispatches one lane's messages to the local subscribers.
func (n *NATS) run(lane chan *nats.Msg) {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case m := <-lane:
			node, _, b, err := decodeEnvelope(m.Data)
			if err != nil {
				n.dropped.Add(1)
				n.log.Warn().Err(err).Str("subject", m.Subject).Msg("dropped a malformed cluster message")
				continue
			}
			if node == n.node {
				continue // our own publish echoed back
			}
			n.received.Add(1)
			if err := n.ps.DispatchRemote(b); err != nil {
				n.log.Warn().Err(err).Str("topic", b.Topic).Msg("cluster broadcast not encodable")
			}
		}
	}
}

// NATSStats counts the adapter's traffic since it started.
type NATSStats struct {
	Status        string `json:"status"` // the NATS connection's state
	Connected     bool   `json:"connected"`
	Reconnects    uint64 `json:"reconnects"` // since the connection was made
	Topics        int    `json:"topics"`     // topics subscribed on NATS
	Published     uint64 `json:"published"`
	Received      uint64 `json:"received"`
	PublishFailed uint64 `json:"publish_failed"`
	Dropped       uint64 `json:"dropped"` // malformed or overflowed incoming messages
}

// Stats reports the connection state and the traffic counters.
func (n *NATS) Stats() NATSStats {
	n.mu.Lock()
	topics := len(n.subs)
	n.mu.Unlock()
	dropped := n.dropped.Load()
	for _, s := range n.subscriptions() {
		if d, err := s.Dropped(); err == nil {
			dropped += uint64(d)
		}
	}
	return NATSStats{
		Status: n.nc.Status().String(), Connected: n.nc.IsConnected(), Reconnects: n.nc.Stats().Reconnects,
		Topics:    topics,
		Published: n.published.Load(), Received: n.received.Load(),
		PublishFailed: n.failed.Load(), Dropped: dropped,
	}
}

func (n *NATS) subscriptions() []*nats.Subscription {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*nats.Subscription, 0, len(n.subs))
	for _, s := range n.subs {
		out = append(out, s)
	}
	return out
}

// Close unsubscribes every topic and stops the dispatchers. Broadcasts made
// afterwards stay local. It does not close the NATS connection.
func (n *NATS) Close() error {
	n.mu.Lock()
	if n.closed.Load() {
		n.mu.Unlock()
		return nil
	}
	n.closed.Store(true)
	for topic, s := range n.subs {
		_ = s.Unsubscribe()
		delete(n.subs, topic)
	}
	n.mu.Unlock()
	close(n.done)
	n.wg.Wait()
	return nil
}

// The envelope: version 1, a flags byte (bit 0: binary payload), the
// sender (the publishing subscription's id on its node, 0 for none) as a
// uvarint, then the node name, topic and event each as a uvarint length and
// bytes, then the payload bytes to the end. Order needs no sequence number:
// NATS keeps one connection's publishes on a subject in order, and each
// receiving node dispatches a topic from a single lane.
const envelopeVersion = 1

var errEnvelope = errors.New("topics: malformed cluster envelope")

func encodeEnvelope(dst []byte, node string, sender uint64, b Broadcast) []byte {
	var flags byte
	if b.Payload.IsBinary() {
		flags |= 1
	}
	dst = append(dst, envelopeVersion, flags)
	dst = binary.AppendUvarint(dst, sender)
	for _, s := range [...]string{node, b.Topic, b.Event} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return append(dst, b.Payload.Bytes()...)
}

func decodeEnvelope(data []byte) (node string, sender uint64, b Broadcast, err error) {
	if len(data) < 2 || data[0] != envelopeVersion || data[1]&^1 != 0 {
		return "", 0, Broadcast{}, errEnvelope
	}
	binaryPayload := data[1]&1 != 0
	sender, k := binary.Uvarint(data[2:])
	if k <= 0 {
		return "", 0, Broadcast{}, errEnvelope
	}
	rest := data[2+k:]
	var fields [3]string
	for i := range fields {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return "", 0, Broadcast{}, errEnvelope
		}
		fields[i] = string(rest[k : k+int(l)])
		rest = rest[k+int(l):]
	}
	payload := protocol.RawJSON(rest)
	if binaryPayload {
		payload = protocol.Binary(rest)
	}
	return fields[0], sender, Broadcast{Topic: fields[1], Event: fields[2], Payload: payload}, nil
}
