package channel

import "sync/atomic"

// Observer takes one sample of a distribution (a handling time in
// seconds). prometheus.Observer is one; this package does not import
// Prometheus.
type Observer interface{ Observe(float64) }

// EventOutcome is how a client event handled by HandleIn ended.
type EventOutcome uint8

// Event outcomes.
const (
	EventOK        EventOutcome = iota // replied with a status other than "error"
	EventError                         // replied "error"
	EventNoReply                       // NoReply
	EventStop                          // Stop or StopWithReply
	EventCrash                         // HandleIn panicked
	EventUnhandled                     // the channel has no HandleIn
	NumEventOutcomes
)

var eventOutcomeNames = [NumEventOutcomes]string{"ok", "error", "noreply", "stop", "crash", "unhandled"}

func (o EventOutcome) String() string { return eventOutcomeNames[o] }

// JoinOutcome is how a join ended.
type JoinOutcome uint8

// Join outcomes.
const (
	JoinOK      JoinOutcome = iota
	JoinError               // Join refused, or the channel could not start
	JoinCrash               // Join panicked
	JoinTimeout             // no answer within the join timeout
	JoinLimit               // the socket had its maximum of channels
	NumJoinOutcomes
)

var joinOutcomeNames = [NumJoinOutcomes]string{"ok", "error", "crash", "timeout", "limit"}

func (o JoinOutcome) String() string { return joinOutcomeNames[o] }

// ReplyStatus is the status of a reply, folded to a fixed set.
type ReplyStatus uint8

// Reply statuses.
const (
	ReplyOK ReplyStatus = iota
	ReplyError
	ReplyOther
	NumReplyStatuses
)

var replyStatusNames = [NumReplyStatuses]string{"ok", "error", "other"}

func (s ReplyStatus) String() string { return replyStatusNames[s] }

// Decision is what the engine's Supervisor decided for a crashed channel.
type Decision uint8

// Crash decisions.
const (
	DecisionRestart  Decision = iota
	DecisionStop              // the policy does not restart
	DecisionExceeded          // restart intensity exceeded: stopped for good
	NumDecisions
)

var decisionNames = [NumDecisions]string{"restart", "stop", "intensity_exceeded"}

func (d Decision) String() string { return decisionNames[d] }

// RouteStats counts what the channels of one route do. The endpoint makes
// one per route pattern, once, and hands it to every channel of the route
// in its Spec, so counting is an atomic add with no lookup. Every method
// is safe from any goroutine and does nothing on a nil *RouteStats.
type RouteStats struct {
	Pattern string
	// Handling takes the handling time of each client event by outcome;
	// nil entries are skipped. Set before the first channel starts.
	Handling [NumEventOutcomes]Observer

	joined  atomic.Int64
	joins   [NumJoinOutcomes]atomic.Uint64
	replies [NumReplyStatuses]atomic.Uint64
	crashes [NumDecisions]atomic.Uint64
}

// RouteSnapshot is a RouteStats read at one moment.
type RouteSnapshot struct {
	Joined  int64
	Joins   [NumJoinOutcomes]uint64
	Replies [NumReplyStatuses]uint64
	Crashes [NumDecisions]uint64
}

// Snapshot reads the counters.
func (r *RouteStats) Snapshot() RouteSnapshot {
	var s RouteSnapshot
	if r == nil {
		return s
	}
	s.Joined = r.joined.Load()
	for i := range r.joins {
		s.Joins[i] = r.joins[i].Load()
	}
	for i := range r.replies {
		s.Replies[i] = r.replies[i].Load()
	}
	for i := range r.crashes {
		s.Crashes[i] = r.crashes[i].Load()
	}
	return s
}

// Join counts a join's outcome.
func (r *RouteStats) Join(o JoinOutcome) {
	if r != nil {
		r.joins[o].Add(1)
	}
}

// AddJoined moves the gauge of joined channels.
func (r *RouteStats) AddJoined(d int64) {
	if r != nil {
		r.joined.Add(d)
	}
}

// Reply counts a reply with status.
func (r *RouteStats) Reply(status string) {
	if r == nil {
		return
	}
	s := ReplyOther
	switch status {
	case "ok":
		s = ReplyOK
	case "error":
		s = ReplyError
	}
	r.replies[s].Add(1)
}

// Crash counts a crash and what was decided.
func (r *RouteStats) Crash(d Decision) {
	if r != nil {
		r.crashes[d].Add(1)
	}
}

// Handled records the handling time of one event.
func (r *RouteStats) Handled(o EventOutcome, seconds float64) {
	if r != nil && r.Handling[o] != nil {
		r.Handling[o].Observe(seconds)
	}
}
