package topics

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/protocol"
)

// JetStream is the HistoryStore that keeps the histories of a cluster's
// recoverable topics in NATS JetStream instead of each node's memory, so
// that every node serves the same positions and history survives the
// loss of any pyre node.
//
// The streams do not grow with the number of topics. Topics whose
// Retention has the same Count and Age (a retention class) share a few
// streams, one per partition, the topic's partition a hash of its name;
// each topic is one subject of its partition's stream,
// PREFIX.h.<class>.<partition>.<SubjectToken(topic)>. A stream bounds
// each subject to Count messages (MaxMsgsPerSubject), every message to
// Age, and itself to a share of WithHistoryMaxBytes, dropping the oldest
// first. Retention.Bytes, which JetStream cannot apply per subject, is
// applied when a history is read: a recovery whose missed broadcasts add
// up to more is TooOld. The streams of a class are made, or found made by
// another node, the first time the class is used.
//
// Positions are stream sequence numbers (a topic's positions increase but
// are not consecutive) and the epoch is the stream's creation time, so a
// stream deleted and made again never validates an old position.
//
// A recorded broadcast is published to the stream only; the stream
// republishes every message it stores on PREFIX.hr.<class>.<partition>.
// <token>, and each node holds one plain NATS subscription per stream on
// PREFIX.hr.<class>.<partition>.*, whatever the number of topics: a node
// receives every message of the streams it uses and drops, after a map
// miss, those of topics without local subscribers. The republished
// message carries its sequence and the sequence of the topic's previous
// message, so a node that missed one (a dropped message, a reconnect)
// sees the gap at the next and reads what it missed from the stream
// before delivering on. A
// recovery reads the stream with batched direct gets, no consumer: the
// streams allow direct access, and a read of more than one message needs
// nats-server 2.11 or newer. The answers of every read come in on one
// subscription of the store's.
//
// Broadcasts that are not recorded (LocalBroadcast, events the Retention
// leaves out) still go the usual way, through the Remote if any. A
// recorded broadcast reaches even this node's subscribers through the
// stream: while NATS is unreachable it fails (asynchronously: it is
// logged and counted) and nobody gets it. Streams deleted while the nodes
// run are made again by the next broadcast after one that found them
// gone; the positions of the old ones are then another epoch.
type JetStream struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	node       string
	prefix     string
	storage    jetstream.StorageType
	partitions int
	maxBytes   int64
	timeout    time.Duration
	log        zerolog.Logger
	laneSeed   maphash.Seed

	d      Delivery // set once by Bind, before any other call
	reader *directReader

	cmu     sync.Mutex        // guards classes
	classes map[string]*class // class token → its streams

	mu      sync.Mutex                   // guards watches, subs, pending, retry and closed
	watches map[string]*watch            // topic → its watch, while it has local subscribers
	subs    map[*part]*nats.Subscription // each stream's live subscription (see subscribeLive)
	pending []*watch                     // watches to begin once their streams are made, in the order asked
	retry   []*watch                     // watches that could not begin, tried again every second
	closed  bool
	wake    chan struct{} // capacity 1: pending has work
	done    chan struct{} // closed by Close
	lanes   []chan liveMsg
	reads   chan struct{} // a slot per read in flight (see takeRead)
	wg      sync.WaitGroup

	published, failed, filled, lost, ignored atomic.Uint64
}

// JetStreamOption configures NewJetStream.
type JetStreamOption func(*jsOptions) error

type jsOptions struct {
	node       string
	prefix     string
	storage    jetstream.StorageType
	timeout    time.Duration
	partitions int
	maxBytes   int64
	removeOld  bool
	log        zerolog.Logger
}

// WithHistoryNode names this node in what it publishes (required).
func WithHistoryNode(name string) JetStreamOption {
	return func(o *jsOptions) error {
		if name == "" {
			return errors.New("topics: empty node name")
		}
		o.node = name
		return nil
	}
}

// WithHistoryPrefix sets the first subject token and the stream name
// prefix (default "pyre").
func WithHistoryPrefix(p string) JetStreamOption {
	return func(o *jsOptions) error {
		if p == "" || SubjectToken(p) != p || strings.ContainsAny(p, ":@") {
			return errors.New("topics: the history prefix must be one plain token of letters, digits, - and _")
		}
		o.prefix = p
		return nil
	}
}

// WithMemoryStorage keeps the streams in the NATS servers' memory rather
// than on their disks (the default): faster, lost with the servers.
func WithMemoryStorage() JetStreamOption {
	return func(o *jsOptions) error { o.storage = jetstream.MemoryStorage; return nil }
}

// WithHistoryTimeout bounds each JetStream request (default 5s).
func WithHistoryTimeout(d time.Duration) JetStreamOption {
	return func(o *jsOptions) error {
		if d <= 0 {
			return errors.New("topics: the history timeout must be positive")
		}
		o.timeout = d
		return nil
	}
}

// MaxHistoryStreams bounds the streams of one prefix: retention classes
// times partitions. A class that would pass it is refused (its broadcasts
// fail and its recoveries are Unavailable, with a log line).
const MaxHistoryStreams = 16

// DefaultHistoryPartitions is how many streams a retention class is spread
// over unless WithHistoryPartitions says otherwise.
const DefaultHistoryPartitions = 4

// WithHistoryPartitions sets how many streams each retention class is
// spread over, by a hash of the topic (default DefaultHistoryPartitions, at most
// MaxHistoryStreams). A read of one topic's history scans its stream's
// messages of every topic in the range it covers (the stores keep no
// per-subject list of sequences), so more partitions make recoveries
// cheaper and spread the NATS server's work over more streams, at the
// cost of more streams; every node of a cluster must use the same number.
func WithHistoryPartitions(n int) JetStreamOption {
	return func(o *jsOptions) error {
		if n < 1 || n > MaxHistoryStreams {
			return fmt.Errorf("topics: history partitions must be between 1 and %d", MaxHistoryStreams)
		}
		o.partitions = n
		return nil
	}
}

// DefaultHistoryMaxBytes is what one retention class keeps at most in
// all its streams together unless WithHistoryMaxBytes says otherwise.
const DefaultHistoryMaxBytes = 1 << 30

// WithHistoryMaxBytes bounds the bytes one retention class keeps in all
// its streams together (split evenly over the partitions; the oldest
// messages go first). -1 means no bound but the per-topic ones.
func WithHistoryMaxBytes(n int64) JetStreamOption {
	return func(o *jsOptions) error {
		if n == 0 || n < -1 {
			return errors.New("topics: the history byte bound must be positive, or -1 for none")
		}
		o.maxBytes = n
		return nil
	}
}

// WithOldHistoryRemoved deletes, at start, the streams of the layout
// pyre used before (one stream per topic, named PREFIX_H_<hash>) instead
// of refusing to start with ErrOldHistoryLayout. Their histories are lost:
// clients holding positions in them are told to resync.
func WithOldHistoryRemoved() JetStreamOption {
	return func(o *jsOptions) error { o.removeOld = true; return nil }
}

// WithHistoryLogger sets the logger.
func WithHistoryLogger(l zerolog.Logger) JetStreamOption {
	return func(o *jsOptions) error { o.log = l; return nil }
}

// ErrNoJetStream is returned by NewJetStream when the NATS server does not
// offer JetStream.
var ErrNoJetStream = errors.New("topics: JetStream is not enabled on the NATS server (an embedded server needs a store directory)")

// ErrOldHistoryLayout is returned by NewJetStream when the server holds
// streams of the layout pyre used before (one stream per topic).
var ErrOldHistoryLayout = errors.New("topics: JetStream holds history streams of the old layout (one per topic)")

// NewJetStream makes a JetStream store over nc, after checking that the
// server offers JetStream and holds no stream of the old layout, and
// makes it ps's history store (PubSub.UseHistory). Call it before the
// first broadcast on a recoverable topic; Close it before nc.
func NewJetStream(ps *PubSub, nc *nats.Conn, opts ...JetStreamOption) (*JetStream, error) {
	j, err := newJetStream(nc, opts...)
	if err != nil {
		return nil, err
	}
	if err := ps.UseHistory(j); err != nil {
		_ = j.Close()
		return nil, err
	}
	return j, nil
}

// Number of goroutines that make streams for watches waiting on them, of
// lanes that deliver what the live subscriptions receive, with each
// lane's buffer, of reads in flight, and what each live subscription may
// hold unread (messages, bytes).
const (
	jsStarters         = 2
	jsLanes            = 4
	jsLaneBuffer       = 8192
	jsReads            = 32
	jsLivePending      = 1 << 16
	jsLivePendingBytes = 64 << 20
)

func newJetStream(nc *nats.Conn, opts ...JetStreamOption) (*JetStream, error) {
	o := jsOptions{prefix: "pyre", storage: jetstream.FileStorage, timeout: 5 * time.Second,
		partitions: DefaultHistoryPartitions, maxBytes: DefaultHistoryMaxBytes, log: zerolog.Nop()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.node == "" {
		return nil, errors.New("topics: NewJetStream needs WithHistoryNode")
	}
	j := &JetStream{
		nc: nc, node: o.node, prefix: o.prefix, storage: o.storage, timeout: o.timeout,
		partitions: o.partitions, maxBytes: o.maxBytes,
		log:      o.log.With().Str("component", "history").Str("node", o.node).Logger(),
		laneSeed: maphash.MakeSeed(),
		classes:  map[string]*class{},
		watches:  map[string]*watch{},
		subs:     map[*part]*nats.Subscription{},
		wake:     make(chan struct{}, 1),
		reads:    make(chan struct{}, jsReads),
		done:     make(chan struct{}),
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
		j.failed.Add(1)
		j.log.Warn().Err(err).Str("subject", m.Subject).Msg("history publish failed")
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			j.markStale(m.Subject) // the stream is gone: the next publish makes it again
		}
	}), jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("topics: jetstream: %w", err)
	}
	j.js = js
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoJetStream, err)
	}
	if err := j.checkOldLayout(ctx, o.removeOld); err != nil {
		return nil, err
	}
	if j.reader, err = newDirectReader(nc); err != nil {
		return nil, err
	}
	j.lanes = make([]chan liveMsg, jsLanes)
	for i := range j.lanes {
		j.lanes[i] = make(chan liveMsg, jsLaneBuffer)
		lane := j.lanes[i]
		j.wg.Go(func() { j.runLane(lane) })
	}
	for range jsStarters {
		j.wg.Go(j.runStarter)
	}
	j.wg.Go(j.runRetry)
	return j, nil
}

// Bind connects j to the PubSub it serves (HistoryStore).
func (j *JetStream) Bind(d Delivery) error {
	if d == nil {
		return errors.New("topics: JetStream bound to no PubSub")
	}
	if j.d != nil {
		return ErrHistoryAttached
	}
	j.d = d
	return nil
}

// Shared reports true: every node reads the same streams.
func (j *JetStream) Shared() bool { return true }

// Close stops the live subscriptions and waits for the goroutines and for
// pending publishes (up to the timeout).
func (j *JetStream) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	close(j.done)
	for topic, w := range j.watches {
		delete(j.watches, topic)
		w.stopped.Store(true)
	}
	for p, sub := range j.subs {
		delete(j.subs, p)
		_ = sub.Unsubscribe() // fails only on a closed connection, which holds no subscription
	}
	j.mu.Unlock()
	j.wg.Wait()
	j.reader.close()
	select {
	case <-j.js.PublishAsyncComplete():
		return nil
	case <-time.After(j.timeout):
		return errors.New("topics: history publishes still pending at close")
	}
}

// HistoryStats counts what a node did with JetStream.
type HistoryStats struct {
	// Published counts the broadcasts this node recorded, Failed those
	// whose publish failed.
	Published uint64 `json:"published"`
	Failed    uint64 `json:"failed"`
	// Filled counts the broadcasts this node's live subscriptions missed
	// and read back from the stream; Lost those it missed and found gone.
	Filled uint64 `json:"filled"`
	Lost   uint64 `json:"lost"`
	// Ignored counts the messages the live subscriptions received for
	// topics without local subscribers (dropped on arrival); Watched is
	// the topics this node delivers live now.
	Ignored uint64 `json:"ignored"`
	Watched int    `json:"watched"`
	// Pending is the publishes not yet acknowledged.
	Pending int `json:"pending"`
}

// Stats returns the counters.
func (j *JetStream) Stats() HistoryStats {
	j.mu.Lock()
	watched := len(j.watches)
	j.mu.Unlock()
	return HistoryStats{Published: j.published.Load(), Failed: j.failed.Load(),
		Filled: j.filled.Load(), Lost: j.lost.Load(), Ignored: j.ignored.Load(), Watched: watched,
		Pending: j.js.PublishAsyncPending()}
}

// NATS headers of a recorded broadcast.
const (
	headerEvent = "Pyre-Event"
	headerNode  = "Pyre-Node"
	headerFrom  = "Pyre-From"
)

// Append records b in its topic's stream (HistoryStore); the live
// subscriptions of every node deliver it.
func (j *JetStream) Append(from *Subscription, b Broadcast, r Retention, origin Origin) error {
	if !b.Payload.IsObject() {
		return fmt.Errorf("topics: %q keeps a history: %w", b.Topic, protocol.ErrNotObject)
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	p, err := j.partition(ctx, b.Topic, r)
	if err != nil {
		return err
	}
	m := nats.NewMsg(p.subject(b.Topic))
	m.Data = b.Payload.Bytes()
	m.Header.Set(headerEvent, b.Event)
	if origin == FromLocal {
		m.Header.Set(headerNode, j.node)
		if from != nil {
			m.Header.Set(headerFrom, strconv.FormatUint(from.id, 10))
		}
	}
	// While the server acknowledges too slowly (4 096 publishes
	// outstanding), the publish waits up to the timeout: pressure on the
	// broadcaster rather than a lost broadcast.
	if _, err := j.js.PublishMsgAsync(m, jetstream.WithStallWait(j.timeout)); err != nil {
		j.failed.Add(1)
		return fmt.Errorf("topics: history publish on %q: %w", b.Topic, err)
	}
	j.published.Add(1)
	return nil
}

// decode turns a stored message of topic into the broadcast it records,
// its position added to the payload; fromID is the sending subscription
// when this node sent it with BroadcastFrom, and origin where it was
// made.
func (j *JetStream) decode(topic, epoch string, seq uint64, h nats.Header, data []byte) (b Broadcast, fromID uint64, origin Origin, err error) {
	var q [48]byte
	p, err := protocol.WithMember(protocol.RawJSON(data), PositionKey,
		protocol.AppendString(q[:0], Position{Epoch: epoch, Seq: seq}.String()))
	if err != nil {
		return Broadcast{}, 0, FromRemote, err
	}
	origin = FromRemote
	if h.Get(headerNode) == j.node {
		origin = FromLocal
		fromID, _ = strconv.ParseUint(h.Get(headerFrom), 10, 64)
	}
	return Broadcast{Topic: topic, Event: h.Get(headerEvent), Payload: p, Seq: seq}, fromID, origin, nil
}

// size is what a broadcast counts against Retention.Bytes, as in the
// memory store.
func size(b Broadcast) int { return len(b.Event) + len(b.Payload.Bytes()) }
