package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// StormReport is the outcome of a connection storm.
type StormReport struct {
	Header
	Conns  int            `json:"conns"`
	Topic  string         `json:"topic_prefix"`
	Joined int            `json:"joined"` // connected and joined
	Failed int            `json:"failed"`
	Errors map[string]int `json:"errors,omitempty"`
	// JoinsPerS is successful connect+joins per second of the storm.
	JoinsPerS   float64 `json:"joins_per_s"`
	ConnectJoin Latency `json:"connect_join"`
	// HoldS is how long the connections were held open, and StillOpen how
	// many of them were open at its end.
	HoldS     float64 `json:"hold_s"`
	StillOpen int     `json:"still_open"`
	// The server's VmRSS before the storm and once it had settled after it,
	// and the growth per connection still open then (needs WithServerPID).
	RSSBeforeKiB  int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB   int64   `json:"rss_after_kib,omitempty"`
	RSSPerConnKiB float64 `json:"rss_per_conn_kib,omitempty"`
}

// Storm opens conns connections as fast as the concurrency allows; each
// joins its own topic (room:storm-<i> by default). It measures joins per
// second, connect+join latency and, with WithServerPID, the server's
// memory per connection, then holds the connections for WithHold and
// closes them.
func Storm(ctx context.Context, target string, conns int, opts ...Option) (*StormReport, error) {
	if conns < 1 {
		return nil, fmt.Errorf("loadgen: storm needs at least 1 connection, got %d", conns)
	}
	r, err := newRun(ctx, "storm", target, "room:storm-", conns, 2048, opts)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	prefix := r.o.topic

	var rssBefore procUsage
	pid := r.o.firstPID()
	if pid > 0 {
		rssBefore, _ = readProc(pid)
	}
	var lat latencies
	mark := markUsage(r.o.pids...)
	clients, fails := r.dialJoin(conns, func(i int) string { return prefix + strconv.Itoa(i) }, nil, &lat)
	h := r.header(mark)
	r.o.log.Debug().Float64("seconds", h.WallS).Msg("storm done")

	rep := &StormReport{Header: h, Conns: conns, Topic: prefix, HoldS: r.o.hold.Seconds()}
	rep.Failed, rep.Errors = fails.result()
	total := lat.total()
	rep.Joined = int(total.n)
	rep.ConnectJoin = total.summary()
	rep.JoinsPerS = perSecond(float64(total.n), h.WallS)
	if pid > 0 && rep.Joined > 0 {
		// Let the server settle (presence, garbage) before reading its
		// memory, and divide by the connections it still holds.
		r.quiesce(500*time.Millisecond, 10*time.Second)
		open := 0
		for _, c := range clients {
			if c != nil && c.alive() {
				open++
			}
		}
		if p, ok := readProc(pid); ok && open > 0 {
			rep.RSSBeforeKiB, rep.RSSAfterKiB = rssBefore.rssKiB, p.rssKiB
			rep.RSSPerConnKiB = round3(float64(p.rssKiB-rssBefore.rssKiB) / float64(open))
		}
	}

	if r.o.hold > 0 {
		t := time.NewTimer(r.o.hold)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
		}
	}
	for _, c := range clients {
		if c != nil && c.alive() {
			rep.StillOpen++
		}
	}
	rep.Stopped = r.stopped()
	closeAll(clients)
	return rep, nil
}

// String is a short human-readable summary.
func (s *StormReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storm %s: %d of %d connections joined, %d failed, in %.2fs = %.0f joins/s\n",
		s.Target, s.Joined, s.Conns, s.Failed, s.WallS, s.JoinsPerS)
	b.WriteString(s.ConnectJoin.line("connect+join"))
	if s.RSSAfterKiB > 0 {
		fmt.Fprintf(&b, "  server RSS    %s -> %s = %+.1f KiB per connection\n", kib(s.RSSBeforeKiB), kib(s.RSSAfterKiB), s.RSSPerConnKiB)
	}
	if s.HoldS > 0 {
		fmt.Fprintf(&b, "  held          %.1fs; %d still open at the end\n", s.HoldS, s.StillOpen)
	}
	b.WriteString(s.cpuLine())
	b.WriteString(errorLines(s.Errors))
	b.WriteString(s.notes())
	return b.String()
}
