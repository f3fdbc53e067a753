package socket_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// countConnects is a Connect that counts its calls and takes every socket.
func countConnects(n *atomic.Int64) socket.Option {
	return socket.WithConnect(func(context.Context, url.Values, socket.ConnInfo) (actors.Assigns, error) {
		n.Add(1)
		return actors.Assigns{}, nil
	})
}

// refused checks that resp is admission control's answer: 503 with a
// Retry-After of whole seconds, at least one.
func refused(t *testing.T, resp *http.Response, want string) {
	t.Helper()
	if resp == nil {
		t.Fatal("no HTTP answer")
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d, want 503", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got != want {
		t.Fatalf("Retry-After %q, want %q", got, want)
	}
}

// A burst of WebSocket connects above the admission rate: the excess is
// answered 503 with Retry-After before Connect runs; the sockets admitted
// before it keep pushing and get every broadcast sent during the flood,
// as fast as before it; once the bucket refills, a new client gets in.
func TestAdmissionWebSocket(t *testing.T) {
	const rate, burst = 2, 10
	var connects atomic.Int64
	s := newServer(t, socket.WithAdmission(rate, burst), countConnects(&connects))

	// The bucket starts full: burst sockets get in, then the next is
	// refused (a token or two may come back while they connect).
	var admitted []*testutil.WSConn
	for {
		c, resp, err := s.dial(t, "vsn=2.0.0", nil)
		if err != nil {
			refused(t, resp, "1")
			break
		}
		admitted = append(admitted, c)
		if len(admitted) > burst+2 {
			t.Fatalf("%d sockets admitted in a row, burst %d", len(admitted), burst)
		}
	}
	if len(admitted) < burst {
		t.Fatalf("%d sockets admitted before the first refusal, want the burst of %d", len(admitted), burst)
	}
	if got := connects.Load(); got != int64(len(admitted)) {
		t.Fatalf("Connect ran %d times for %d admitted sockets", got, len(admitted))
	}
	for _, c := range admitted {
		c.Join("echo:room", nil)
	}
	// Delivery latency of a broadcast to every admitted socket, the
	// slowest of them.
	broadcastRound := func(n int) time.Duration {
		start := time.Now()
		if err := s.h.Broadcast("echo:room", "news", map[string]int{"n": n}); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`[null,null,"echo:room","news",{"n":%d}]`, n)
		for i, c := range admitted {
			if got := c.Read(); got != want {
				t.Fatalf("socket %d got %s, want %s", i, got, want)
			}
		}
		return time.Since(start)
	}
	var before time.Duration
	for n := range 5 {
		before = max(before, broadcastRound(n))
	}

	// The flood: 200 connects at once while the admitted sockets work.
	const flood = 200
	var (
		wg       sync.WaitGroup
		in, outs atomic.Int64
		bad      = make(chan string, flood)
	)
	start := time.Now()
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, resp, err := websocket.DefaultDialer.Dial(s.url+"?vsn=2.0.0", nil)
			if err == nil {
				in.Add(1)
				c.Close()
				return
			}
			outs.Add(1)
			switch {
			case resp == nil:
				bad <- err.Error()
			case resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1":
				bad <- fmt.Sprintf("HTTP %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}()
	}
	var during time.Duration
	for n := 5; n < 25; n++ {
		during = max(during, broadcastRound(n))
	}
	for i, c := range admitted {
		ref := c.Push("echo:room", "echo", map[string]int{"i": i})
		r := c.ReadUntil("the echo", func(f testutil.Frame) bool { return f.Ref == ref })
		if r.Payload["status"] != "ok" {
			t.Fatalf("socket %d: echo answered %s", i, r.Text)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(bad)
	for b := range bad {
		t.Errorf("a refused connect: %s", b)
	}
	// At most what the bucket refilled in the meantime got in.
	if limit := int64(elapsed.Seconds()*rate) + 2; in.Load() > limit {
		t.Errorf("%d of %d flood connects admitted in %v at %d/s, want at most %d", in.Load(), flood, elapsed, rate, limit)
	}
	// The first refusal, then the flood's.
	if got, want := s.h.RefusedConnects(), uint64(1+outs.Load()); got != want {
		t.Errorf("RefusedConnects = %d, want %d", got, want)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.h.Collector())
	if got, want := series(t, reg)["pyre_connects_refused_total{cause=admission}"], float64(1+outs.Load()); got != want {
		t.Errorf("pyre_connects_refused_total = %v, want %v", got, want)
	}
	if got, want := connects.Load(), int64(len(admitted))+in.Load(); got != want {
		t.Errorf("Connect ran %d times, want %d (once per admitted socket only)", got, want)
	}
	t.Logf("slowest broadcast to %d sockets: %v before the flood, %v during it", len(admitted), before, during)
	if during > time.Second {
		t.Errorf("a broadcast took %v to reach every admitted socket during the flood (%v before)", during, before)
	}

	// The bucket refills: a new client is admitted.
	testutil.Eventually(t, 5*time.Second, func() bool {
		c, _, err := s.dial(t, "vsn=2.0.0", nil)
		if err != nil {
			return false
		}
		c.Join("echo:room", nil)
		return true
	}, "a connect admitted once the bucket refills")
}

// Long-poll: a session's opening poll is admitted like a WebSocket
// upgrade, and answered 503 with Retry-After past the rate, with a body
// phoenix.js takes for a failed attempt; the polls and posts of an open
// session are never refused.
func TestAdmissionLongPoll(t *testing.T) {
	const burst = 3
	var connects atomic.Int64
	s := newLPServer(t, socket.WithAdmission(0.25, burst), countConnects(&connects))
	toks := make([]string, burst)
	for i := range toks {
		toks[i] = openSession(t, s.url, "vsn=2.0.0")
	}
	resp, err := lpHTTP.Get(pollURL(s.url, "vsn=2.0.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	var body lpReply
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	refused(t, resp, "4") // a token comes back every 4s
	if body.Status != http.StatusInternalServerError || body.Token != nil {
		t.Fatalf("refused opening poll answered %+v, want status 500 and no token", body)
	}
	if connects.Load() != burst || s.h.RefusedConnects() != 1 {
		t.Fatalf("Connect ran %d times, %d refused; want %d and 1", connects.Load(), s.h.RefusedConnects(), burst)
	}
	// Far more requests than the bucket holds, on the open sessions.
	for round := range 4 {
		for i, tok := range toks {
			ref := fmt.Sprint(round + 2)
			if round == 0 {
				lpPost(t, s.url, tok, `["1","1","echo:lp","phx_join",{}]`)
				collect(t, s.url, tok, 1)
			}
			if r := lpPost(t, s.url, tok, fmt.Sprintf(`["1","%s","echo:lp","echo",{"i":%d}]`, ref, i)); r.Status != http.StatusOK {
				t.Fatalf("post on session %d: %+v", i, r)
			}
			want := fmt.Sprintf(`["1","%s","echo:lp","phx_reply",{"status":"ok","response":{"i":%d}}]`, ref, i)
			if got := collect(t, s.url, tok, 1); got[0] != want {
				t.Fatalf("session %d got %s, want %s", i, got[0], want)
			}
		}
	}
	if got := s.h.RefusedConnects(); got != 1 {
		t.Fatalf("RefusedConnects = %d after the sessions' polls, want 1", got)
	}
}
