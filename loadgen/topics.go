package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TopicsReport is the outcome of a topics run: few connections, each
// joined to many topics, so that a node holds more topics than a load
// generator can hold connections.
type TopicsReport struct {
	Header
	Conns   int            `json:"conns"`
	PerConn int            `json:"per_conn"`
	Topic   string         `json:"topic_prefix"`
	Joined  int            `json:"joined"` // topics joined, over every connection
	Failed  int            `json:"failed"`
	Errors  map[string]int `json:"errors,omitempty"`
	// JoinsPerS is topics joined per second, from the first dial to the
	// last join reply; Join is each join's time from request to reply.
	JoinsPerS float64 `json:"joins_per_s"`
	Join      Latency `json:"join"`
	// The servers' VmRSS, summed over -pid, before the run and once it had
	// settled after the joins, and the growth per topic joined.
	RSSBeforeKiB int64   `json:"rss_before_kib,omitempty"`
	RSSAfterKiB  int64   `json:"rss_after_kib,omitempty"`
	RSSPerTopicB float64 `json:"rss_per_topic_b,omitempty"`
}

// Topics opens conns connections (spread over the nodes of
// WithMoreTargets, connection i on node i mod N) and has each join perConn
// topics of its own, one after the other: PREFIX<n> for n from
// i×perConn (WithTopic sets the prefix, room:topics- by default). It
// reports joins per second, the join latency and, with WithServerPID, the
// servers' memory per topic joined, then closes the connections.
func Topics(ctx context.Context, target string, conns, perConn int, opts ...Option) (*TopicsReport, error) {
	if conns < 1 || perConn < 1 {
		return nil, fmt.Errorf("loadgen: topics needs at least 1 connection joining at least 1 topic, got %d and %d", conns, perConn)
	}
	r, err := newRun(ctx, "topics", target, "room:topics-", conns, 2048, opts)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	prefix := r.o.topic
	if nsrv := len(r.servers); nsrv > 1 {
		r.serverOf = func(i int) int { return i % nsrv }
	}
	before, _ := readProcs(r.o.pids)
	mark := markUsage(r.o.pids...)

	var lat latencies
	fails := &tally{}
	clients := make([]*conn, conns)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(r.o.conc, conns) {
		wg.Go(func() {
			for i := range jobs {
				c, err := r.dial(i, nil, nil)
				if err != nil {
					fails.add(err)
					continue
				}
				clients[i] = c // each slot has one writer; read after wg.Wait
				for k := range perConn {
					t0 := time.Now()
					if _, err := c.joinWith(r.ctx, r.o.replyTimeout, prefix+strconv.Itoa(i*perConn+k), nil); err != nil {
						fails.add(err)
						continue
					}
					lat.add(i, int64(time.Since(t0)))
				}
			}
		})
	}
feed:
	for i := range conns {
		select {
		case jobs <- i:
		case <-r.ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	h := r.header(mark)

	rep := &TopicsReport{Header: h, Conns: conns, PerConn: perConn, Topic: prefix}
	rep.Failed, rep.Errors = fails.result()
	total := lat.total()
	rep.Joined = int(total.n)
	rep.Join = total.summary()
	rep.JoinsPerS = perSecond(float64(total.n), h.WallS)
	if len(before) > 0 && rep.Joined > 0 {
		// Let the servers settle (subscriptions, garbage) before reading
		// their memory.
		r.quiesce(500*time.Millisecond, 10*time.Second)
		if after, ok := readProcs(r.o.pids); ok {
			for k := range after {
				rep.RSSBeforeKiB += before[k].rssKiB
				rep.RSSAfterKiB += after[k].rssKiB
			}
			rep.RSSPerTopicB = round3(float64(rep.RSSAfterKiB-rep.RSSBeforeKiB) * 1024 / float64(rep.Joined))
		}
	}
	rep.Stopped = r.stopped()
	closeAll(clients)
	return rep, nil
}

// String is a short human-readable summary.
func (s *TopicsReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "topics %s: %d connections joining %d topics each: %d joined, %d failed, in %.2fs = %.0f joins/s\n",
		s.Target, s.Conns, s.PerConn, s.Joined, s.Failed, s.WallS, s.JoinsPerS)
	b.WriteString(s.Join.line("join"))
	if s.RSSAfterKiB > 0 {
		fmt.Fprintf(&b, "  server RSS    %s -> %s = %+.0f bytes per topic\n", kib(s.RSSBeforeKiB), kib(s.RSSAfterKiB), s.RSSPerTopicB)
	}
	b.WriteString(s.cpuLine())
	b.WriteString(errorLines(s.Errors))
	b.WriteString(s.notes())
	return b.String()
}
