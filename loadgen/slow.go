package loadgen

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SlowReport is what fan-out's slow subscribers (WithSlow) saw. A slow
// subscriber stops reading when the measured window opens and reads again
// only when publishing ends; a server cannot make it read any sooner, so
// it decides only when to give up on it, and the subscriber learns what
// was decided only once it reads again, through what was buffered for it,
// up to the server's close frame. Waiting for that comes after the
// measured window, which ends, as without slow subscribers, once the
// healthy ones have had their deliveries. The fields are empty without
// slow subscribers.
type SlowReport struct {
	// Slow counts the slow subscribers that joined; SlowClosed how many
	// of them the server had closed by the end of the drain, and
	// SlowCloseCodes with which WebSocket close codes ("4000": 3). 1006
	// stands for a connection that ended without a close frame: end of
	// stream, a reset, or a frame cut short (a server that gave up
	// writing to a socket that no one read).
	Slow           int            `json:"slow,omitempty"`
	SlowClosed     *int           `json:"slow_closed,omitempty"`
	SlowCloseCodes map[string]int `json:"slow_close_codes,omitempty"`
	// SlowReceived counts the bench messages the slow subscribers read,
	// almost all of them after publishing had ended.
	SlowReceived int64 `json:"slow_received,omitempty"`
	// When the server closed the slow subscribers cannot be seen from
	// outside; these bound it, in seconds from the first publish, over
	// the closed ones. SlowCutS spans the send times of the last message
	// each one received: the server still queued messages for it then.
	// SlowClosedS spans the moments each one read the end of its
	// connection: the server had closed it by then.
	SlowCutS    *Span `json:"slow_cut_s,omitempty"`
	SlowClosedS *Span `json:"slow_closed_s,omitempty"`
}

// Span is the earliest and the latest of a set of times, in seconds.
type Span struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

func (s *Span) add(seconds float64) *Span {
	seconds = round3(seconds)
	if s == nil {
		return &Span{Min: seconds, Max: seconds}
	}
	s.Min, s.Max = min(s.Min, seconds), max(s.Max, seconds)
	return s
}

func (s *Span) String() string {
	if s.Min == s.Max {
		return fmt.Sprintf("%.3fs", s.Min)
	}
	return fmt.Sprintf("%.3fs to %.3fs", s.Min, s.Max)
}

// waitEnded waits until every one of conns has stopped reading, the
// deadline passes or ctx ends.
func waitEnded(ctx context.Context, conns []*conn, deadline time.Time) {
	if len(conns) == 0 {
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for _, c := range conns {
		select {
		case <-c.done:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// slowResults reads the slow subscribers' tallies and how their
// connections ended, once every reader has stopped; clients[i] is
// subscriber i's connection, nil if it did not join. Times count from
// firstSend, in ns since the origin. A connection the server closed after
// the drain but before this side did counts as closed by the server.
func slowResults(tallies []*subscriber, clients []*conn, firstSend int64) SlowReport {
	var rep SlowReport
	closed := 0
	seconds := func(ns int64) float64 { return float64(ns-firstSend) / 1e9 }
	for i, s := range tallies {
		if s == nil || !s.slow || clients[i] == nil {
			continue
		}
		rep.Slow++
		byServer, code, at, ok := clients[i].ended()
		if !ok {
			continue // still reading: its counters are not ours to read
		}
		rep.SlowReceived += s.recv
		if !byServer {
			continue
		}
		closed++
		if rep.SlowCloseCodes == nil {
			rep.SlowCloseCodes = map[string]int{}
		}
		rep.SlowCloseCodes[strconv.Itoa(code)]++
		cut := firstSend // nothing received: all the server is known to have done is accept the join
		if s.recv > 0 {
			cut = max(s.lastSent, firstSend)
		}
		rep.SlowCutS = rep.SlowCutS.add(seconds(cut))
		rep.SlowClosedS = rep.SlowClosedS.add(seconds(at))
	}
	if rep.Slow > 0 {
		rep.SlowClosed = &closed
	}
	return rep
}

// lines is the summary's part about the slow subscribers.
func (s SlowReport) lines() string {
	if s.Slow == 0 {
		return ""
	}
	closed := derefOr(s.SlowClosed, 0)
	var b strings.Builder
	fmt.Fprintf(&b, "  slow          %d stopped reading: %d closed by the server", s.Slow, closed)
	if len(s.SlowCloseCodes) > 0 {
		codes := make([]string, 0, len(s.SlowCloseCodes))
		for c := range s.SlowCloseCodes {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for i, c := range codes {
			codes[i] = fmt.Sprintf("%s ×%d", c, s.SlowCloseCodes[c])
		}
		fmt.Fprintf(&b, " (close code %s)", strings.Join(codes, ", "))
	}
	fmt.Fprintf(&b, ", %d still open after the drain; %d messages read\n", s.Slow-closed, s.SlowReceived)
	if s.SlowCutS != nil && s.SlowClosedS != nil {
		fmt.Fprintf(&b, "                closed after their last message, sent at %s, and before they read the close at %s (from the first publish)\n",
			s.SlowCutS, s.SlowClosedS)
	}
	return b.String()
}
