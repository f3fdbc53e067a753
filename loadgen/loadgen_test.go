package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/chatserver"
	"github.com/pyrehq/pyre/loadgen"
	"github.com/pyrehq/pyre/socket"
)

func TestStorm(t *testing.T) {
	cs := chatserver.Start(t)
	testutil.CheckGoroutines(t)
	rep, err := loadgen.Storm(t.Context(), cs.URL, 30, loadgen.WithServerPID(os.Getpid()),
		loadgen.WithSourceIPs(3), loadgen.WithUsers(7), loadgen.WithLabel("pyre"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 30 || rep.Failed != 0 || rep.StillOpen != 30 {
		t.Errorf("joined %d, failed %d, still open %d; want 30, 0, 30 (errors %v)", rep.Joined, rep.Failed, rep.StillOpen, rep.Errors)
	}
	if rep.ConnectJoin.Count != 30 || rep.JoinsPerS <= 0 || rep.ConnectJoin.P50Us <= 0 || rep.ConnectJoin.MaxUs < rep.ConnectJoin.P99Us {
		t.Errorf("connect+join %+v at %v joins/s: want 30 samples, positive and ordered", rep.ConnectJoin, rep.JoinsPerS)
	}
	if rep.Mode != "storm" || rep.Label != "pyre" || rep.Stopped != "" || rep.ServerPID != os.Getpid() || rep.RSSAfterKiB <= 0 {
		t.Errorf("header %+v, RSS after %d: want mode storm, label pyre, not stopped, server figures", rep.Header, rep.RSSAfterKiB)
	}
	want := map[string]int{"127.0.0.2": 10, "127.0.0.3": 10, "127.0.0.4": 10}
	if got := cs.Sources(); !maps.Equal(got, want) {
		t.Errorf("connections came from %v, want %v", got, want)
	}
	if s := rep.String(); !strings.Contains(s, "30 of 30 connections joined") {
		t.Errorf("summary does not say what joined:\n%s", s)
	}
}

// With -no-login the chat server refuses the upgrade: every connection
// fails, and the report says why instead of the run failing.
func TestStormCountsFailures(t *testing.T) {
	cs := chatserver.Start(t)
	rep, err := loadgen.Storm(t.Context(), cs.URL, 5, loadgen.WithoutLogin())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 0 || rep.Failed != 5 || rep.Errors["loadgen: upgrade refused: HTTP 403"] != 5 {
		t.Errorf("joined %d, failed %d, errors %v: want every upgrade refused with 403", rep.Joined, rep.Failed, rep.Errors)
	}
}

// Fan-out and ping cannot measure anything when nobody joins: they fail.
func TestNobodyJoins(t *testing.T) {
	cs := chatserver.Start(t)
	if _, err := loadgen.Fanout(t.Context(), cs.URL, 3, loadgen.WithoutLogin()); err == nil || !strings.Contains(err.Error(), "could not join") {
		t.Errorf("Fanout without login: %v, want an error saying the publisher could not join", err)
	}
	if _, err := loadgen.Ping(t.Context(), cs.URL, 3, loadgen.WithoutLogin()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("Ping without login: %v, want an error with the refusal", err)
	}
}

// A token given up front replaces the login.
func TestStormWithToken(t *testing.T) {
	cs := chatserver.Start(t)
	resp, err := http.Post(cs.URL+"/api/login", "application/json", strings.NewReader(`{"user":"ana"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || out.Token == "" {
		t.Fatalf("login: %v %+v", err, out)
	}
	rep, err := loadgen.Storm(t.Context(), cs.URL, 4, loadgen.WithToken(out.Token), loadgen.WithTopic("room:tok-"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 4 || rep.Topic != "room:tok-" {
		t.Errorf("joined %d on %q, want 4 on room:tok-: %v", rep.Joined, rep.Topic, rep.Errors)
	}
}

// Heartbeats keep held connections open past the server's idle timeout;
// without them the server closes every one.
func TestStormHoldHeartbeats(t *testing.T) {
	// The idle timeout is twelve heartbeats, so that a loaded machine that
	// runs a heartbeat late does not close the socket; the hold is long
	// enough for the timeout to close every socket that sends none.
	cs := chatserver.Start(t, socket.WithIdleTimeout(600*time.Millisecond))
	for _, tc := range []struct {
		every time.Duration
		open  int
	}{
		{every: 50 * time.Millisecond, open: 5},
		{every: time.Hour, open: 0},
	} {
		rep, err := loadgen.Storm(t.Context(), cs.URL, 5, loadgen.WithHold(1500*time.Millisecond), loadgen.WithHeartbeat(tc.every))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Joined != 5 || rep.StillOpen != tc.open {
			t.Errorf("heartbeat every %v: joined %d, still open after the hold %d; want 5, %d", tc.every, rep.Joined, rep.StillOpen, tc.open)
		}
	}
}

func TestFanout(t *testing.T) {
	cs := chatserver.Start(t)
	for _, tc := range []struct {
		name string
		opts []loadgen.Option
	}{
		{"window", []loadgen.Option{loadgen.WithWindow(4)}},
		{"rate", []loadgen.Option{loadgen.WithRate(1000)}},
		{"no flow control", []loadgen.Option{loadgen.WithWindow(0), loadgen.WithPayloadSize(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			opts := append([]loadgen.Option{loadgen.WithCount(40), loadgen.WithServerPID(os.Getpid())}, tc.opts...)
			rep, err := loadgen.Fanout(t.Context(), cs.URL, 6, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Joined != 6 || rep.Sent != 40 || rep.Expected != 240 || rep.Received != 240 {
				t.Errorf("joined %d, sent %d, expected %d, received %d; want 6, 40, 240, 240", rep.Joined, rep.Sent, rep.Expected, rep.Received)
			}
			if rep.Lost != 0 || rep.LossPct != 0 || rep.Reordered != 0 || rep.Duplicates != 0 || rep.Dropped != 0 || rep.Unparsed != 0 || rep.Stalled {
				t.Errorf("lost %d (%v%%), reordered %d, dups %d, dropped %d, unparsed %d, stalled %v; want all zero",
					rep.Lost, rep.LossPct, rep.Reordered, rep.Duplicates, rep.Dropped, rep.Unparsed, rep.Stalled)
			}
			l := rep.Latency
			if l.Count != 240 || l.P50Us <= 0 || l.P50Us > l.P90Us || l.P90Us > l.P99Us || l.P99Us > l.MaxUs {
				t.Errorf("latency %+v: want 240 ordered samples", l)
			}
			if rep.DeliveredPerS <= 0 || rep.PublishPerS <= 0 || rep.ServerCPUS < 0 {
				t.Errorf("delivered %v/s, published %v/s: want positive", rep.DeliveredPerS, rep.PublishPerS)
			}
		})
	}
}

// The JSON report carries the names that the plot tool and the team's
// harness read.
func TestFanoutReport(t *testing.T) {
	cs := chatserver.Start(t)
	var buf bytes.Buffer
	rep, err := loadgen.Fanout(t.Context(), cs.URL, 2, loadgen.WithCount(3), loadgen.WithLabel("pyre"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(&buf).Encode(rep); err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mode", "label", "subs", "joined", "sent", "received", "lost", "reordered", "delivered_per_s", "latency", "window", "rate_target", "wall_s"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON report has no %q: %s", k, buf.Bytes())
		}
	}
	for _, k := range []string{"slow", "slow_closed", "slow_close_codes"} {
		if _, ok := fields[k]; ok {
			t.Errorf("JSON report of a run without slow subscribers has %q: %s", k, buf.Bytes())
		}
	}
	if p99 := fields["latency"].(map[string]any)["p99_us"]; p99 == nil {
		t.Errorf("latency has no p99_us: %s", buf.Bytes())
	}
	if s := rep.String(); !strings.Contains(s, "delivered     6 of 6") {
		t.Errorf("summary:\n%s", s)
	}
}

func TestPing(t *testing.T) {
	cs := chatserver.Start(t)
	testutil.CheckGoroutines(t)
	rep, err := loadgen.Ping(t.Context(), cs.URL, 4, loadgen.WithDuration(300*time.Millisecond), loadgen.WithCount(200))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 4 || rep.Replies == 0 || rep.Failed != 0 || rep.Mismatched != 0 {
		t.Errorf("joined %d, replies %d, failed %d (%v), mismatched %d; want 4, >0, 0, 0", rep.Joined, rep.Replies, rep.Failed, rep.Errors, rep.Mismatched)
	}
	if rep.Replies > 4*200 || rep.RepliesPerS <= 0 || rep.Latency.Count != rep.Replies {
		t.Errorf("replies %d at %v/s, latency count %d: want at most 800, a positive rate and one sample per reply", rep.Replies, rep.RepliesPerS, rep.Latency.Count)
	}
}

// Ping's count bounds each client exactly.
func TestPingCount(t *testing.T) {
	cs := chatserver.Start(t)
	rep, err := loadgen.Ping(t.Context(), cs.URL, 3, loadgen.WithCount(25), loadgen.WithDuration(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replies != 75 || rep.Stopped != "" {
		t.Errorf("replies %d, stopped %q; want 75 and a finished run", rep.Replies, rep.Stopped)
	}
}

// The wall-clock limit ends a run that would otherwise go on for a minute,
// and the report says so.
func TestLimit(t *testing.T) {
	cs := chatserver.Start(t)
	testutil.CheckGoroutines(t)
	start := time.Now()
	rep, err := loadgen.Fanout(t.Context(), cs.URL, 3, loadgen.WithRate(5), loadgen.WithCount(1000),
		loadgen.WithDuration(time.Minute), loadgen.WithLimit(700*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the run took %v with a limit of 700ms", took)
	}
	if rep.Stopped != loadgen.StoppedLimit || rep.Sent == 0 || rep.Sent > 10 {
		t.Errorf("stopped %q after %d messages: want %q after a few", rep.Stopped, rep.Sent, loadgen.StoppedLimit)
	}
}

// The caller's context ends a run too.
func TestInterrupted(t *testing.T) {
	cs := chatserver.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Cancel as soon as the measured window opens.
	log := zerolog.New(logHook{msg: "ping window open", do: cancel})
	rep, err := loadgen.Ping(ctx, cs.URL, 2, loadgen.WithDuration(time.Minute), loadgen.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stopped != loadgen.StoppedInterrupted || rep.WallS > 5 {
		t.Errorf("stopped %q after %vs, want %q at once", rep.Stopped, rep.WallS, loadgen.StoppedInterrupted)
	}
}

// logHook is a zerolog destination that calls do when a message appears.
type logHook struct {
	msg string
	do  func()
}

func (h logHook) Write(p []byte) (int, error) {
	var e struct{ Message string }
	if json.Unmarshal(p, &e) == nil && e.Message == h.msg {
		h.do()
	}
	return len(p), nil
}

func TestRefusesRemoteTargets(t *testing.T) {
	for _, target := range []string{
		"http://192.0.2.1:4000",
		"http://10.0.0.1",
		"example.com:4000",
		"http://127.0.0.1.example.com:4000",
		"ws://[2001:db8::1]:4000",
		"http://[::ffff:192.0.2.1]:4000",
		"http://0.0.0.0:4000",
	} {
		start := time.Now()
		_, err := loadgen.Storm(t.Context(), target, 1)
		if !errors.Is(err, loadgen.ErrNotLoopback) {
			t.Errorf("Storm(%q) error = %v, want ErrNotLoopback", target, err)
		}
		if _, err := loadgen.Fanout(t.Context(), target, 1); !errors.Is(err, loadgen.ErrNotLoopback) {
			t.Errorf("Fanout(%q) error = %v, want ErrNotLoopback", target, err)
		}
		if _, err := loadgen.Ping(t.Context(), target, 1); !errors.Is(err, loadgen.ErrNotLoopback) {
			t.Errorf("Ping(%q) error = %v, want ErrNotLoopback", target, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("refusing %q took %v: it must not try the network", target, took)
		}
	}
}

func TestBadOptions(t *testing.T) {
	for name, opts := range map[string][]loadgen.Option{
		"token and no login": {loadgen.WithToken("t"), loadgen.WithoutLogin()},
		"source IPs":         {loadgen.WithSourceIPs(loadgen.MaxSourceIPs + 1)},
		"zero limit":         {loadgen.WithLimit(0)},
		"negative window":    {loadgen.WithWindow(-1)},
		"negative rate":      {loadgen.WithRate(-1)},
		"negative slow":      {loadgen.WithSlow(-1)},
		"zero count":         {loadgen.WithCount(0)},
		"bad path":           {loadgen.WithPath("socket")},
	} {
		if _, err := loadgen.Ping(t.Context(), "http://127.0.0.1:1", 1, opts...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := loadgen.Storm(t.Context(), "http://[::1]:1", 1, loadgen.WithSourceIPs(2)); err == nil {
		t.Error("source addresses with an IPv6 target: no error")
	}
}

// A reconnect storm against a node that admits 20 connections a second:
// the clients over the rate are refused with 503, retry after
// phoenix.js's backoff, and all get in; the report counts the refusals.
func TestReconnectThroughAdmission(t *testing.T) {
	cs := chatserver.Start(t, socket.WithAdmission(20, 10))
	testutil.CheckGoroutines(t)
	const n = 50
	rep, err := loadgen.Reconnect(t.Context(), cs.URL, n, loadgen.WithJitter(0.5), loadgen.WithDuration(30*time.Second),
		loadgen.WithServerPID(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != n || rep.Failed != 0 {
		t.Fatalf("joined %d, failed %d; want %d, 0 (errors %v)", rep.Joined, rep.Failed, n, rep.Errors)
	}
	if rep.Refused == 0 || rep.Errors["loadgen: upgrade refused: HTTP 503"] != rep.Refused || rep.Attempts != n+rep.Refused {
		t.Errorf("attempts %d, refused %d, errors %v: want refusals, every failed attempt one of them", rep.Attempts, rep.Refused, rep.Errors)
	}
	// 40 clients over the burst at 20 a second take at least 1.5s.
	if rep.AllInS < 1.5 || rep.ConnectJoin.Count != n || rep.ConnectJoin.MaxUs < rep.AllInS*1e6*0.9 || rep.Attempt.Count != n {
		t.Errorf("all in after %vs, connect+join %+v, attempt %+v", rep.AllInS, rep.ConnectJoin, rep.Attempt)
	}
	if rep.Mode != "reconnect" || rep.Jitter != 0.5 || rep.RSSPeakKiB < rep.RSSBeforeKiB || rep.RSSAfterKiB <= 0 {
		t.Errorf("header %+v, jitter %v, RSS %d/%d/%d", rep.Header, rep.Jitter, rep.RSSBeforeKiB, rep.RSSPeakKiB, rep.RSSAfterKiB)
	}
	if got := cs.App.Socket().RefusedConnects(); got != uint64(rep.Refused) {
		t.Errorf("the server refused %d, the report says %d", got, rep.Refused)
	}
	if s := rep.String(); !strings.Contains(s, "50 of 50 clients joined") || !strings.Contains(s, "refused with 503") {
		t.Errorf("summary:\n%s", s)
	}
}

// Without admission control every client of a small storm gets in at its
// first attempt.
func TestReconnectWithoutAdmission(t *testing.T) {
	cs := chatserver.Start(t)
	rep, err := loadgen.Reconnect(t.Context(), cs.URL, 20)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 20 || rep.Failed != 0 || rep.Attempts != 20 || rep.Refused != 0 || rep.Jitter != 0 {
		t.Errorf("joined %d, failed %d, attempts %d, refused %d; want 20, 0, 20, 0 (errors %v)", rep.Joined, rep.Failed, rep.Attempts, rep.Refused, rep.Errors)
	}
}
