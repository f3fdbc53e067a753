package topics

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Reads of the JetStream store: recoveries and History, by direct gets of
// a topic's subject, no consumer.

// readBatch is the most messages one direct get asks for, but for a
// recovery's, which asks for all of them at once (up to recoverBatch) so
// that the server reads them in one go, isolated from writes (the server
// may still cut an answer short at its own byte bound).
const (
	readBatch    = 4096
	recoverBatch = 1 << 16
)

// readSubject calls fn, in order, for the messages of p's stream on
// subject with sequences from from to upTo, until fn returns false; pending
// is how many messages on subject followed the message when it was read.
// A read cut short by the timeout is an error, never a shorter answer.
// It returns how many requests the read took.
func (j *JetStream) readSubject(ctx context.Context, p *part, subject string, from, upTo uint64,
	fn func(m *jetstream.RawStreamMsg, pending uint64) bool) (int, error) {
	return j.readSubjectBatch(ctx, p, subject, from, upTo, readBatch, fn)
}

// readSubjectBatch is readSubject asking for at most batch messages at a
// time.
func (j *JetStream) readSubjectBatch(ctx context.Context, p *part, subject string, from, upTo uint64, batch int,
	fn func(m *jetstream.RawStreamMsg, pending uint64) bool) (requests int, err error) {
	next := max(from, 1)
	for next <= upTo {
		stop := false
		last := uint64(0)
		requests++
		n, pending, err := j.reader.get(ctx, p.name, subject, next, int(min(upTo-next+1, uint64(batch))),
			func(m *jetstream.RawStreamMsg, pending uint64) bool {
				last = m.Sequence
				stop = m.Sequence > upTo || !fn(m, pending)
				return !stop
			})
		if err != nil {
			return requests, err
		}
		if stop || n == 0 || pending == 0 {
			return requests, nil
		}
		next = last + 1
	}
	return requests, nil
}

// freshHead is Recover's answer to a fresh join (no position) when all it
// needs is in place and nothing has to be waited for: the topic's watch
// has begun without error, its class's streams are made and current, and
// NATS is connected. It is the answer the long way gives in that case,
// without the context and timer a read would need; ok is false whenever
// any of it is not so, and Recover takes the long way.
func (j *JetStream) freshHead(topic string, r Retention) (rec Recovery, ok bool) {
	w := j.watching(topic)
	if w == nil {
		return rec, false
	}
	select {
	case <-w.ready:
	default:
		return rec, false
	}
	if w.state() != nil || !j.nc.IsConnected() {
		return rec, false
	}
	c := j.readyClass(r)
	if c == nil {
		return rec, false
	}
	p := c.parts[partitionOf(topic, len(c.parts))]
	return Recovery{Head: Position{Epoch: p.currentEpoch(), Seq: p.head()}}, true
}

// Recover reads topic's history after since (HistoryStore).
//
// A fresh join's Head, when the topic has local subscribers, is the last
// sequence this node's subscription of the topic's stream received (see
// part.head): no request to NATS. Otherwise, and for a rejoin, Head is
// the stream's last sequence, read after the topic's watch began, so that
// every later message of the topic reaches it. The broadcasts after since
// are the topic's messages with sequences in (since, Head]. The answer is
// exact when none of them has left the stream, which the store knows
// because JetStream removes a subject's messages oldest first whatever
// the cause (the per-subject count, the age, the stream's bytes): after
// the read, either the topic still has a message at or before since, or
// the stream's first sequence is at most since+1 (no removal by age or
// bytes passed since) and the topic held fewer messages after since than
// its per-subject limit when the read began (none was pushed out by a
// newer one; a read the server answered in more than one request is not
// vouched for this way).
// The rest is TooOld: never a part of what was missed.
func (j *JetStream) Recover(topic string, r Retention, since *Position) Recovery {
	if since == nil {
		if rec, ok := j.freshHead(topic, r); ok {
			return rec
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	up := time.Now() // only a read begun from now on will do
	var w *watch
	if w = j.watching(topic); w != nil {
		select {
		case <-w.ready:
		case <-ctx.Done():
			return j.unavailable(topic, since, ctx.Err())
		}
		if err := w.state(); err != nil {
			return j.unavailable(topic, since, err)
		}
	}
	p, err := j.partition(ctx, topic, r)
	if err != nil {
		return j.unavailable(topic, since, err)
	}
	if since == nil && w != nil && j.nc.IsConnected() {
		return Recovery{Head: Position{Epoch: p.currentEpoch(), Seq: p.head()}}
	}
	if since == nil {
		// Without a watch (no local subscriber), or with NATS away: the
		// stream's last message, by direct get, with the epoch last seen,
		// read from now on (a read shared with other fresh joins will
		// do). Should the stream have been made again unnoticed, the
		// position handed out names the old epoch, and a rejoin from it is
		// told to resync.
		head, err := p.sharedHead(ctx, up, func(ctx context.Context) (uint64, error) {
			if err := j.takeRead(ctx); err != nil {
				return 0, err
			}
			defer j.doneRead()
			seq, err := j.reader.head(ctx, p.name)
			if !errors.Is(err, errNoHead) {
				return seq, err
			}
			// An empty stream: its last sequence and epoch from its info.
			info, err := p.s.Info(ctx)
			if err != nil {
				return 0, err
			}
			p.setEpoch(info)
			return info.State.LastSeq, nil
		})
		if err != nil {
			return j.unavailable(topic, since, err)
		}
		return Recovery{Head: Position{Epoch: p.currentEpoch(), Seq: head}}
	}
	if err := j.takeRead(ctx); err != nil {
		return j.unavailable(topic, since, err)
	}
	defer j.doneRead()
	info, err := p.s.Info(ctx)
	if err != nil {
		return j.unavailable(topic, since, err)
	}
	epoch, head := p.setEpoch(info), info.State.LastSeq
	rec := Recovery{Head: Position{Epoch: epoch, Seq: head}, Since: *since}
	switch {
	case since.Epoch != epoch:
		rec.Outcome = OtherEpoch
	case since.Seq > head:
		rec.Outcome = Ahead
	case since.Seq == head:
		rec.Outcome = Recovered
	default:
		missed, outcome, err := j.missed(ctx, p, topic, epoch, r, since.Seq, head)
		if err != nil {
			return j.unavailable(topic, since, err)
		}
		rec.Outcome = outcome
		if outcome == Recovered {
			rec.Missed = missed
		}
	}
	return rec
}

// missed reads topic's broadcasts in (since, head] and says whether they
// are all there (see Recover).
func (j *JetStream) missed(ctx context.Context, p *part, topic, epoch string, r Retention, since, head uint64) ([]Broadcast, Outcome, error) {
	subject := p.subject(topic)
	var out []Broadcast
	total := 0
	var bad error
	after := uint64(0) // the subject's messages after since when the read began
	requests, err := j.readSubjectBatch(ctx, p, subject, since+1, head, recoverBatch, func(m *jetstream.RawStreamMsg, pending uint64) bool {
		if after == 0 {
			after = pending + 1
		}
		b, _, _, err := j.decode(topic, epoch, m.Sequence, m.Header, m.Data)
		if err != nil {
			bad = err
			return false
		}
		total += size(b)
		if r.Bytes > 0 && total > r.Bytes {
			return false
		}
		out = append(out, b)
		return true
	})
	switch {
	case err != nil:
		return nil, Unavailable, err
	case bad != nil:
		return nil, Unavailable, bad
	case r.Bytes > 0 && total > r.Bytes:
		return nil, TooOld, nil // more than the history keeps: never a part of it
	}
	ok, err := j.intact(ctx, p, subject, epoch, since, after, requests == 1)
	switch {
	case errors.Is(err, errEpochChanged):
		return nil, OtherEpoch, nil
	case err != nil:
		return nil, Unavailable, err
	case !ok:
		return nil, TooOld, nil
	}
	return out, Recovered, nil
}

var errEpochChanged = errors.New("topics: the history stream was made anew")

// intact reports whether none of subject's messages after since has left
// the stream up to now (see Recover); after is how many followed since
// when the read of them began, one whether the read was one request.
func (j *JetStream) intact(ctx context.Context, p *part, subject, epoch string, since, after uint64, one bool) (bool, error) {
	first, err := j.reader.first(ctx, p.name, subject)
	if err != nil {
		return false, err
	}
	if first != 0 && first <= since {
		return true, nil // the subject's oldest message is at or before since: nothing after it left
	}
	info, err := p.s.Info(ctx)
	if err != nil {
		return false, err
	}
	if epochOf(info) != epoch {
		return false, errEpochChanged
	}
	// Below its limit when the read began, the subject had lost nothing
	// after since to the limit, nor during a read of one request (the
	// server reads it isolated from writes); a read of more requests is
	// not vouched for this way.
	below := p.maxPer <= 0 || after < uint64(p.maxPer)
	return info.State.FirstSeq <= since+1 && below && one, nil
}

// takeRead waits for one of the reads this node may have in flight; the
// server answers one connection's direct gets one at a time, so that a
// storm of recoveries queued there all at once would hold up this node's
// subscriptions (and each other) until most time out.
func (j *JetStream) takeRead(ctx context.Context) error {
	select {
	case j.reads <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *JetStream) doneRead() { <-j.reads }

func (j *JetStream) unavailable(topic string, since *Position, err error) Recovery {
	j.log.Warn().Err(err).Str("topic", topic).Msg("history unavailable")
	rec := Recovery{Outcome: Unavailable}
	if since != nil {
		rec.Since = *since
	}
	return rec
}

// Last returns the newest n broadcasts kept for topic, oldest first, no
// more than Retention.Bytes of them (HistoryStore).
func (j *JetStream) Last(topic string, r Retention, n int) []Broadcast {
	if n <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	p, err := j.partition(ctx, topic, r)
	if err != nil {
		return nil
	}
	if j.takeRead(ctx) != nil {
		return nil
	}
	defer j.doneRead()
	info, err := p.s.Info(ctx)
	if err != nil {
		return nil
	}
	epoch := p.setEpoch(info)
	ring := make([]Broadcast, 0, min(n, 1024))
	start := 0
	_, err = j.readSubject(ctx, p, p.subject(topic), 1, info.State.LastSeq, func(m *jetstream.RawStreamMsg, _ uint64) bool {
		b, _, _, err := j.decode(topic, epoch, m.Sequence, m.Header, m.Data)
		if err != nil {
			return true
		}
		if len(ring) < n {
			ring = append(ring, b)
		} else {
			ring[start] = b
			start = (start + 1) % n
		}
		return true
	})
	if err != nil {
		j.log.Warn().Err(err).Str("topic", topic).Msg("history read failed")
		return nil
	}
	out := append(ring[start:len(ring):len(ring)], ring[:start]...)
	if r.Bytes > 0 {
		total, i := 0, len(out)
		for i > 0 && total+size(out[i-1]) <= r.Bytes {
			total += size(out[i-1])
			i--
		}
		out = out[i:]
	}
	return out
}
