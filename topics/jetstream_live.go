package topics

import (
	"context"
	"errors"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Live delivery of the JetStream store: while a topic has local
// subscribers this node holds a plain NATS subscription on the subject its
// stream republishes the topic's messages on. A starter goroutine makes
// it, flushes it to the server and reads the topic's last sequence (the
// baseline: every later message reaches the subscription), for as many
// topics at once as are waiting, with one flush and one read per stream;
// the messages go to one of a few lanes by topic, which deliver them in
// order and fill gaps from the stream.

// watch is the live subscription of one topic on this node.
type watch struct {
	topic string
	r     Retention
	ready chan struct{} // closed after the first start attempt

	// Guarded by the store's mu.
	part    *part // written before sub
	sub     *nats.Subscription
	stopped bool
	queued  bool // in pending or retry

	mu        sync.Mutex // guards the five below
	err       error      // of the last start attempt
	upAt      time.Time  // when the last start that succeeded had the subscription in place
	base      uint64     // the topic's last sequence once the subscription ran
	baseKnown bool
	began     bool // the lane has taken the baseline

	// Owned by the topic's lane.
	last   uint64 // the last sequence delivered
	lastAt string // its time stamp as the server wrote it
}

func (w *watch) state() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// since returns when w's subscription was last known to be in place at
// the server.
func (w *watch) since() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.upAt
}

// stopLocked ends w's subscription; the store's mu is held.
func (w *watch) stopLocked() {
	w.stopped = true
	if w.sub != nil {
		_ = w.sub.Unsubscribe() // fails only on a closed connection, which holds no subscription
	}
}

// Watch starts or stops topic's live subscription as it gains its first
// local subscriber or loses its last (HistoryStore). It does not block:
// a starter goroutine subscribes.
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
			w.stopLocked()
		}
		return
	}
	if w != nil {
		return
	}
	w = &watch{topic: topic, r: r, ready: make(chan struct{})}
	j.watches[topic] = w
	j.queueLocked(w)
}

func (j *JetStream) queueLocked(w *watch) {
	w.queued = true
	j.pending = append(j.pending, w)
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// watching returns topic's live subscription, nil when it has none.
func (j *JetStream) watching(topic string) *watch {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.watches[topic]
}

// startBatch is the most subscriptions a starter starts together, with
// one flush and one read of their baselines per stream (at most 1 024,
// what the server answers in one read).
const startBatch = 256

// runStarter starts the subscriptions queued by Watch.
func (j *JetStream) runStarter() {
	for {
		j.mu.Lock()
		batch := make([]*watch, min(len(j.pending), startBatch))
		copy(batch, j.pending)
		clear(j.pending[:len(batch)])
		j.pending = j.pending[len(batch):]
		for _, w := range batch {
			w.queued = false
		}
		more := len(j.pending) > 0
		j.mu.Unlock()
		if more {
			select { // let another starter take the next ones
			case j.wake <- struct{}{}:
			default:
			}
		}
		if len(batch) == 0 {
			select {
			case <-j.done:
				return
			case <-j.wake:
			}
			continue
		}
		j.start(batch)
	}
}

// runRetry queues again, every second, the subscriptions whose start
// failed.
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
			if !w.stopped && !w.queued {
				j.queueLocked(w)
			}
		}
		j.retry = j.retry[:0]
		j.mu.Unlock()
	}
}

// start subscribes ws, flushes once, and reads their baselines, once per
// stream.
func (j *JetStream) start(ws []*watch) {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	errs := make([]error, len(ws))
	subscribed := false
	for i, w := range ws {
		errs[i] = j.subscribe(ctx, w)
		subscribed = subscribed || errs[i] == nil
	}
	if subscribed {
		// Once flushed, every message the streams store reaches the
		// subscriptions.
		if err := j.nc.FlushWithContext(ctx); err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
	}
	byPart := map[*part][]int{}
	for i, w := range ws {
		if errs[i] == nil {
			byPart[w.part] = append(byPart[w.part], i) // w.part was written by this goroutine
		}
	}
	bases := make([]uint64, len(ws))
	for p, idx := range byPart {
		subjects := make([]string, len(idx))
		for k, i := range idx {
			subjects[k] = p.subject(ws[i].topic)
		}
		last, err := j.reader.lastOf(ctx, p.name, subjects)
		for k, i := range idx {
			if err != nil {
				errs[i] = err
			} else {
				bases[i] = last[subjects[k]] // 0 when the topic has no message
			}
		}
	}
	for i, w := range ws {
		j.started(w, bases[i], errs[i])
	}
}

// started records the outcome of w's start: its baseline, or the error
// that has it tried again.
func (j *JetStream) started(w *watch, base uint64, err error) {
	w.mu.Lock()
	w.err = err
	if err == nil {
		w.upAt = time.Now() // after the flush: the server has the subscription
	}
	if err == nil && !w.began {
		w.base, w.baseKnown = base, true
	}
	w.mu.Unlock()
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
	if err != nil && !errors.Is(err, errWatchStopped) {
		j.log.Warn().Err(err).Str("topic", w.topic).Msg("history subscription cannot start; retrying")
		j.mu.Lock()
		if !w.stopped && !j.closed {
			j.retry = append(j.retry, w)
		}
		j.mu.Unlock()
	}
}

// subscribe makes w's NATS subscription, once.
func (j *JetStream) subscribe(ctx context.Context, w *watch) error {
	p, err := j.partition(ctx, w.topic, w.r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if w.stopped {
		return errWatchStopped
	}
	if w.sub == nil {
		w.part = p
		lane := j.lanes[maphash.String(j.laneSeed, w.topic)%uint64(len(j.lanes))]
		sub, err := j.nc.ChanSubscribe(p.liveSubject(w.topic), lane)
		if err != nil {
			return err
		}
		w.sub = sub
	}
	return nil
}

var errWatchStopped = errors.New("topics: the topic lost its subscribers")

// runLane delivers the messages of the topics that hash to lane.
func (j *JetStream) runLane(lane chan *nats.Msg) {
	for {
		select {
		case <-j.done:
			return
		case m := <-lane:
			j.mu.Lock()
			var w *watch
			if m.Sub != nil {
				topic, err := TopicOf(lastToken(m.Subject))
				if cur := j.watches[topic]; err == nil && cur != nil && cur.sub == m.Sub {
					w = cur
				}
			}
			j.mu.Unlock()
			if w == nil {
				continue // the topic lost its subscribers meanwhile
			}
			select {
			case <-w.ready:
			case <-j.done:
				return
			}
			j.live(w, m)
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
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil || seq == 0 {
		j.log.Warn().Str("topic", w.topic).Msg("history message without a sequence dropped")
		return
	}
	prev, _ := strconv.ParseUint(m.Header.Get(jetstream.LastSequenceHeader), 10, 64)
	w.mu.Lock()
	if !w.began {
		w.began = true
		if w.baseKnown {
			w.last = w.base
		} else {
			w.last = prev // no baseline: trust what came first
		}
	}
	w.mu.Unlock()
	p := w.part
	if seq <= w.last {
		if !j.remade(w, p, m.Header) {
			return // delivered already, by a gap fill
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
