package topics

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pyrehq/pyre/protocol"
)

// PositionKey is the member pyre adds to the payload of every broadcast on
// a topic that keeps a history: the broadcast's Position as a string. A
// client keeps the last one it saw and sends it back on rejoin.
const PositionKey = "_pos"

// Retention bounds the history of a recoverable topic. A broadcast leaves
// the history when it is older than Age, when more than Count broadcasts
// are newer, or when the history would hold more than Bytes of payload
// and event names. Zero means no bound of that kind, but Count or Bytes
// must be set: memory is bounded per topic.
//
// Events, when not empty, lists the only events recorded; the others are
// delivered live only, with no position (and may have any payload).
// Phoenix's presence events ("presence_state", "presence_diff") are never
// recorded: they describe the present, and a rejoin gets a fresh state.
type Retention struct {
	Count  int
	Age    time.Duration
	Bytes  int
	Events []string
}

// records reports whether broadcasts of event are kept.
func (r *Retention) records(event string) bool {
	if event == "presence_diff" || event == "presence_state" {
		return false
	}
	return len(r.Events) == 0 || slices.Contains(r.Events, event)
}

// Validate reports whether r bounds a history.
func (r Retention) Validate() error {
	switch {
	case r.Count < 0 || r.Age < 0 || r.Bytes < 0:
		return errors.New("topics: retention bounds must not be negative")
	case r.Count == 0 && r.Bytes == 0:
		return errors.New("topics: retention needs a Count or a Bytes bound")
	}
	return nil
}

// Position is a place in a topic's stream: the stream's epoch and the
// sequence number of a broadcast in it (0 before the first). The epoch
// changes whenever the stream is made anew, so a position from a lost
// stream is never mistaken for one in the new stream.
type Position struct {
	Epoch string
	Seq   uint64
}

// String is the wire form, "EPOCH.SEQ".
func (p Position) String() string { return p.Epoch + "." + strconv.FormatUint(p.Seq, 10) }

// ErrBadPosition is returned by ParsePosition.
var ErrBadPosition = errors.New("topics: malformed stream position")

// ParsePosition reads the wire form written by Position.String.
func ParsePosition(s string) (Position, error) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || len(s) > 64 {
		return Position{}, ErrBadPosition
	}
	for _, c := range s[:i] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return Position{}, ErrBadPosition
		}
	}
	digits := s[i+1:]
	if digits == "" || digits[0] < '0' || digits[0] > '9' {
		return Position{}, ErrBadPosition
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return Position{}, ErrBadPosition
	}
	return Position{Epoch: s[:i], Seq: seq}, nil
}

// Outcome says how a recovery went.
type Outcome uint8

// The outcomes of Recover. Only Recovered means the client has missed
// nothing; every other outcome after a position means it should resync.
const (
	Fresh       Outcome = iota // no position was given: nothing to recover
	Recovered                  // everything after the position is in Missed
	NoHistory                  // the topic keeps no history
	BadPosition                // the position is malformed
	OtherEpoch                 // the position is from another stream (lost or made anew)
	TooOld                     // broadcasts after the position have left the history
	Ahead                      // the position is past the stream's last broadcast
	Unavailable                // the history could not be read (JetStream unreachable)
)

var outcomeNames = [...]string{"fresh", "recovered", "no history", "bad position", "other epoch", "too old", "ahead of the stream", "history unavailable"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Recovery is the answer of Recover.
type Recovery struct {
	Outcome Outcome
	// Since is the position asked for (zero when none was given).
	Since Position
	// Head is the stream's last position when the history was read:
	// every broadcast after it is live.
	Head Position
	// Missed holds the broadcasts after Since, oldest first, when Outcome
	// is Recovered. It is shared: do not modify it.
	Missed []Broadcast
}

// Recovered reports whether nothing after Since was lost.
func (r Recovery) Recovered() bool { return r.Outcome == Recovered }

// RetentionFunc says whether topic keeps a history, and how much.
type RetentionFunc func(topic string) (Retention, bool)

// Retain makes the topics that keep answers true for keep a history:
// from then on every broadcast dispatched on this node for such a topic
// (Broadcast, BroadcastFrom, LocalBroadcast and those from other nodes) is
// given the next position in the topic's stream, in the order its
// subscribers receive it, and kept as keep's Retention says. The first of
// several functions that answers true decides. Call it before broadcasting.
func (ps *PubSub) Retain(keep RetentionFunc) {
	ps.histMu.Lock()
	defer ps.histMu.Unlock()
	old := ps.keep.Load()
	var next []RetentionFunc
	if old != nil {
		next = append(next, *old...)
	}
	next = append(next, keep)
	ps.keep.Store(&next)
}

// retention returns the retention of topic, if it keeps a history.
func (ps *PubSub) retention(topic string) (Retention, bool) {
	fs := ps.keep.Load()
	if fs == nil {
		return Retention{}, false
	}
	for _, f := range *fs {
		if r, ok := f(topic); ok {
			return r, true
		}
	}
	return Retention{}, false
}

// Keeps reports whether topic keeps a history.
func (ps *PubSub) Keeps(topic string) bool {
	_, ok := ps.retention(topic)
	return ok
}

// stream returns topic's stream, made on first use; nil when the topic
// keeps no history.
func (ps *PubSub) stream(topic string) *stream {
	if ps.keep.Load() == nil || ps.store.Load() != nil {
		return nil
	}
	if s, ok := ps.streams.Load(topic); ok {
		return s.(*stream)
	}
	r, ok := ps.retention(topic)
	if !ok {
		return nil
	}
	s, loaded := ps.streams.LoadOrStore(topic, &stream{epoch: newEpoch(), ret: r})
	if !loaded {
		// A topic's history must see every broadcast, those of other
		// nodes too: from now on the topic stays watched, subscribers or
		// not.
		sh := ps.shard(topic)
		sh.mu.Lock()
		if len(sh.topics[topic]) == 0 {
			ps.watch(topic, true)
		}
		sh.mu.Unlock()
	}
	return s.(*stream)
}

// History returns the last n broadcasts kept for topic, oldest first
// (fewer when the history holds fewer; none when the topic keeps none).
func (ps *PubSub) History(topic string, n int) []Broadcast {
	if j := ps.store.Load(); j != nil {
		if r, ok := ps.retention(topic); ok && n > 0 {
			return j.last(topic, r, n)
		}
		return nil
	}
	s := ps.stream(topic)
	if s == nil || n <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	return s.last(topic, n)
}

// Recover reads topic's history after since (nil for a fresh join: only
// Head is set). It reports false when the topic keeps no history.
//
// To hand a subscriber everything after since exactly once, subscribe
// first with a Sink that holds frames, call Recover, send Missed, then
// let through only held frames with a sequence after Head.Seq (see
// SeqSink): a broadcast is given its position and delivered under the
// same lock Recover reads under, so each one is either in Missed or
// reaches the new subscription, and those that do both are the ones at or
// before Head. With the history in JetStream (NewJetStream) the same
// holds through the node's feed: Recover waits until the feed runs, then
// reads the stream, so everything after Head reaches the subscription;
// the outcome is Unavailable when JetStream cannot be read.
func (ps *PubSub) Recover(topic string, since *Position) (Recovery, bool) {
	if j := ps.store.Load(); j != nil {
		r, ok := ps.retention(topic)
		if !ok {
			return Recovery{Outcome: NoHistory}, false
		}
		return j.recover(topic, r, since), true
	}
	s := ps.stream(topic)
	if s == nil {
		return Recovery{Outcome: NoHistory}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	rec := Recovery{Head: Position{Epoch: s.epoch, Seq: s.head}}
	if since == nil {
		return rec, true
	}
	rec.Since = *since
	switch {
	case since.Epoch != s.epoch:
		rec.Outcome = OtherEpoch
	case since.Seq > s.head:
		rec.Outcome = Ahead
	case since.Seq < s.head && (s.n == 0 || since.Seq+1 < s.at(0).seq):
		rec.Outcome = TooOld
	default:
		rec.Outcome = Recovered
		rec.Missed = s.last(topic, int(s.head-since.Seq))
	}
	return rec, true
}

// record gives b the next position of s and keeps it. The caller holds
// s.mu and delivers the returned broadcast before releasing it.
func (s *stream) record(b Broadcast, now time.Time) (Broadcast, error) {
	pos := Position{Epoch: s.epoch, Seq: s.head + 1}
	var q [40]byte
	p, err := protocol.WithMember(b.Payload, PositionKey, protocol.AppendString(q[:0], pos.String()))
	if err != nil {
		return b, fmt.Errorf("topics: %q keeps a history: %w", b.Topic, err)
	}
	s.head++
	b.Payload, b.Seq = p, s.head
	s.push(entry{seq: s.head, at: now, event: b.Event, payload: p, size: len(b.Event) + len(p.Bytes())})
	s.expire(now)
	return b, nil
}

// newEpoch returns a random epoch in base 36.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return new(big.Int).SetBytes(b[:]).Text(36)
}

// stream is one topic's history: a ring of its last broadcasts.
type stream struct {
	epoch string    // immutable
	ret   Retention // immutable
	mu    sync.Mutex
	// mu guards the rest, and is held while a broadcast is given its
	// position and delivered, so positions follow delivery order.
	head  uint64  // last position given
	ring  []entry // len is the capacity; n entries from start
	start int
	n     int
	bytes int
}

type entry struct {
	seq     uint64
	at      time.Time
	event   string
	payload protocol.Payload
	size    int
}

func (s *stream) at(i int) *entry { return &s.ring[(s.start+i)%len(s.ring)] }

func (s *stream) push(e entry) {
	if s.ret.Count > 0 && s.n == s.ret.Count {
		s.drop()
	}
	if s.n == len(s.ring) {
		s.grow()
	}
	*s.at(s.n) = e
	s.n++
	s.bytes += e.size
}

// grow doubles the ring (up to Count), keeping the order.
func (s *stream) grow() {
	c := max(2*len(s.ring), 8)
	if s.ret.Count > 0 {
		c = min(c, s.ret.Count)
	}
	ring := make([]entry, c)
	for i := range s.n {
		ring[i] = *s.at(i)
	}
	s.ring, s.start = ring, 0
}

// drop forgets the oldest entry.
func (s *stream) drop() {
	e := s.at(0)
	s.bytes -= e.size
	*e = entry{}
	s.start = (s.start + 1) % len(s.ring)
	s.n--
}

// expire drops the entries past the byte and age bounds.
func (s *stream) expire(now time.Time) {
	for s.n > 0 && s.ret.Bytes > 0 && s.bytes > s.ret.Bytes {
		s.drop()
	}
	if s.ret.Age > 0 {
		for s.n > 0 && now.Sub(s.at(0).at) > s.ret.Age {
			s.drop()
		}
	}
}

// last returns the newest n entries as broadcasts, oldest first.
func (s *stream) last(topic string, n int) []Broadcast {
	n = min(n, s.n)
	out := make([]Broadcast, n)
	for i := range n {
		e := s.at(s.n - n + i)
		out[i] = Broadcast{Topic: topic, Event: e.event, Payload: e.payload, Seq: e.seq}
	}
	return out
}
