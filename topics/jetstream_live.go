package topics

import (
	"context"
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Live delivery of the JetStream store: each node holds one NATS
// subscription per stream, on the subjects the stream republishes its
// messages on (PREFIX.hr.<class>.<partition>.*), made with the stream. A
// message of a topic with local subscribers goes to one of a few lanes by
// topic, which deliver in order and fill gaps from the stream; a message
// of any other topic is dropped after a map miss. A topic costs this node
// something only while it has local subscribers: its watch, which holds
// what gap detection needs (the last position delivered).
//
// A watch's baseline is the sequence of the last message the stream's
// subscription received before the watch began, taken under the lock the
// subscription looks watches up under. The subscription receives the
// stream's messages in the order they were stored, so every message of
// the topic stored after the watch began has a later sequence and reaches
// the watch (or is found missing by the next one and read back); a fresh
// join reads the stream's head after the watch began, so it needs none of
// the earlier ones.

// watch is the live delivery of one topic on this node, while the topic
// has local subscribers.
type watch struct {
	topic string
	token string // SubjectToken(topic)
	r     Retention
	lane  int
	ready chan struct{} // closed after the first attempt to begin (begun, the shared closed channel)

	stopped atomic.Bool // set when the topic loses its subscribers

	// Guarded by the store's mu.
	part   *part // set when the watch began (written before it is in part.watches)
	queued bool  // in pending or retry

	mu  sync.Mutex // guards err
	err error      // of the last attempt to begin

	// Written when the watch begins, before the stream's subscription can
	// see it; then owned by the topic's lane.
	last   uint64 // the last sequence delivered (at first, the baseline)
	lastAt string // its time stamp as the server wrote it
}

// liveMsg is a republished message of a watched topic, on its way to the
// topic's lane.
type liveMsg struct {
	w *watch
	m *nats.Msg
}

func (w *watch) state() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// begun is the ready channel of the watches that began at once.
var begun = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Watch begins or ends topic's live delivery as it gains its first local
// subscriber or loses its last (HistoryStore). It does not block: when
// the topic's streams are not made yet, a starter goroutine makes them
// and begins the watch.
func (j *JetStream) Watch(topic string, r Retention, on bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	w := j.watches[topic]
	if !on {
		if w != nil {
			delete(j.watches, topic)
			w.stopped.Store(true)
			if p := w.part; p != nil {
				p.unwatch(w)
			}
		}
		return
	}
	if w != nil {
		return
	}
	w = &watch{topic: topic, token: SubjectToken(topic), r: r,
		lane: int(maphash.String(j.laneSeed, topic) % uint64(len(j.lanes)))}
	j.watches[topic] = w
	if c := j.readyClass(r); c != nil {
		w.ready = begun
		j.beginLocked(w, c.parts[partitionOf(topic, len(c.parts))])
		return
	}
	w.ready = make(chan struct{})
	j.queueLocked(w)
}

// readyClass returns r's class when its streams are made, else nil.
func (j *JetStream) readyClass(r Retention) *class {
	j.cmu.Lock()
	c := j.classes[classToken(r)]
	j.cmu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.ready:
		if c.err != nil || c.stale.Load() {
			return nil
		}
		return c
	default:
		return nil
	}
}

// beginLocked makes w receive its topic's messages from p's subscription;
// the store's mu is held.
func (j *JetStream) beginLocked(w *watch, p *part) {
	w.part = p
	p.watch(w)
	w.mu.Lock()
	w.err = nil
	w.mu.Unlock()
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
}

// watch adds w to the topics p delivers, with the last sequence p's
// subscription received as its baseline.
func (p *part) watch(w *watch) {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	w.last, w.lastAt = p.seen, p.seenAt
	p.watches[w.token] = w
}

// head returns the last sequence p's subscription received: a fresh
// join's head for a topic whose watch began before it is read. Every
// later message of the topic reaches the watch (or is read back when the
// next one shows it missing), and an earlier one that reaches it after
// is dropped by the joiner's floor.
func (p *part) head() uint64 {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	return p.seen
}

func (p *part) unwatch(w *watch) {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if p.watches[w.token] == w {
		delete(p.watches, w.token)
	}
}

func (j *JetStream) queueLocked(w *watch) {
	w.queued = true
	j.pending = append(j.pending, w)
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// watching returns topic's watch, nil when it has none.
func (j *JetStream) watching(topic string) *watch {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.watches[topic]
}

// runStarter begins the watches queued by Watch, making their streams.
func (j *JetStream) runStarter() {
	for {
		j.mu.Lock()
		var w *watch
		if len(j.pending) > 0 {
			w = j.pending[0]
			j.pending[0] = nil
			j.pending = j.pending[1:]
			w.queued = false
		}
		j.mu.Unlock()
		if w == nil {
			select {
			case <-j.done:
				return
			case <-j.wake:
			}
			continue
		}
		j.start(w)
	}
}

// runRetry queues again, every second, the watches that could not begin.
func (j *JetStream) runRetry() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-j.done:
			return
		case <-t.C:
		}
		j.mu.Lock()
		for _, w := range j.retry {
			if !w.stopped.Load() && !w.queued {
				j.queueLocked(w)
			}
		}
		j.retry = j.retry[:0]
		j.mu.Unlock()
	}
}

// start finds (or makes) w's stream and begins w.
func (j *JetStream) start(w *watch) {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	p, err := j.partition(ctx, w.topic, w.r)
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case w.stopped.Load() || j.closed:
		return
	case err == nil:
		if w.part == nil {
			j.beginLocked(w, p)
		}
		return
	}
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
	j.log.Warn().Err(err).Str("topic", w.topic).Msg("history delivery cannot begin; retrying")
	j.retry = append(j.retry, w)
}

// subscribeLive makes p's subscription to what its stream republishes.
// It is made before the stream is made or found, and flushed before the
// stream's last sequence is read (see part.setSeen).
func (j *JetStream) subscribeLive(p *part) error {
	p.watches = map[string]*watch{}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errClosed
	}
	sub, err := j.nc.Subscribe(p.live+"*", func(m *nats.Msg) { j.route(p, m) })
	if err != nil {
		return err
	}
	// What a node may hold unread: past it nats.go drops, and the topics
	// concerned fill the gap from the stream at their next message.
	_ = sub.SetPendingLimits(jsLivePending, jsLivePendingBytes) // fails only on a closed subscription
	j.subs[p] = sub
	return nil
}

// unsubscribeLive ends p's subscription (its class could not be made).
func (j *JetStream) unsubscribeLive(p *part) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if sub := j.subs[p]; sub != nil {
		delete(j.subs, p)
		_ = sub.Unsubscribe()
	}
}

var errClosed = errors.New("topics: the history store is closed")

// setSeen records the stream's last sequence, read once p's subscription
// was in place, unless the subscription received a later one already.
func (p *part) setSeen(info *jetstream.StreamInfo) {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if info.State.LastSeq > p.seen {
		p.seen = info.State.LastSeq
		p.seenAt = ""
	}
}

// route takes m, a message p's stream republished, on p's subscription's
// goroutine: it hands m to the lane of its topic if the topic is watched
// here, and drops it otherwise.
func (j *JetStream) route(p *part, m *nats.Msg) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil || seq == 0 {
		j.log.Warn().Str("subject", m.Subject).Msg("history message without a sequence dropped")
		return
	}
	token := lastToken(m.Subject)
	p.lmu.Lock()
	p.seen, p.seenAt = seq, m.Header.Get(jetstream.TimeStampHeaer)
	w := p.watches[token]
	p.lmu.Unlock()
	if w == nil {
		j.ignored.Add(1)
		return
	}
	select {
	case j.lanes[w.lane] <- liveMsg{w, m}:
	case <-j.done:
	}
}

// runLane delivers the messages of the topics that hash to lane.
func (j *JetStream) runLane(lane chan liveMsg) {
	for {
		select {
		case <-j.done:
			return
		case lm := <-lane:
			if lm.w.stopped.Load() {
				continue // the topic lost its subscribers meanwhile
			}
			j.live(lm.w, lm.m)
		}
	}
}

func lastToken(subject string) string {
	for i := len(subject) - 1; i >= 0; i-- {
		if subject[i] == '.' {
			return subject[i+1:]
		}
	}
	return subject
}

// live delivers m, a message the stream republished for w's topic, after
// the topic's messages this node missed before it.
func (j *JetStream) live(w *watch, m *nats.Msg) {
	seq, _ := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64) // checked by route
	prev, _ := strconv.ParseUint(m.Header.Get(jetstream.LastSequenceHeader), 10, 64)
	p := w.part
	if seq <= w.last {
		if !j.remade(w, p, m.Header) {
			return // delivered already, by a gap fill, or before the watch began
		}
		w.last = prev // the stream was made again: go on from here
	}
	if prev > w.last {
		j.fill(w, p, prev, seq)
	}
	j.deliver(w.topic, p.currentEpoch(), seq, m.Header, m.Data)
	w.last, w.lastAt = seq, m.Header.Get(jetstream.TimeStampHeaer)
}

// remade reports whether h, the headers of a message of w's topic at or
// before the last delivered, come from a stream made again since (stored
// later than the last delivered), and then reads the new stream's epoch.
func (j *JetStream) remade(w *watch, p *part, h nats.Header) bool {
	at, err := time.Parse(time.RFC3339Nano, h.Get(jetstream.TimeStampHeaer))
	if err != nil {
		return false
	}
	last, err := time.Parse(time.RFC3339Nano, w.lastAt)
	if err != nil || !at.After(last) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	if info, err := p.s.Info(ctx); err == nil {
		p.setEpoch(info)
	}
	j.log.Warn().Str("topic", w.topic).Str("stream", p.name).Msg("history stream made again; positions start over")
	return true
}

// fill reads and delivers w's messages after w.last and before seq,
// which this node did not receive; prev is the one right before seq.
func (j *JetStream) fill(w *watch, p *part, prev, seq uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	epoch := p.currentEpoch()
	sawPrev := false
	_, err := j.readSubject(ctx, p, p.subject(w.topic), w.last+1, seq-1, func(m *jetstream.RawStreamMsg, _ uint64) bool {
		j.deliver(w.topic, epoch, m.Sequence, m.Header, m.Data)
		j.filled.Add(1)
		w.last, w.lastAt = m.Sequence, m.Header.Get(jetstream.TimeStampHeaer)
		sawPrev = sawPrev || m.Sequence == prev
		return true
	})
	if err != nil || !sawPrev {
		j.lost.Add(1)
		j.log.Warn().Err(err).Str("topic", w.topic).Uint64("after", w.last).Uint64("before", seq).
			Msg("history messages missed by this node and no longer readable; its subscribers lack them")
	}
}

func (j *JetStream) deliver(topic, epoch string, seq uint64, h nats.Header, data []byte) {
	b, fromID, origin, err := j.decode(topic, epoch, seq, h, data)
	if err != nil {
		j.log.Warn().Err(err).Str("topic", topic).Msg("history message dropped")
		return
	}
	_ = j.d.Deliver(nil, fromID, b, origin) // an encoding error is the subscriber's alone
}
