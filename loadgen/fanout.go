package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// FanoutReport is the outcome of a fan-out run.
type FanoutReport struct {
	Header
	Subs       int            `json:"subs"`
	Topic      string         `json:"topic"`
	Joined     int64          `json:"joined"` // subscribers that joined
	JoinFailed int            `json:"join_failed"`
	JoinErrors map[string]int `json:"join_errors,omitempty"`
	SetupS     float64        `json:"setup_s"`
	// Dropped counts healthy subscribers (not slow ones) whose connection
	// ended during the window (closed by the server as slow consumers, for
	// instance).
	Dropped      int64   `json:"subs_dropped"`
	Rate         float64 `json:"rate_target"`      // messages per second; 0 for flow control
	Window       *int    `json:"window,omitempty"` // with flow control
	PayloadBytes int     `json:"payload_bytes"`
	Sent         int64   `json:"sent"`
	PublishPerS  float64 `json:"publish_per_s"`
	// Expected is Sent times the healthy subscribers that joined (Joined
	// less Slow); Received counts their deliveries in or out of order,
	// duplicates aside. Slow subscribers count in none of the figures from
	// here to Latency.
	Expected   int64   `json:"expected"`
	Received   int64   `json:"received"`
	Lost       int64   `json:"lost"`
	LossPct    float64 `json:"loss_pct"`
	Duplicates int64   `json:"duplicates"`
	// Reordered counts deliveries whose sequence number was lower than one
	// the subscriber had already seen.
	Reordered int64 `json:"reordered"`
	Unparsed  int64 `json:"unparsed"` // bench payloads without a sequence number and time
	// DeliveredPerS is Received divided by the time from the first send to
	// the last delivery.
	DeliveredPerS float64 `json:"delivered_per_s"`
	// Latency runs from the send time in the payload to the moment a
	// subscriber has read the message.
	Latency Latency `json:"latency"`
	// Stalled means nothing was delivered for the reply timeout while the
	// publisher waited for its window, so it gave up before its count or
	// duration.
	Stalled      bool   `json:"stalled,omitempty"`
	PublishError string `json:"publish_error,omitempty"`
	// ServerCPUUsPerDelivery is the server CPU time of the window (summed
	// over the servers, with WithServerPIDs) per delivery received, in
	// microseconds; 0 without a server process id.
	ServerCPUUsPerDelivery float64 `json:"server_cpu_us_per_delivery,omitempty"`
	// PerTarget splits the figures by server when the subscribers were
	// spread over several (WithMoreTargets); the target comes first.
	PerTarget []TargetShare `json:"per_target,omitempty"`
	SlowReport
}

// TargetShare is one server's part of a fan-out spread over several:
// the subscribers placed on it and what its healthy ones received.
type TargetShare struct {
	Target   string `json:"target"`
	Subs     int    `json:"subs"`
	Joined   int64  `json:"joined"` // slow ones included
	Expected int64  `json:"expected"`
	Received int64  `json:"received"`
	Lost     int64  `json:"lost"`
}

// Subscriber states: a subscriber counts as gone only if it had joined.
const (
	subPending int32 = iota
	subJoined
	subGone
)

// subscriber is one receiving connection's tally. The counters are written
// only by the connection's reader goroutine and read once it has stopped.
type subscriber struct {
	key   int
	slow  bool // stops reading in the window; counted apart
	state atomic.Int32

	last, recv, dups, reordered, unparsed int64
	lastAt                                int64 // ns since the run's origin
	lastSent                              int64 // latest send time read, ns since the origin
}

// count tallies one bench payload read at at: ok is false for one
// without a sequence number and time, and for a duplicate.
func (s *subscriber) count(p []byte, at int64) (ts int64, ok bool) {
	seq, ts, ok := parseStamp(p)
	switch {
	case !ok:
		s.unparsed++
		return 0, false
	case seq == s.last:
		s.dups++
		return 0, false
	case seq < s.last:
		s.reordered++
	default:
		s.last = seq
	}
	s.recv++
	s.lastAt = at
	s.lastSent = max(s.lastSent, ts)
	return ts, true
}

// Fanout joins subs subscribers and one publisher to one topic
// (room:fanout by default) and publishes `bench` events carrying a sequence
// number and the send time: at WithRate messages per second, or as fast as
// WithWindow messages in flight per subscriber allow. It stops after
// WithCount messages or WithDuration, whichever comes first, waits up to
// WithDrain for the last deliveries, and reports throughput, loss,
// reordering and latency. With WithMoreTargets the subscribers are spread
// over several servers, the nodes of one cluster, and the broadcasts must
// cross between them. With WithSlow, some subscribers stop reading
// instead, and the report says how the server dealt with them. It fails if
// the publisher or every healthy subscriber fails to join.
func Fanout(ctx context.Context, target string, subs int, opts ...Option) (*FanoutReport, error) {
	if subs < 1 {
		return nil, fmt.Errorf("loadgen: fan-out needs at least 1 subscriber, got %d", subs)
	}
	if o, err := buildOptions(opts); err == nil && o.slow >= subs {
		return nil, fmt.Errorf("loadgen: %d slow subscribers of %d leave none to measure", o.slow, subs)
	}
	r, err := newRun(ctx, "fanout", target, "room:fanout", subs+1, 16<<10, opts)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	o := r.o
	nsrv := len(r.servers)
	r.serverOf = func(i int) int {
		if i == subs {
			return 0 // the publisher
		}
		return i % nsrv
	}

	fl := newFlow()
	var gone atomic.Int64
	var lat latencies
	tallies := make([]*subscriber, subs)
	onBench := func(s *subscriber) benchFunc {
		return func(p []byte, at int64) {
			ts, ok := s.count(p, at)
			if !ok || s.slow {
				return
			}
			lat.add(s.key, at-ts)
			fl.deliver()
		}
	}
	h := func(i int) (benchFunc, func()) {
		if i == subs {
			return nil, nil // the publisher drops its own copies
		}
		s := &subscriber{key: i, slow: i < o.slow}
		tallies[i] = s
		return onBench(s), func() {
			if s.state.Swap(subGone) == subJoined && !s.slow {
				gone.Add(1)
				fl.kick() // the publisher waits for fewer subscribers now
			}
		}
	}

	setup := time.Now()
	clients, fails := r.dialJoin(subs+1, func(int) string { return o.topic }, h, nil)
	pub := clients[subs]
	clients = clients[:subs]
	var joined, healthy int64
	var slow []*conn
	for i, c := range clients {
		if c == nil {
			continue
		}
		if !tallies[i].state.CompareAndSwap(subPending, subJoined) {
			c.close(false) // closed between its join reply and now
			clients[i] = nil
			continue
		}
		joined++
		if tallies[i].slow {
			slow = append(slow, c)
		} else {
			healthy++
		}
	}
	nFailed, joinErrs := fails.result()
	if pub == nil || healthy == 0 {
		closeAll(append(clients, pub))
		what := "no subscriber could join"
		switch {
		case pub == nil:
			what = "the publisher could not join"
		case joined > 0:
			what = "no healthy subscriber could join"
		}
		return nil, fmt.Errorf("loadgen: %s %s: %d failures%s", what, o.topic, nFailed, errorSummary(r.ctx, joinErrs))
	}
	setupTook := time.Since(setup)
	r.quiesce(300*time.Millisecond, 20*time.Second)
	r.o.log.Debug().Int64("joined", joined).Dur("setup", setupTook).Msg("fan-out subscribers ready")

	// Flow control waits for the healthy subscribers still connected.
	active := func() int64 { return healthy - gone.Load() }
	pad := strings.Repeat("x", o.size)
	var payload, frame []byte
	var sent int64
	var pubErr error
	stalled := false
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for _, c := range slow {
		c.stallReads()
	}
	mark := markUsage(o.pids...)
	start := time.Now()
	firstSend := int64(start.Sub(r.origin))
	deadline := start.Add(o.duration)
publish:
	for seq := int64(1); seq <= o.count; seq++ {
		if r.ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		if o.rate > 0 {
			due := start.Add(time.Duration(float64(seq-1) / o.rate * float64(time.Second)))
			if !due.Before(deadline) {
				break
			}
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-r.ctx.Done():
					timer.Stop()
					break publish
				}
			}
		} else if o.window > 0 {
			res := fl.wait(r.ctx, func() int64 { return (seq - 1 - int64(o.window)) * active() }, deadline, o.replyTimeout)
			if res != waitReached {
				stalled = res == waitStalled
				break
			}
		}
		payload = strconv.AppendInt(append(payload[:0], `{"s":`...), seq, 10)
		payload = strconv.AppendInt(append(payload, `,"t":`...), int64(time.Since(r.origin)), 10)
		payload = append(append(append(payload, `,"p":"`...), pad...), `"}`...)
		if frame, pubErr = pub.cast(frame, o.topic, "bench", payload); pubErr != nil {
			break
		}
		sent = seq
	}
	lastSend := int64(time.Since(r.origin))
	for _, c := range slow {
		c.resumeReads() // read what piled up, to see how the server closed it
	}
	drainEnd := time.Now().Add(o.drain)
	if r.ctx.Err() == nil {
		fl.wait(r.ctx, func() int64 { return sent * active() }, drainEnd, o.drain)
	}
	hdr := r.header(mark) // the window ends here, slow subscribers or not
	dropped := gone.Load()
	if len(slow) > 0 && r.ctx.Err() == nil {
		waitEnded(r.ctx, slow, drainEnd)
		hdr.Stopped = r.stopped()
	}
	closeAll(append(clients, pub))

	rep := &FanoutReport{Header: hdr, Subs: subs, Topic: o.topic, Joined: joined, JoinFailed: nFailed,
		JoinErrors: joinErrs, SetupS: round3(setupTook.Seconds()), Dropped: dropped, Rate: o.rate,
		PayloadBytes: len(payload), Sent: sent, Stalled: stalled,
		SlowReport: slowResults(tallies, clients, firstSend)}
	if o.rate == 0 {
		w := o.window
		rep.Window = &w
	}
	if pubErr != nil {
		rep.PublishError = pubErr.Error()
	}
	if nsrv > 1 {
		rep.PerTarget = make([]TargetShare, nsrv)
		for k := range rep.PerTarget {
			rep.PerTarget[k].Target = r.servers[k].raw
		}
	}
	var lastAt int64
	for i, s := range tallies {
		if rep.PerTarget != nil {
			rep.PerTarget[i%nsrv].Subs++
		}
		if s == nil || clients[i] == nil {
			continue
		}
		if rep.PerTarget != nil {
			share := &rep.PerTarget[i%nsrv]
			share.Joined++
			if !s.slow {
				share.Expected += sent
				share.Received += s.recv
			}
		}
		if s.slow {
			continue
		}
		rep.Received += s.recv
		rep.Duplicates += s.dups
		rep.Reordered += s.reordered
		rep.Unparsed += s.unparsed
		lastAt = max(lastAt, s.lastAt)
	}
	rep.Latency = lat.total().summary()
	rep.Expected = sent * healthy
	rep.Lost = max(rep.Expected-rep.Received, 0)
	if rep.Expected > 0 {
		rep.LossPct = round3(100 * float64(rep.Lost) / float64(rep.Expected))
	}
	if sent > 1 {
		rep.PublishPerS = perSecond(float64(sent-1), float64(lastSend-firstSend)/1e9)
	}
	rep.DeliveredPerS = perSecond(float64(rep.Received), float64(lastAt-firstSend)/1e9)
	for k := range rep.PerTarget {
		share := &rep.PerTarget[k]
		share.Lost = max(share.Expected-share.Received, 0)
	}
	if rep.ServerPID > 0 && rep.Received > 0 {
		rep.ServerCPUUsPerDelivery = round3(rep.ServerCPUS * 1e6 / float64(rep.Received))
	}
	return rep, nil
}

// parseStamp reads the sequence number and send time of a bench payload:
// at once if the server kept the keys in the order we wrote them, by
// looking for them otherwise (Phoenix re-encodes payloads in its own key
// order).
func parseStamp(p []byte) (seq, ts int64, ok bool) {
	if rest, found := bytes.CutPrefix(p, []byte(`{"s":`)); found {
		if n, k := leadingInt(rest); k > 0 {
			if rest, found = bytes.CutPrefix(rest[k:], []byte(`,"t":`)); found {
				if t, m := leadingInt(rest); m > 0 {
					return n, t, true
				}
			}
		}
	}
	seq, ok1 := intField(p, "s")
	ts, ok2 := intField(p, "t")
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return seq, ts, true
}

// String is a short human-readable summary.
func (f *FanoutReport) String() string {
	var b strings.Builder
	mode := fmt.Sprintf("window %d", derefOr(f.Window, 0))
	if f.Rate > 0 {
		mode = fmt.Sprintf("rate %g/s", f.Rate)
	}
	slow := ""
	if f.Slow > 0 {
		slow = fmt.Sprintf(" (%d of them slow)", f.Slow)
	}
	fmt.Fprintf(&b, "fanout %s: %d subscribers%s on %s (%d failed to join), %s, %d-byte payloads\n",
		f.Target, f.Joined, slow, f.Topic, f.JoinFailed, mode, f.PayloadBytes)
	fmt.Fprintf(&b, "  published     %d messages at %.0f/s\n", f.Sent, f.PublishPerS)
	healthy := ""
	if f.Slow > 0 {
		healthy = " to the healthy subscribers"
	}
	fmt.Fprintf(&b, "  delivered     %d of %d = %.0f deliveries/s%s\n", f.Received, f.Expected, f.DeliveredPerS, healthy)
	fmt.Fprintf(&b, "  lost %d (%.3f%%), reordered %d, duplicates %d, dropped subscribers %d\n",
		f.Lost, f.LossPct, f.Reordered, f.Duplicates, f.Dropped)
	for _, t := range f.PerTarget {
		fmt.Fprintf(&b, "    on %s: %d subscribers, %d joined, delivered %d of %d, lost %d\n",
			t.Target, t.Subs, t.Joined, t.Received, t.Expected, t.Lost)
	}
	b.WriteString(f.Latency.line("latency"))
	b.WriteString(f.SlowReport.lines())
	b.WriteString(f.cpuLine())
	if f.ServerCPUUsPerDelivery > 0 {
		fmt.Fprintf(&b, "  server cpu    %.3fµs per delivery\n", f.ServerCPUUsPerDelivery)
	}
	if f.Unparsed > 0 {
		fmt.Fprintf(&b, "  %d bench payloads had no sequence number and time\n", f.Unparsed)
	}
	if f.Stalled {
		b.WriteString("  STALLED: deliveries stopped, the publisher gave up\n")
	}
	if f.PublishError != "" {
		fmt.Fprintf(&b, "  publish error: %s\n", f.PublishError)
	}
	b.WriteString(errorLines(f.JoinErrors))
	b.WriteString(f.notes())
	return b.String()
}

func derefOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
