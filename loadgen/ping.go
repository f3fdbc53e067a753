package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PingReport is the outcome of a closed-loop ping run.
type PingReport struct {
	Header
	Clients    int            `json:"clients"`
	Topic      string         `json:"topic_prefix"`
	Joined     int            `json:"joined"`
	JoinFailed int            `json:"join_failed"`
	JoinErrors map[string]int `json:"join_errors,omitempty"`
	// Replies counts ok replies; Failed counts requests that got an error
	// reply, none in time, or lost their connection.
	Replies uint64         `json:"replies"`
	Failed  int64          `json:"failed"`
	Errors  map[string]int `json:"errors,omitempty"`
	// Mismatched counts ok replies that did not echo their request's
	// sequence number.
	Mismatched  int64   `json:"mismatched"`
	RepliesPerS float64 `json:"replies_per_s"`
	// Latency is the round trip, from just before the request is written
	// to the moment its reply has been read.
	Latency Latency `json:"latency"`
}

// Ping joins clients connections, client i to its own topic (room:ping-<i>
// by default), and has each send `ping` with {"s": n} and wait for the
// reply before sending the next, for WithDuration or WithCount round trips
// per client. It reports replies per second and the round-trip time. It
// fails if no client can join.
func Ping(ctx context.Context, target string, clients int, opts ...Option) (*PingReport, error) {
	if clients < 1 {
		return nil, fmt.Errorf("loadgen: ping needs at least 1 client, got %d", clients)
	}
	r, err := newRun(ctx, "ping", target, "room:ping-", clients, 4096, opts)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	o := r.o
	topicOf := func(i int) string { return o.topic + strconv.Itoa(i) }
	conns, fails := r.dialJoin(clients, topicOf, nil, nil)
	rep := &PingReport{Clients: clients, Topic: o.topic}
	rep.JoinFailed, rep.JoinErrors = fails.result()
	for _, c := range conns {
		if c != nil {
			rep.Joined++
		}
	}
	if rep.Joined == 0 {
		return nil, fmt.Errorf("loadgen: no ping client could join: %d failures%s", rep.JoinFailed, errorSummary(r.ctx, rep.JoinErrors))
	}
	r.quiesce(300*time.Millisecond, 10*time.Second)

	r.o.log.Debug().Int("clients", rep.Joined).Msg("ping window open")

	var lat latencies
	var errs tally
	type counts struct{ failed, mismatched int64 }
	per := make([]counts, clients) // slot i belongs to client i's goroutine
	var wg sync.WaitGroup
	mark := markUsage(o.pids...)
	deadline := mark.at.Add(o.duration)
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Go(func() {
			var payload []byte
			for n := int64(1); n <= o.count && time.Now().Before(deadline) && r.ctx.Err() == nil; n++ {
				payload = strconv.AppendInt(append(payload[:0], `{"s":`...), n, 10)
				payload = append(payload, '}')
				t0 := time.Now()
				rp, err := c.push(r.ctx, o.replyTimeout, topicOf(i), "ping", payload)
				took := time.Since(t0)
				if err == nil && rp.status != "ok" {
					err = &ReplyError{Status: rp.status, Response: string(rp.response)}
				}
				if err != nil {
					if r.ctx.Err() != nil {
						return // cut short by the limit: not the server's failure
					}
					per[i].failed++
					errs.add(err)
					if errors.Is(err, ErrClosed) {
						return
					}
					continue
				}
				lat.add(i, int64(took))
				if echo, ok := intField(rp.response, "s"); !ok || echo != n {
					per[i].mismatched++
				}
			}
		})
	}
	wg.Wait()
	rep.Header = r.header(mark)
	closeAll(conns)

	for _, p := range per {
		rep.Failed += p.failed
		rep.Mismatched += p.mismatched
	}
	_, rep.Errors = errs.result()
	total := lat.total()
	rep.Replies = total.n
	rep.Latency = total.summary()
	rep.RepliesPerS = perSecond(float64(total.n), rep.WallS)
	return rep, nil
}

// String is a short human-readable summary.
func (p *PingReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ping %s: %d clients (%d failed to join): %d replies in %.2fs = %.0f replies/s\n",
		p.Target, p.Joined, p.JoinFailed, p.Replies, p.WallS, p.RepliesPerS)
	fmt.Fprintf(&b, "  failed %d, mismatched %d\n", p.Failed, p.Mismatched)
	b.WriteString(p.Latency.line("round trip"))
	b.WriteString(p.cpuLine())
	b.WriteString(errorLines(p.Errors))
	b.WriteString(errorLines(p.JoinErrors))
	b.WriteString(p.notes())
	return b.String()
}
