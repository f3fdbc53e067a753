package loadgen_test

import (
	"encoding/json"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/chatserver"
	"github.com/pyrehq/pyre/loadgen"
	"github.com/pyrehq/pyre/socket"
)

// socketBuffering estimates, generously, how many bytes a socket that no
// one reads takes in before its sender's writes block: twice the largest
// send buffer and twice the initial receive buffer of this machine's TCP.
func socketBuffering(tb testing.TB) int {
	tb.Helper()
	field := func(file string, i int) int {
		b, err := os.ReadFile(file)
		if err != nil {
			return 16 << 20 // not Linux: assume a lot
		}
		f := strings.Fields(string(b))
		if len(f) != 3 {
			tb.Fatalf("%s: %q", file, b)
		}
		n, err := strconv.Atoi(f[i])
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		return n
	}
	return 2*field("/proc/sys/net/ipv4/tcp_wmem", 2) + 2*field("/proc/sys/net/ipv4/tcp_rmem", 1)
}

// A subscriber that stops reading fills its kernel buffers and then the
// server's queue for it; pyre closes it with 4000, and the healthy
// subscribers, which the publisher alone waits for, lose nothing.
func TestFanoutSlowConsumer(t *testing.T) {
	// A queue of 1 MiB fills fast enough; the healthy subscribers and the
	// publisher, which gets its own copies, have 4 messages of 4 KiB in
	// flight at most, well under it. The server abandons a write that does
	// not finish within its write timeout, cutting short the frame and the
	// close frame after it (the subscriber would see 1006); a minute keeps
	// a loaded machine from making that happen here.
	cs := chatserver.Start(t, socket.WithMaxQueueBytes(1<<20), socket.WithWriteTimeout(time.Minute))
	testutil.CheckGoroutines(t)
	const size = 4 << 10
	count := int64((socketBuffering(t)+(1<<20))/size + 100)
	const duration, drain = 30 * time.Second, 10 * time.Second
	start := time.Now()
	rep, err := loadgen.Fanout(t.Context(), cs.URL, 3, loadgen.WithSlow(1), loadgen.WithCount(count),
		loadgen.WithPayloadSize(size), loadgen.WithWindow(4), loadgen.WithDuration(duration),
		loadgen.WithDrain(drain), loadgen.WithLimit(duration+drain+10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("%d messages of %d bytes in %v:\n%s", count, size, took, rep)

	if rep.Stopped != "" || rep.Stalled || rep.PublishError != "" || rep.Sent != count {
		t.Errorf("stopped %q, stalled %v, publish error %q, sent %d of %d: want every message published",
			rep.Stopped, rep.Stalled, rep.PublishError, rep.Sent, count)
	}
	if rep.Joined != 3 || rep.Expected != 2*count || rep.Received != rep.Expected || rep.Lost != 0 ||
		rep.Dropped != 0 || rep.Reordered != 0 || rep.Duplicates != 0 || rep.Latency.Count != uint64(rep.Expected) {
		t.Errorf("joined %d, expected %d, received %d, lost %d, dropped %d, reordered %d, dups %d, latency samples %d; want 3, %d and all of it to the two healthy subscribers",
			rep.Joined, rep.Expected, rep.Received, rep.Lost, rep.Dropped, rep.Reordered, rep.Duplicates, rep.Latency.Count, 2*count)
	}
	if want := map[string]int{strconv.Itoa(socket.CloseSlowConsumer): 1}; rep.Slow != 1 || rep.SlowClosed == nil ||
		*rep.SlowClosed != 1 || !maps.Equal(rep.SlowCloseCodes, want) {
		t.Fatalf("slow %d, closed %v, codes %v; want 1, 1, %v", rep.Slow, rep.SlowClosed, rep.SlowCloseCodes, want)
	}
	if rep.SlowReceived <= 0 || rep.SlowReceived >= count {
		t.Errorf("the slow subscriber read %d of %d messages: want some, and not those the server dropped", rep.SlowReceived, count)
	}
	cut, closed := rep.SlowCutS, rep.SlowClosedS
	if cut == nil || closed == nil || cut.Min < 0 || cut.Max > closed.Min || closed.Max > took.Seconds() {
		t.Errorf("closed after %v, before %v, in a run of %v: want 0 ≤ cut ≤ close ≤ the run", cut, closed, took)
	}
	if took > duration {
		t.Errorf("the run took %v: the count, not the duration (%v), should have ended it", took, duration)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"slow", "slow_closed", "slow_close_codes", "slow_received", "slow_cut_s", "slow_closed_s"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON report has no %q: %s", k, b)
		}
	}
	if s := rep.String(); !strings.Contains(s, "1 closed by the server (close code 4000 ×1)") {
		t.Errorf("summary does not say how the slow subscriber was closed:\n%s", s)
	}
}

// A slow subscriber that the server does not close (the default queue of
// 4 MiB never fills) is waited for until the drain ends, and no longer.
func TestFanoutSlowNotClosed(t *testing.T) {
	cs := chatserver.Start(t)
	testutil.CheckGoroutines(t)
	const drain = 300 * time.Millisecond
	start := time.Now()
	rep, err := loadgen.Fanout(t.Context(), cs.URL, 3, loadgen.WithSlow(1), loadgen.WithCount(20),
		loadgen.WithWindow(2), loadgen.WithDrain(drain))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > drain+5*time.Second {
		t.Errorf("the run took %v with a drain of %v", took, drain)
	}
	if rep.Slow != 1 || rep.SlowClosed == nil || *rep.SlowClosed != 0 || len(rep.SlowCloseCodes) != 0 || rep.SlowCutS != nil || rep.SlowReceived > 20 {
		t.Errorf("slow %d, closed %v, codes %v, cut %v, read %d; want 1 slow subscriber, not closed, at most 20 messages read",
			rep.Slow, rep.SlowClosed, rep.SlowCloseCodes, rep.SlowCutS, rep.SlowReceived)
	}
	if rep.Sent != 20 || rep.Expected != 40 || rep.Received != 40 || rep.Lost != 0 || rep.Stalled {
		t.Errorf("sent %d, expected %d, received %d, lost %d, stalled %v; want 20, 40, 40, 0, false", rep.Sent, rep.Expected, rep.Received, rep.Lost, rep.Stalled)
	}
	if s := rep.String(); !strings.Contains(s, "1 stopped reading: 0 closed by the server, 1 still open after the drain") {
		t.Errorf("summary:\n%s", s)
	}
}

// There must be a healthy subscriber to measure; the check comes before
// any connection.
func TestFanoutSlowNeedsHealthy(t *testing.T) {
	for _, tc := range []struct{ subs, slow int }{{1, 1}, {3, 5}} {
		_, err := loadgen.Fanout(t.Context(), "http://127.0.0.1:1", tc.subs, loadgen.WithSlow(tc.slow))
		if err == nil || !strings.Contains(err.Error(), "leave none to measure") {
			t.Errorf("%d subscribers, %d slow: %v, want an error", tc.subs, tc.slow, err)
		}
	}
}
