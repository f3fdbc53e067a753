package topics

import (
	"crypto/rand"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
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

// History returns the last n broadcasts kept for topic, oldest first
// (fewer when the history holds fewer; none when the topic keeps none).
func (ps *PubSub) History(topic string, n int) []Broadcast {
	r, ok := ps.retention(topic)
	if !ok || n <= 0 {
		return nil
	}
	return ps.history().Last(topic, r, n)
}

// Recover reads topic's history after since (nil for a fresh join: only
// Head is set). It reports false when the topic keeps no history.
//
// To hand a subscriber everything after since exactly once, subscribe
// first with a Sink that holds frames, call Recover, send Missed, then
// let through only held frames with a sequence after Head.Seq (see
// SeqSink): every store makes sure that each broadcast after Head reaches
// the subscription, so each one is either in Missed or reaches the new
// subscription, and those that do both are the ones at or before Head.
// The memory store gives a broadcast its position and delivers it under
// the lock Recover reads under; JetStream (NewJetStream) waits until the
// node receives the topic's broadcasts before it reads the head, and
// answers Unavailable when it cannot be read.
func (ps *PubSub) Recover(topic string, since *Position) (Recovery, bool) {
	r, ok := ps.retention(topic)
	if !ok {
		return Recovery{Outcome: NoHistory}, false
	}
	return ps.history().Recover(topic, r, since), true
}

// newEpoch returns a random epoch in base 36.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return new(big.Int).SetBytes(b[:]).Text(36)
}
