package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ReconnectReport is the outcome of a reconnect storm: every client
// connecting at once and retrying, as phoenix.js does, until it has
// joined or the window has passed.
type ReconnectReport struct {
	Header
	Conns  int     `json:"conns"`
	Topic  string  `json:"topic_prefix"`
	Jitter float64 `json:"jitter"`
	// WindowS is how long a client kept trying.
	WindowS float64 `json:"window_s"`
	Joined  int     `json:"joined"` // clients connected and joined in the end
	Failed  int     `json:"failed"` // clients that never got in within the window
	// Attempts is every connect+join tried, Refused those answered 503
	// (admission control), Errors the failed attempts by reason.
	Attempts int            `json:"attempts"`
	Refused  int            `json:"refused"`
	Errors   map[string]int `json:"errors,omitempty"`
	// JoinsPerS is clients joined per second, from the start until the
	// last of them joined (AllInS).
	JoinsPerS float64 `json:"joins_per_s"`
	AllInS    float64 `json:"all_in_s"`
	// ConnectJoin runs from a client's first attempt to its join reply,
	// backoffs and refused attempts included: what a user waits. Attempt
	// is the successful attempt alone.
	ConnectJoin Latency `json:"connect_join"`
	Attempt     Latency `json:"attempt"`
	// The server's VmRSS before the storm, at its highest while it ran
	// (sampled every 100 ms) and once it had settled (needs WithServerPID).
	RSSBeforeKiB int64 `json:"rss_before_kib,omitempty"`
	RSSPeakKiB   int64 `json:"rss_peak_kib,omitempty"`
	RSSAfterKiB  int64 `json:"rss_after_kib,omitempty"`
}

// phoenixBackoff is phoenix.js's default reconnectAfterMs: the wait
// before attempt tries+1, after tries failed attempts.
func phoenixBackoff(tries int) time.Duration {
	steps := [...]int{10, 50, 100, 150, 200, 250, 500, 1000, 2000}
	if tries >= 1 && tries <= len(steps) {
		return time.Duration(steps[tries-1]) * time.Millisecond
	}
	return 5 * time.Second
}

// backoff is phoenixBackoff with jitter: the wait drawn evenly from
// ±jitter of it.
func backoff(tries int, jitter float64) time.Duration {
	d := phoenixBackoff(tries)
	if jitter > 0 {
		d = time.Duration(float64(d) * (1 - jitter + 2*jitter*rand.Float64()))
	}
	return d
}

// Reconnect has conns clients connect at once, as the clients of a
// drained node do, each joining its own topic (room:reconnect-<i> by
// default). A client whose attempt fails (a refused upgrade, a failed
// join) retries after phoenix.js's default backoff (10, 50, 100, 150,
// 200, 250, 500, 1000, 2000 ms, then 5 s; WithJitter spreads each wait),
// until it has joined or WithDuration has passed since the start. It
// measures joins per second, the time each client took to get in, the
// failures and, with WithServerPID, the server's memory.
func Reconnect(ctx context.Context, target string, conns int, opts ...Option) (*ReconnectReport, error) {
	if conns < 1 {
		return nil, fmt.Errorf("loadgen: reconnect needs at least 1 connection, got %d", conns)
	}
	r, err := newRun(ctx, "reconnect", target, "room:reconnect-", conns, 2048, opts)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	prefix := r.o.topic

	var rssBefore procUsage
	if r.o.firstPID() > 0 {
		rssBefore, _ = readProc(r.o.firstPID())
	}
	var peak atomic.Int64
	stopSampling := r.sampleRSS(&peak)

	mark := markUsage(r.o.pids...)
	start := time.Now()
	window, cancel := context.WithTimeout(r.ctx, r.o.duration)
	defer cancel()
	var (
		wg                sync.WaitGroup
		waited, attempt   latencies
		fails             tally
		attempts, refused atomic.Int64
		lastJoin          atomic.Int64 // ns since start
	)
	clients := make([]*conn, conns)
	for i := range conns {
		wg.Go(func() {
			topic := prefix + strconv.Itoa(i)
			for tries := 0; ; tries++ {
				if tries > 0 {
					t := time.NewTimer(backoff(tries, r.o.jitter))
					select {
					case <-t.C:
					case <-window.Done():
						t.Stop()
						return
					}
				}
				t0 := time.Now()
				attempts.Add(1)
				c, err := r.dial(i, nil, nil)
				if err == nil {
					if err = c.join(window, r.o.replyTimeout, topic); err != nil {
						c.close(false)
					}
				}
				if err == nil {
					clients[i] = c // each slot has one writer; read after wg.Wait
					now := time.Now()
					attempt.add(i, int64(now.Sub(t0)))
					waited.add(i, int64(now.Sub(start)))
					for at := int64(now.Sub(start)); ; {
						last := lastJoin.Load()
						if at <= last || lastJoin.CompareAndSwap(last, at) {
							break
						}
					}
					return
				}
				if window.Err() != nil {
					return // not the attempt's fault
				}
				if ue, ok := errors.AsType[*UpgradeError](err); ok && ue.Status == http.StatusServiceUnavailable {
					refused.Add(1)
				}
				fails.add(err)
			}
		})
	}
	wg.Wait()
	stopSampling()
	h := r.header(mark)
	r.o.log.Debug().Float64("seconds", h.WallS).Msg("reconnect storm done")

	rep := &ReconnectReport{Header: h, Conns: conns, Topic: prefix, Jitter: r.o.jitter, WindowS: r.o.duration.Seconds(),
		Attempts: int(attempts.Load()), Refused: int(refused.Load())}
	_, rep.Errors = fails.result()
	total := waited.total()
	rep.Joined = int(total.n)
	rep.Failed = conns - rep.Joined
	rep.ConnectJoin = total.summary()
	rep.Attempt = attempt.total().summary()
	rep.AllInS = round3(time.Duration(lastJoin.Load()).Seconds())
	rep.JoinsPerS = perSecond(float64(rep.Joined), rep.AllInS)
	if r.o.firstPID() > 0 {
		r.quiesce(500*time.Millisecond, 10*time.Second)
		rep.RSSBeforeKiB, rep.RSSPeakKiB = rssBefore.rssKiB, peak.Load()
		if p, ok := readProc(r.o.firstPID()); ok {
			rep.RSSAfterKiB = p.rssKiB
		}
	}
	rep.Stopped = r.stopped()
	closeAll(clients)
	return rep, nil
}

// sampleRSS keeps the server's highest VmRSS in peak, reading it every
// 100 ms until the returned stop is called (no-op without a server PID).
func (r *run) sampleRSS(peak *atomic.Int64) (stop func()) {
	if r.o.firstPID() <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if p, ok := readProc(r.o.firstPID()); ok && p.rssKiB > peak.Load() {
				peak.Store(p.rssKiB)
			}
			select {
			case <-t.C:
			case <-done:
				return
			case <-r.ctx.Done():
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// String is a short human-readable summary.
func (s *ReconnectReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reconnect %s: %d of %d clients joined within %.0fs, %d failed; all in after %.2fs = %.0f joins/s\n",
		s.Target, s.Joined, s.Conns, s.WindowS, s.Failed, s.AllInS, s.JoinsPerS)
	fmt.Fprintf(&b, "  attempts      %d, %d refused with 503 (backoff: phoenix.js's, jitter ±%.0f%%)\n",
		s.Attempts, s.Refused, s.Jitter*100)
	b.WriteString(s.ConnectJoin.line("connect+join"))
	b.WriteString(s.Attempt.line("last attempt"))
	if s.RSSAfterKiB > 0 {
		fmt.Fprintf(&b, "  server RSS    %s before, %s at peak, %s after\n", kib(s.RSSBeforeKiB), kib(s.RSSPeakKiB), kib(s.RSSAfterKiB))
	}
	b.WriteString(s.cpuLine())
	b.WriteString(errorLines(s.Errors))
	b.WriteString(s.notes())
	return b.String()
}
