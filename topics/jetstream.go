package topics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

// JetStream keeps the history of a cluster's recoverable topics in NATS
// JetStream instead of each node's memory, so that every node serves the
// same positions and history survives the loss of any pyre node.
//
// Each recoverable topic is one stream (PREFIX_H_<hash of the topic>, on
// the subject PREFIX.h.<SubjectToken(topic)>) with the topic's Retention
// as its limits; positions are the stream's sequence numbers and the epoch
// is the stream's creation time, so a stream deleted and made again never
// validates an old position. A broadcast on such a topic is published to
// its stream only; every node with local subscribers reads the stream with
// an ordered consumer and delivers what it reads, in sequence order, the
// publishing node included. Streams are made on first use.
//
// Broadcasts that are not recorded (LocalBroadcast, events the Retention
// leaves out) still go the usual way, through the Remote if any. A
// recorded broadcast reaches even this node's subscribers through the
// stream: while NATS is unreachable it fails (asynchronously: it is
// logged and counted) and nobody gets it. A stream deleted while the
// nodes run is not noticed by their feeds until they restart.
type JetStream struct {
	ps      *PubSub
	d       Delivery // set by Bind
	js      jetstream.JetStream
	node    string
	prefix  string
	storage jetstream.StorageType
	timeout time.Duration
	log     zerolog.Logger

	wg     sync.WaitGroup
	mu     sync.Mutex       // guards feeds and closed
	feeds  map[string]*feed // topic → the live feed of a topic with local subscribers
	closed bool

	smu     sync.Mutex                // serialises stream creation
	streams map[string]*historyStream // guarded by smu; topic → its stream, once made

	published, failed atomic.Uint64
}

// JetStreamOption configures NewJetStream.
type JetStreamOption func(*jsOptions) error

type jsOptions struct {
	node    string
	prefix  string
	storage jetstream.StorageType
	timeout time.Duration
	log     zerolog.Logger
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

// WithHistoryLogger sets the logger.
func WithHistoryLogger(l zerolog.Logger) JetStreamOption {
	return func(o *jsOptions) error { o.log = l; return nil }
}

// ErrNoJetStream is returned by NewJetStream when the NATS server does not
// offer JetStream.
var ErrNoJetStream = errors.New("topics: JetStream is not enabled on the NATS server (an embedded server needs a store directory)")

// NewJetStream moves ps's histories into JetStream over nc, after checking
// that the server offers it. Call it before the first broadcast on a
// recoverable topic; Close it before nc.
func NewJetStream(ps *PubSub, nc *nats.Conn, opts ...JetStreamOption) (*JetStream, error) {
	o := jsOptions{prefix: "pyre", storage: jetstream.FileStorage, timeout: 5 * time.Second, log: zerolog.Nop()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.node == "" {
		return nil, errors.New("topics: NewJetStream needs WithHistoryNode")
	}
	j := &JetStream{
		ps: ps, node: o.node, prefix: o.prefix, storage: o.storage, timeout: o.timeout,
		log:     o.log.With().Str("component", "history").Str("node", o.node).Logger(),
		feeds:   map[string]*feed{},
		streams: map[string]*historyStream{},
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
		j.failed.Add(1)
		j.log.Warn().Err(err).Str("subject", m.Subject).Msg("history publish failed")
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
	if err := ps.UseHistory(j); err != nil {
		return nil, err
	}
	return j, nil
}

// Bind implements HistoryStore.
func (j *JetStream) Bind(d Delivery) error {
	if j.d != nil {
		return ErrHistoryAttached
	}
	j.d = d
	return nil
}

// Shared implements HistoryStore: every node delivers a recorded broadcast
// from the stream.
func (j *JetStream) Shared() bool { return true }

// Append implements HistoryStore.
func (j *JetStream) Append(from *Subscription, b Broadcast, r Retention, origin Origin) error {
	return j.publish(from, b, r)
}

// Recover implements HistoryStore.
func (j *JetStream) Recover(topic string, r Retention, since *Position) Recovery {
	return j.recover(topic, r, since)
}

// Last implements HistoryStore.
func (j *JetStream) Last(topic string, r Retention, n int) []Broadcast { return j.last(topic, r, n) }

// Watch implements HistoryStore.
func (j *JetStream) Watch(topic string, r Retention, on bool) { j.watch(topic, r, on) }

// Close stops the feeds and waits for them and for pending publishes (up
// to the timeout). The PubSub keeps using JetStream for publishing.
func (j *JetStream) Close() error {
	j.mu.Lock()
	j.closed = true
	for topic, f := range j.feeds {
		delete(j.feeds, topic)
		close(f.stop)
	}
	j.mu.Unlock()
	j.wg.Wait()
	select {
	case <-j.js.PublishAsyncComplete():
		return nil
	case <-time.After(j.timeout):
		return errors.New("topics: history publishes still pending at close")
	}
}

// HistoryStats counts what a node published to JetStream.
type HistoryStats struct {
	Published uint64 `json:"published"`
	Failed    uint64 `json:"failed"`
}

// Stats returns the counters.
func (j *JetStream) Stats() HistoryStats {
	return HistoryStats{Published: j.published.Load(), Failed: j.failed.Load()}
}

// NATS headers of a recorded broadcast.
const (
	headerEvent = "Pyre-Event"
	headerNode  = "Pyre-Node"
	headerFrom  = "Pyre-From"
)

// historyStream is one topic's stream.
type historyStream struct {
	name    string
	subject string
	s       jetstream.Stream
}

func (j *JetStream) names(topic string) (name, subject string) {
	sum := sha256.Sum256([]byte(topic))
	return strings.ToUpper(j.prefix) + "_H_" + hex.EncodeToString(sum[:12]), j.prefix + ".h." + SubjectToken(topic)
}

// stream returns topic's stream, made with r's limits on first use (or
// found as another node made it).
func (j *JetStream) stream(ctx context.Context, topic string, r Retention) (*historyStream, error) {
	j.smu.Lock()
	defer j.smu.Unlock()
	if st := j.streams[topic]; st != nil {
		return st, nil
	}
	name, subject := j.names(topic)
	cfg := jetstream.StreamConfig{
		Name: name, Subjects: []string{subject}, Storage: j.storage, Discard: jetstream.DiscardOld,
		MaxMsgs: -1, MaxBytes: -1, MaxAge: r.Age,
		Description: "pyre history of " + topic,
	}
	if r.Count > 0 {
		cfg.MaxMsgs = int64(r.Count)
	}
	if r.Bytes > 0 {
		cfg.MaxBytes = int64(r.Bytes)
	}
	s, err := j.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// Made by a node with other limits or storage: the stream's own
		// settings win.
		j.log.Warn().Str("topic", topic).Str("stream", name).Msg("history stream exists with other settings; using it as it is")
		s, err = j.js.Stream(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("topics: history stream of %q: %w", topic, err)
	}
	st := &historyStream{name: name, subject: subject, s: s}
	j.streams[topic] = st
	return st, nil
}

func epochOf(info *jetstream.StreamInfo) string {
	return strconv.FormatInt(info.Created.UnixNano(), 36)
}

// publish records b in its topic's stream; the feeds deliver it.
func (j *JetStream) publish(from *Subscription, b Broadcast, r Retention) error {
	if !b.Payload.IsObject() {
		return fmt.Errorf("topics: %q keeps a history: %w", b.Topic, protocol.ErrNotObject)
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	st, err := j.stream(ctx, b.Topic, r)
	if err != nil {
		return err
	}
	m := nats.NewMsg(st.subject)
	m.Data = b.Payload.Bytes()
	m.Header.Set(headerEvent, b.Event)
	m.Header.Set(headerNode, j.node)
	if from != nil {
		m.Header.Set(headerFrom, strconv.FormatUint(from.id, 10))
	}
	if _, err := j.js.PublishMsgAsync(m); err != nil {
		j.failed.Add(1)
		return fmt.Errorf("topics: history publish on %q: %w", b.Topic, err)
	}
	j.published.Add(1)
	return nil
}

// feed is one topic's live delivery on this node: an ordered consumer of
// the topic's stream from the moment it started.
type feed struct {
	topic string
	ready chan struct{} // closed after the first start attempt
	stop  chan struct{} // closed to end the feed
	mu    sync.Mutex
	err   error // of the last start attempt; guarded by mu
}

func (f *feed) state() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// watch starts or stops topic's feed as it gains its first local
// subscriber or loses its last. It is called with the topic's shard lock
// held and does not block.
func (j *JetStream) watch(topic string, r Retention, on bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	if !on {
		if f := j.feeds[topic]; f != nil {
			delete(j.feeds, topic)
			close(f.stop)
		}
		return
	}
	if j.feeds[topic] != nil {
		return
	}
	f := &feed{topic: topic, ready: make(chan struct{}), stop: make(chan struct{})}
	j.feeds[topic] = f
	j.wg.Go(func() { j.run(f, r) })
}

// run keeps f's consumer running until f is stopped, retrying a start
// that failed every second.
func (j *JetStream) run(f *feed, r Retention) {
	first := true
	for {
		cc, err := j.start(f, r)
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		if first {
			close(f.ready)
			first = false
		}
		if err == nil {
			<-f.stop
			cc.Stop()
			return
		}
		j.log.Warn().Err(err).Str("topic", f.topic).Msg("history feed cannot start; retrying")
		select {
		case <-f.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

func (j *JetStream) start(f *feed, r Retention) (jetstream.ConsumeContext, error) {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	st, err := j.stream(ctx, f.topic, r)
	if err != nil {
		return nil, err
	}
	info, err := st.s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("topics: history stream of %q: %w", f.topic, err)
	}
	epoch := epochOf(info)
	c, err := st.s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, fmt.Errorf("topics: history feed of %q: %w", f.topic, err)
	}
	return c.Consume(func(m jetstream.Msg) {
		b, fromID, err := j.decode(f.topic, epoch, m)
		if err != nil {
			j.log.Warn().Err(err).Str("topic", f.topic).Msg("history message dropped")
			return
		}
		origin := FromRemote
		if m.Headers().Get(headerNode) == j.node {
			origin = FromLocal
		}
		_ = j.d.Deliver(nil, fromID, b, origin)
	})
}

// decode turns a stream message into the broadcast it records, its
// position added to the payload; fromID is the sending subscription when
// this node sent it with BroadcastFrom.
func (j *JetStream) decode(topic, epoch string, m jetstream.Msg) (Broadcast, uint64, error) {
	meta, err := m.Metadata()
	if err != nil {
		return Broadcast{}, 0, err
	}
	seq := meta.Sequence.Stream
	var q [48]byte
	p, err := protocol.WithMember(protocol.RawJSON(m.Data()), PositionKey,
		protocol.AppendString(q[:0], Position{Epoch: epoch, Seq: seq}.String()))
	if err != nil {
		return Broadcast{}, 0, err
	}
	h := m.Headers()
	var fromID uint64
	if h.Get(headerNode) == j.node {
		fromID, _ = strconv.ParseUint(h.Get(headerFrom), 10, 64)
	}
	return Broadcast{Topic: topic, Event: h.Get(headerEvent), Payload: p, Seq: seq}, fromID, nil
}

// recover is PubSub.Recover on JetStream.
func (j *JetStream) recover(topic string, r Retention, since *Position) Recovery {
	j.mu.Lock()
	f := j.feeds[topic]
	j.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	if f != nil {
		// The feed must run before the head is read, so that everything
		// after the head reaches this node's subscribers.
		select {
		case <-f.ready:
		case <-ctx.Done():
		}
		if err := f.state(); err != nil || ctx.Err() != nil {
			return j.unavailable(topic, since, errors.Join(err, ctx.Err()))
		}
	}
	st, err := j.stream(ctx, topic, r)
	if err != nil {
		return j.unavailable(topic, since, err)
	}
	info, err := st.s.Info(ctx)
	if err != nil {
		return j.unavailable(topic, since, err)
	}
	epoch, first, last := epochOf(info), info.State.FirstSeq, info.State.LastSeq
	rec := Recovery{Head: Position{Epoch: epoch, Seq: last}}
	if since == nil {
		return rec
	}
	rec.Since = *since
	switch {
	case since.Epoch != epoch:
		rec.Outcome = OtherEpoch
	case since.Seq > last:
		rec.Outcome = Ahead
	case since.Seq < last && (info.State.Msgs == 0 || since.Seq+1 < first):
		rec.Outcome = TooOld
	case since.Seq == last:
		rec.Outcome = Recovered
	default:
		missed, err := j.read(ctx, st, topic, epoch, since.Seq+1, last)
		switch {
		case errors.Is(err, errGap):
			rec.Outcome = TooOld
		case err != nil:
			return j.unavailable(topic, since, err)
		default:
			rec.Outcome, rec.Missed = Recovered, missed
		}
	}
	return rec
}

func (j *JetStream) unavailable(topic string, since *Position, err error) Recovery {
	j.log.Warn().Err(err).Str("topic", topic).Msg("history unavailable")
	rec := Recovery{Outcome: Unavailable}
	if since != nil {
		rec.Since = *since
	}
	return rec
}

// errGap reports that messages the read needed left the stream meanwhile.
var errGap = errors.New("topics: history gap")

// read returns the broadcasts at sequences from to to, in order.
func (j *JetStream) read(ctx context.Context, st *historyStream, topic, epoch string, from, to uint64) ([]Broadcast, error) {
	c, err := st.s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return nil, err
	}
	out := make([]Broadcast, 0, to-from+1)
	next := from
	for next <= to {
		batch, err := c.Fetch(int(min(to-next+1, 1000)), jetstream.FetchContext(ctx))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			b, _, err := j.decode(topic, epoch, m)
			if err != nil {
				return nil, err
			}
			if b.Seq != next {
				return nil, errGap
			}
			out = append(out, b)
			next++
			if next > to {
				break
			}
		}
		if err := batch.Error(); err != nil && next <= to {
			return nil, err
		}
		if n == 0 {
			return nil, errGap
		}
	}
	return out, nil
}

// last is PubSub.History on JetStream.
func (j *JetStream) last(topic string, r Retention, n int) []Broadcast {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	st, err := j.stream(ctx, topic, r)
	if err != nil {
		return nil
	}
	info, err := st.s.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return nil
	}
	from := info.State.FirstSeq
	if last := info.State.LastSeq; last-from+1 > uint64(n) {
		from = last - uint64(n) + 1
	}
	out, err := j.read(ctx, st, topic, epochOf(info), from, info.State.LastSeq)
	if err != nil {
		j.log.Warn().Err(err).Str("topic", topic).Msg("history read failed")
		return nil
	}
	return out
}
