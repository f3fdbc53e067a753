package socket_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// watched is a channel that reports how it ends.
type watched struct{ ends chan error }

func (watched) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (w watched) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	if event == "size" {
		// What arrived: binary or JSON, and how many bytes.
		return actors.Ok(map[string]any{"binary": p.IsBinary(), "len": len(p.Bytes())})
	}
	return echo{}.HandleIn(c, event, p)
}

func (w watched) Terminate(_ *actors.Context, reason error) {
	select {
	case w.ends <- reason:
	default:
	}
}

type lpServer struct {
	h    *socket.Handler
	srv  *httptest.Server
	url  string // PATH/longpoll
	ends chan error
}

func newLPServer(t testing.TB, opts ...socket.Option) *lpServer {
	t.Helper()
	ends := make(chan error, 64)
	h, srv := startServer(t, func() actors.Channel { return watched{ends} }, 10*time.Second,
		append([]socket.Option{socket.WithDrain(0, 1)}, opts...)...)
	return &lpServer{h: h, srv: srv, url: srv.URL + "/socket/longpoll", ends: ends}
}

// lpReply is a long-poll answer body.
type lpReply struct {
	Status   int      `json:"status"`
	Token    *string  `json:"token"`
	Messages []string `json:"messages"`
}

var lpHTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{}}

// lpDo sends a request and decodes the long-poll body; the HTTP status must
// be 200, as phoenix.js reads only the body.
func lpDo(t testing.TB, method, u string, header http.Header, body string) lpReply {
	t.Helper()
	code, r := lpTry(t, method, u, header, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d %+v", method, u, code, r)
	}
	return r
}

// lpTry is lpDo for any HTTP status, which it returns with the body.
func lpTry(t testing.TB, method, u string, header http.Header, body string) (int, lpReply) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := lpHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("%s %s: HTTP %d, content type %q: %s", method, u, resp.StatusCode, ct, data)
	}
	var r lpReply
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("body %q: %v", data, err)
	}
	return resp.StatusCode, r
}

// pollURL is what phoenix.js requests: the connect params, then the
// session token, both named "token".
func pollURL(base, params, tok string) string {
	u := base + "?" + params
	if tok != "" {
		u += "&token=" + url.QueryEscape(tok)
	}
	return u
}

func openSession(t testing.TB, base, params string) string {
	t.Helper()
	r := lpDo(t, http.MethodGet, pollURL(base, params, ""), nil, "")
	if r.Status != http.StatusGone || r.Token == nil || *r.Token == "" || r.Messages == nil || len(r.Messages) != 0 {
		t.Fatalf("open: %+v, want 410 with a token and no messages", r)
	}
	return *r.Token
}

func lpPost(t testing.TB, base, tok string, lines ...string) lpReply {
	t.Helper()
	return lpDo(t, http.MethodPost, pollURL(base, "vsn=2.0.0", tok),
		http.Header{"Content-Type": {"application/x-ndjson"}}, strings.Join(lines, "\n"))
}

// collect polls until it holds n messages; every poll returns as soon as
// something is queued, so this waits for the server, not for a clock.
func collect(t testing.TB, base, tok string, n int) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("collected %d of %d messages: %q", len(got), n, got)
		}
		r := lpDo(t, http.MethodGet, pollURL(base, "token=good&vsn=2.0.0", tok), nil, "")
		switch r.Status {
		case http.StatusOK:
			if r.Token == nil || *r.Token != tok {
				t.Fatalf("poll answered token %v, want the session's", r.Token)
			}
			got = append(got, r.Messages...)
		case http.StatusNoContent:
		default:
			t.Fatalf("poll: %+v after %q", r, got)
		}
	}
	if len(got) != n {
		t.Fatalf("got %d messages, want %d: %q", len(got), n, got)
	}
	return got
}

func awaitEnd(t testing.TB, ends chan error) error {
	t.Helper()
	return testutil.Receive(t, ends, 10*time.Second, "no channel terminated")
}

func TestLongPollStatuses(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollWindow(time.Second))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	parts := strings.Split(tok, ".")
	if len(parts) != 4 {
		t.Fatalf("token %q: want lp1.<node>.<payload>.<mac>", tok)
	}
	sig := []byte(parts[3])
	sig[0] ^= 1
	forged := strings.Join([]string{parts[0], parts[1], parts[2], string(sig)}, ".")
	otherNode := "lp1." + base64.RawURLEncoding.EncodeToString([]byte("elsewhere")) + "." + parts[2] + "." + parts[3]

	tests := []struct {
		name   string
		method string
		url    string
		header http.Header
		want   int
	}{
		{"connect refused", "GET", pollURL(s.url, "token=bad&vsn=2.0.0", ""), nil, 403},
		{"no params", "GET", pollURL(s.url, "vsn=2.0.0", ""), nil, 403},
		{"unsupported vsn", "GET", pollURL(s.url, "token=good&vsn=3.0.0", ""), nil, 403},
		{"foreign origin", "GET", pollURL(s.url, "token=good&vsn=2.0.0", ""), http.Header{"Origin": {"http://evil.example"}}, 403},
		{"altered token poll", "GET", pollURL(s.url, "token=good&vsn=2.0.0", forged), nil, 403},
		{"altered token post", "POST", pollURL(s.url, "vsn=2.0.0", forged), nil, 403},
		{"token in header", "POST", pollURL(s.url, "vsn=2.0.0", ""), http.Header{"X-Phoenix-Longpoll-Token": {forged}}, 403},
		{"post without session", "POST", pollURL(s.url, "token=good&vsn=2.0.0", ""), nil, 410},
		{"another node's session, no relay", "GET", pollURL(s.url, "token=good&vsn=2.0.0", otherNode), nil, 410},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := lpDo(t, tt.method, tt.url, tt.header, ""); r.Status != tt.want {
				t.Fatalf("status %d, want %d (%+v)", r.Status, tt.want, r)
			}
		})
	}

	// The forged tokens did not disturb the real session.
	lpPost(t, s.url, tok, `[null,"9","phoenix","heartbeat",{}]`)
	if got := collect(t, s.url, tok, 1); got[0] != `[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]` {
		t.Fatalf("heartbeat reply %q", got[0])
	}

	t.Run("other methods", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, s.url, nil)
		resp, err := lpHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("PUT = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("preflight", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, s.url, nil)
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := lpHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Headers") != "content-type" ||
			h.Get("Access-Control-Allow-Methods") != "get, post, options" {
			t.Fatalf("preflight: %d %v", resp.StatusCode, h)
		}
	})
	t.Run("headers", func(t *testing.T) {
		resp, err := lpHTTP.Get(pollURL(s.url, "token=bad", ""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("headers %v", resp.Header)
		}
	})
}

func TestLongPollDisabled(t *testing.T) {
	s := newLPServer(t, socket.WithoutLongPoll())
	resp, err := lpHTTP.Get(pollURL(s.url, "token=good&vsn=2.0.0", ""))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("disabled long-poll = %d, want 404", resp.StatusCode)
	}
}

func TestLongPollJoinPushReplyBroadcast(t *testing.T) {
	s := newLPServer(t)
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	// One batch, as phoenix.js coalesces the sends of one tick.
	if r := lpPost(t, s.url, tok,
		`["1","1","echo:1","phx_join",{}]`,
		`["1","2","echo:1","echo",{"a":"line\nbreak \"quoted\""}]`,
		`["1","3","echo:1","push",{"b":2}]`,
	); r.Status != http.StatusOK {
		t.Fatalf("post: %+v", r)
	}
	got := collect(t, s.url, tok, 3)
	want := []string{
		`["1","1","echo:1","phx_reply",{"status":"ok","response":{}}]`,
		`["1","2","echo:1","phx_reply",{"status":"ok","response":{"a":"line\nbreak \"quoted\""}}]`,
		`["1",null,"echo:1","pushed",{"b":2}]`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d = %s, want %s", i, got[i], want[i])
		}
	}
	if err := s.h.Broadcast("echo:1", "news", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s.url, tok, 1); got[0] != `[null,null,"echo:1","news",{"n":1}]` {
		t.Fatalf("broadcast = %s", got[0])
	}
}

func TestLongPollV1(t *testing.T) {
	s := newLPServer(t)
	tok := openSession(t, s.url, "token=good&vsn=1.0.0")
	// V1 clients post one JSON object per request, without ndjson.
	for _, frame := range []string{
		`{"topic":"echo:1","event":"phx_join","payload":{},"ref":"1"}`,
		`{"topic":"echo:1","event":"echo","payload":{"a":1},"ref":"2"}`,
	} {
		r := lpDo(t, http.MethodPost, pollURL(s.url, "vsn=1.0.0", tok), http.Header{"Content-Type": {"application/json"}}, frame)
		if r.Status != http.StatusOK {
			t.Fatalf("post: %+v", r)
		}
	}
	got := collect(t, s.url, tok, 2)
	if want := `{"topic":"echo:1","event":"phx_reply","payload":{"status":"ok","response":{"a":1}},"ref":"2"}`; got[1] != want {
		t.Fatalf("V1 reply = %s, want %s", got[1], want)
	}
}

func TestLongPollBatches(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollWindow(100*time.Millisecond))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	lines := []string{`["1","1","echo:1","phx_join",{}]`}
	for i := 2; i <= 99; i++ {
		lines = append(lines, fmt.Sprintf(`["1","%d","echo:1","echo",{"i":%d}]`, i, i))
	}
	// 100 lines, the most phoenix.js sends at once. CRLF line ends, a
	// trailing newline and a malformed line are all tolerated; the
	// malformed line is dropped.
	body := strings.Join(lines[:50], "\r\n") + "\nnot base64!\n" + strings.Join(lines[50:], "\n") + "\n"
	r := lpDo(t, http.MethodPost, pollURL(s.url, "vsn=2.0.0", tok), http.Header{"Content-Type": {"application/x-ndjson"}}, body)
	if r.Status != http.StatusOK {
		t.Fatalf("post: %+v", r)
	}
	got := collect(t, s.url, tok, 99)
	for i := 2; i <= 99; i++ {
		want := fmt.Sprintf(`["1","%d","echo:1","phx_reply",{"status":"ok","response":{"i":%d}}]`, i, i)
		if got[i-1] != want {
			t.Fatalf("reply %d = %s, want %s", i, got[i-1], want)
		}
	}

	// More lines than phoenix.js ever sends: refused whole, nothing handled.
	lines = lines[:0]
	for i := range 101 {
		lines = append(lines, fmt.Sprintf(`["1","x%d","echo:1","echo",{}]`, i))
	}
	if r := lpPost(t, s.url, tok, lines...); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("101 lines: %+v, want 413", r)
	}
	// Nothing was queued: the poll runs out its (short) window.
	if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, ""); r.Status != http.StatusNoContent ||
		r.Token == nil || *r.Token != tok || r.Messages == nil || len(r.Messages) != 0 {
		t.Fatalf("empty poll: %+v, want 204 with the token and no messages", r)
	}
}

func TestLongPollBodyTooLarge(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollMaxBody(4096), socket.WithMaxFrameSize(1024))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	big := `["1","1","echo:1","phx_join",{"pad":"` + strings.Repeat("x", 8192) + `"}]`
	if r := lpPost(t, s.url, tok, big); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %+v, want 413", r)
	}
	frame := `["1","1","echo:1","phx_join",{"pad":"` + strings.Repeat("x", 2000) + `"}]`
	if r := lpPost(t, s.url, tok, frame); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized frame: %+v, want 413", r)
	}
	// The session is still usable.
	lpPost(t, s.url, tok, `["1","1","echo:1","phx_join",{}]`)
	collect(t, s.url, tok, 1)
}

func TestLongPollBinary(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollWindow(200*time.Millisecond))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	lpPost(t, s.url, tok, `["1","1","echo:b","phx_join",{}]`)
	collect(t, s.url, tok, 1)
	// A binary push as phoenix.js posts it: the V2 binary frame in base64.
	frame := append([]byte{0, 1, 1, 6, 4}, "12echo:bsize"...)
	frame = append(frame, 1, 2, 3, 4, 5)
	lpPost(t, s.url, tok, base64.StdEncoding.EncodeToString(frame))
	if got := collect(t, s.url, tok, 1); got[0] != `["1","2","echo:b","phx_reply",{"status":"ok","response":{"binary":true,"len":5}}]` {
		t.Fatalf("binary push reached the channel as %s", got[0])
	}
	// A binary reply cannot travel back over long-poll: it is dropped, and
	// the session carries on.
	frame = append([]byte{0, 1, 1, 6, 4}, "13echo:becho"...)
	frame = append(frame, 9, 9)
	lpPost(t, s.url, tok, base64.StdEncoding.EncodeToString(frame))
	if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, ""); r.Status != http.StatusNoContent {
		t.Fatalf("after a binary reply: %+v, want 204", r)
	}
	lpPost(t, s.url, tok, `["1","4","echo:b","echo",{"ok":true}]`)
	if got := collect(t, s.url, tok, 1); got[0] != `["1","4","echo:b","phx_reply",{"status":"ok","response":{"ok":true}}]` {
		t.Fatalf("after a dropped binary reply: %s", got[0])
	}
}

// TestLongPollWakeAndTakeover: a waiting poll answers as soon as a frame
// is queued, and a second poll on the session answers the first at once.
func TestLongPollWakeAndTakeover(t *testing.T) {
	const window = 8 * time.Second
	s := newLPServer(t, socket.WithLongPollWindow(window))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	lpPost(t, s.url, tok, `["1","1","echo:1","phx_join",{}]`)
	collect(t, s.url, tok, 1)

	start := time.Now()
	replies := make(chan lpReply, 2)
	for range 2 {
		go func() { replies <- lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, "") }()
	}
	first := <-replies
	if first.Status != http.StatusNoContent || time.Since(start) > window/2 {
		t.Fatalf("displaced poll: %+v after %v, want 204 at once", first, time.Since(start))
	}
	if err := s.h.Broadcast("echo:1", "news", map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	second := <-replies
	if second.Status != http.StatusOK || len(second.Messages) != 1 || second.Messages[0] != `[null,null,"echo:1","news",{"n":2}]` {
		t.Fatalf("waiting poll: %+v", second)
	}
	if time.Since(start) > window/2 {
		t.Fatalf("the waiting poll took %v; it should wake on the broadcast", time.Since(start))
	}
}

func TestLongPollSessionExpires(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollSessionTimeout(150*time.Millisecond), socket.WithLongPollWindow(100*time.Millisecond))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	lpPost(t, s.url, tok, `["1","1","echo:1","phx_join",{}]`)
	collect(t, s.url, tok, 1)
	// Polls that outlast the timeout keep the session alive.
	for range 3 {
		if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, ""); r.Status != http.StatusNoContent {
			t.Fatalf("poll: %+v", r)
		}
	}
	select {
	case err := <-s.ends:
		t.Fatalf("channel ended while polled: %v", err)
	default:
	}
	// Then nobody polls.
	if err := awaitEnd(t, s.ends); !errors.Is(err, actors.ErrClosed) {
		t.Fatalf("Terminate reason %v, want ErrClosed", err)
	}
	if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, ""); r.Status != http.StatusGone || r.Token != nil {
		t.Fatalf("poll after expiry: %+v, want 410 without a token", r)
	}
	if r := lpPost(t, s.url, tok, `["1","2","echo:1","echo",{}]`); r.Status != http.StatusGone {
		t.Fatalf("post after expiry: %+v, want 410", r)
	}
}

func TestLongPollSlowConsumer(t *testing.T) {
	s := newLPServer(t, socket.WithMaxQueueBytes(64<<10))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0")
	lpPost(t, s.url, tok, `["1","1","echo:f","phx_join",{}]`)
	collect(t, s.url, tok, 1)
	// Far more than the queue holds, and nobody polls meanwhile.
	lpPost(t, s.url, tok, `["1","2","echo:f","flood",{}]`)
	if err := awaitEnd(t, s.ends); !errors.Is(err, actors.ErrClosed) {
		t.Fatalf("Terminate reason %v, want ErrClosed", err)
	}
	if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, ""); r.Status != http.StatusGone {
		t.Fatalf("poll after overflow: %+v, want 410", r)
	}
}

func TestLongPollDisconnect(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollWindow(8*time.Second))
	tok := openSession(t, s.url, "token=good&vsn=2.0.0&user=alice")
	lpPost(t, s.url, tok, `["1","1","echo:1","phx_join",{}]`)
	collect(t, s.url, tok, 1)
	polled := make(chan lpReply, 1)
	go func() { polled <- lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, "") }()
	if err := s.h.Broadcast("user:alice", "disconnect", nil); err != nil {
		t.Fatal(err)
	}
	if err := awaitEnd(t, s.ends); !errors.Is(err, actors.ErrDisconnected) {
		t.Fatalf("Terminate reason %v, want ErrDisconnected", err)
	}
	if r := <-polled; r.Status != http.StatusGone {
		t.Fatalf("waiting poll: %+v, want 410", r)
	}
}

func TestLongPollMaxSessions(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollMaxSessions(2))
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.h.Collector())
	openSession(t, s.url, "token=good&vsn=2.0.0")
	openSession(t, s.url, "token=good&vsn=2.0.0")
	if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", ""), nil, ""); r.Status != http.StatusInternalServerError {
		t.Fatalf("third session: %+v, want 500", r)
	}
	got := series(t, reg)
	if n := got["pyre_connects_refused_total{cause=longpoll_sessions}"]; n != 1 {
		t.Errorf(`pyre_connects_refused_total{cause="longpoll_sessions"} = %v, want 1`, n)
	}
	if n := got["pyre_connects_refused_total{cause=longpoll_per_id}"]; n != 0 {
		t.Errorf(`pyre_connects_refused_total{cause="longpoll_per_id"} = %v, want 0`, n)
	}
}

// TestLongPollDrain: Shutdown closes long-poll sessions like any socket,
// answers waiting polls at once, and leaves no goroutine behind.
func TestLongPollDrain(t *testing.T) {
	before := testutil.Goroutines()
	const window = 8 * time.Second
	s := newLPServer(t, socket.WithLongPollWindow(window))
	const n = 5
	toks := make([]string, n)
	for i := range toks {
		toks[i] = openSession(t, s.url, "token=good&vsn=2.0.0")
		lpPost(t, s.url, toks[i], `["1","1","echo:1","phx_join",{}]`)
		collect(t, s.url, toks[i], 1)
	}
	start := time.Now()
	var wg sync.WaitGroup
	replies := make(chan lpReply, n)
	for _, tok := range toks {
		wg.Go(func() { replies <- lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", tok), nil, "") })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(replies)
	for r := range replies {
		if r.Status != http.StatusGone {
			t.Fatalf("poll during drain: %+v, want 410", r)
		}
	}
	if took := time.Since(start); took > window/2 {
		t.Fatalf("polls returned after %v", took)
	}
	for range n {
		if err := awaitEnd(t, s.ends); !errors.Is(err, actors.ErrShutdown) {
			t.Fatalf("Terminate reason %v, want ErrShutdown", err)
		}
	}
	if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", ""), nil, ""); r.Status != http.StatusInternalServerError {
		t.Fatalf("new session after shutdown: %+v, want 500", r)
	}
	if r := lpDo(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0", toks[0]), nil, ""); r.Status != http.StatusGone {
		t.Fatalf("old session after shutdown: %+v, want 410", r)
	}
	lpHTTP.CloseIdleConnections()
	s.srv.CloseClientConnections()
	s.srv.Close()
	before.Wait(t)
}

// TestLongPollRelay: behind a plain load balancer each request of a session
// may reach either node; the node that does not own it relays it over NATS.
func TestLongPollRelay(t *testing.T) {
	before := testutil.Goroutines()
	a, err := cluster.Start(cluster.Config{NATS: cluster.Embedded, Listen: "127.0.0.1:0", Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cluster.Start(cluster.Config{NATS: a.ServerURL(), Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	node := func(n *cluster.Node) *lpServer {
		return newLPServer(t, socket.WithPubSub(n.PubSub()), socket.WithNode(n.Name()),
			socket.WithLongPollWindow(3*time.Second),
			socket.WithLongPollRelay(n.Conn(), n.Name(), n.Prefix()))
	}
	sa, sb := node(a), node(b)
	urls := []string{sa.url, sb.url}

	tok := openSession(t, sa.url, "token=good&vsn=2.0.0&user=u1")
	// Alternate nodes: post to B, poll A, post to A, poll B, ...
	for i := range 6 {
		post, poll := urls[(i+1)%2], urls[i%2]
		var line, want string
		if i == 0 {
			line = `["1","1","echo:r","phx_join",{}]`
			want = `["1","1","echo:r","phx_reply",{"status":"ok","response":{}}]`
		} else {
			line = fmt.Sprintf(`["1","%d","echo:r","echo",{"i":%d}]`, i+1, i)
			want = fmt.Sprintf(`["1","%d","echo:r","phx_reply",{"status":"ok","response":{"i":%d}}]`, i+1, i)
		}
		if r := lpPost(t, post, tok, line); r.Status != http.StatusOK {
			t.Fatalf("post %d via %s: %+v", i, post, r)
		}
		if got := collect(t, poll, tok, 1); got[0] != want {
			t.Fatalf("poll %d via %s: %s, want %s", i, poll, got[0], want)
		}
	}
	// A broadcast on node B reaches the session on A, polled through B.
	if err := sb.h.Broadcast("echo:r", "news", map[string]string{"from": "b"}); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, sb.url, tok, 1); got[0] != `[null,null,"echo:r","news",{"from":"b"}]` {
		t.Fatalf("broadcast via B: %s", got[0])
	}
	// The owner verifies relayed tokens too.
	parts := strings.Split(tok, ".")
	sig := []byte(parts[3])
	sig[1] ^= 1
	forged := strings.Join([]string{parts[0], parts[1], parts[2], string(sig)}, ".")
	if r := lpDo(t, http.MethodGet, pollURL(sb.url, "token=good&vsn=2.0.0", forged), nil, ""); r.Status != http.StatusForbidden {
		t.Fatalf("forged token via B: %+v, want 403", r)
	}
	// The client's auth token travels with a relayed request, and the
	// owner holds it to the session's.
	authed := *lpDo(t, http.MethodGet, pollURL(sa.url, "token=good&vsn=2.0.0", ""),
		http.Header{"X-Phoenix-Authtoken": {"t1"}}, "").Token
	if r := lpDo(t, http.MethodGet, pollURL(sb.url, "vsn=2.0.0", authed), http.Header{"X-Phoenix-Authtoken": {"t2"}}, ""); r.Status != http.StatusForbidden {
		t.Fatalf("relayed poll with another auth token: %+v, want 403", r)
	}
	if r := lpPost(t, sb.url, authed, `[null,"1","phoenix","heartbeat",{}]`); r.Status != http.StatusOK {
		t.Fatalf("relayed post without the auth token: %+v, want 200", r)
	}
	if r := lpDo(t, http.MethodGet, pollURL(sb.url, "vsn=2.0.0", authed), http.Header{"X-Phoenix-Authtoken": {"t1"}}, ""); r.Status != http.StatusOK || len(r.Messages) != 1 {
		t.Fatalf("relayed poll with the auth token: %+v, want the heartbeat's reply", r)
	}
	// A poll waiting through B is answered when A shuts down, and once A
	// has no session left, B answers 410 for it.
	polled := make(chan lpReply, 1)
	go func() { polled <- lpDo(t, http.MethodGet, pollURL(sb.url, "token=good&vsn=2.0.0", tok), nil, "") }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sa.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-polled; r.Status != http.StatusGone {
		t.Fatalf("relayed poll during A's shutdown: %+v", r)
	}
	if r := lpDo(t, http.MethodGet, pollURL(sb.url, "token=good&vsn=2.0.0", tok), nil, ""); r.Status != http.StatusGone {
		t.Fatalf("poll via B after A stopped: %+v, want 410", r)
	}
	if err := awaitEnd(t, sa.ends); !errors.Is(err, actors.ErrShutdown) {
		t.Fatalf("Terminate reason %v, want ErrShutdown", err)
	}

	_ = sb.h.Shutdown(ctx)
	lpHTTP.CloseIdleConnections()
	for _, s := range []*lpServer{sa, sb} {
		s.srv.CloseClientConnections()
		s.srv.Close()
	}
	_ = b.Close()
	_ = a.Close()
	before.Wait(t)
}

// Long-poll answers a browser's cross-origin request with its Origin only
// when the origin policy lets that origin in, and says that the answer
// varies by Origin; a refused or absent Origin gets no CORS header.
func TestLongPollCORS(t *testing.T) {
	same := newLPServer(t)
	listed := newLPServer(t, socket.WithOrigins("//*.example.com"))
	anyOrigin := newLPServer(t, socket.WithoutOriginCheck())
	sameOrigin := same.srv.URL // the default policy wants the request's host
	for _, tc := range []struct {
		name   string
		s      *lpServer
		method string
		origin string
		allow  string // the wanted Access-Control-Allow-Origin; "" for none
	}{
		{"same host", same, "GET", sameOrigin, sameOrigin},
		{"same host, preflight", same, "OPTIONS", sameOrigin, sameOrigin},
		{"foreign origin", same, "GET", "http://evil.example", ""},
		{"foreign origin, preflight", same, "OPTIONS", "http://evil.example", ""},
		{"foreign origin, post", same, "POST", "http://evil.example", ""},
		{"no origin", same, "GET", "", ""},
		{"listed", listed, "GET", "https://chat.example.com", "https://chat.example.com"},
		{"listed, preflight", listed, "OPTIONS", "https://chat.example.com", "https://chat.example.com"},
		{"not listed", listed, "GET", "https://example.org", ""},
		{"any origin", anyOrigin, "GET", "https://anywhere.example", "https://anywhere.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, pollURL(tc.s.url, "token=good&vsn=2.0.0", ""), nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			req.Header.Set("Access-Control-Request-Headers", "content-type, x-phoenix-authtoken")
			resp, err := lpHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if got := h.Values("Access-Control-Allow-Origin"); tc.allow == "" && len(got) != 0 ||
				tc.allow != "" && (len(got) != 1 || got[0] != tc.allow) {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.allow)
			}
			if !slices.Contains(h.Values("Vary"), "Origin") {
				t.Errorf("Vary %q, want Origin", h.Values("Vary"))
			}
			if tc.method == "OPTIONS" {
				allowHeaders := h.Get("Access-Control-Allow-Headers")
				if tc.allow != "" && allowHeaders != "content-type, x-phoenix-authtoken" || tc.allow == "" && allowHeaders != "" {
					t.Errorf("preflight: status %d, Access-Control-Allow-Headers %q", resp.StatusCode, allowHeaders)
				}
			}
		})
	}
}

// One socket id opens at most so many long-poll sessions (one login token
// looping could hold thousands until they time out); other ids and
// anonymous sockets are not held back, and a closed session frees its
// place.
func TestLongPollMaxSessionsPerID(t *testing.T) {
	s := newLPServer(t, socket.WithLongPollMaxSessionsPerID(2))
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.h.Collector())
	openSession(t, s.url, "token=good&vsn=2.0.0&user=alice")
	openSession(t, s.url, "token=good&vsn=2.0.0&user=alice")
	if code, r := lpTry(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0&user=alice", ""), nil, ""); code != http.StatusTooManyRequests || r.Status != http.StatusInternalServerError {
		t.Fatalf("alice's third session: HTTP %d %+v, want 429 with status 500", code, r)
	}
	if n := series(t, reg)["pyre_connects_refused_total{cause=longpoll_per_id}"]; n != 1 {
		t.Errorf(`pyre_connects_refused_total{cause="longpoll_per_id"} = %v, want 1`, n)
	}
	openSession(t, s.url, "token=good&vsn=2.0.0&user=bob")
	for range 3 {
		openSession(t, s.url, "token=good&vsn=2.0.0")
	}
	// The refused session's socket closes on its own time.
	testutil.Eventually(t, 5*time.Second, func() bool { return s.h.Len() == 6 },
		"6 sockets open (the refused one closed)")

	// alice's sockets are disconnected; she may open sessions again.
	if err := s.h.Broadcast("user:alice", "disconnect", nil); err != nil {
		t.Fatal(err)
	}
	testutil.CountBackTo(t, "open sockets", 4, s.h.Len)
	openSession(t, s.url, "token=good&vsn=2.0.0&user=alice")
}

// Without options, a socket id still has a limit (16 sessions).
func TestLongPollSessionLimitsByDefault(t *testing.T) {
	s := newLPServer(t)
	for range 16 {
		openSession(t, s.url, "token=good&vsn=2.0.0&user=alice")
	}
	if code, r := lpTry(t, http.MethodGet, pollURL(s.url, "token=good&vsn=2.0.0&user=alice", ""), nil, ""); code != http.StatusTooManyRequests || r.Status != http.StatusInternalServerError {
		t.Fatalf("alice's 17th session: HTTP %d %+v, want 429 with status 500", code, r)
	}
}
