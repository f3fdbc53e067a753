package testutil

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

// fakeTB records what a helper reports instead of failing the real test.
// Fatal ends the helper's goroutine as the real one would.
type fakeTB struct {
	testing.TB // the real test, for TempDir and anything not overridden

	mu       sync.Mutex
	msgs     []string
	fatal    bool
	cleanups []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) record(fatal bool, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, msg)
	f.fatal = f.fatal || fatal
}

func (f *fakeTB) Error(args ...any)                 { f.record(false, fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(format string, args ...any) { f.record(false, fmt.Sprintf(format, args...)) }
func (f *fakeTB) Fatal(args ...any)                 { f.record(true, fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.record(true, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// run calls fn with a fresh fakeTB on a goroutine of its own, then, on
// the same goroutine as testing does, the clean-ups fn registered, last
// first, and returns the fakeTB.
func run(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.runCleanups()
		fn(f)
	}()
	<-done
	return f
}

// runCleanups runs the clean-ups, going on with the rest when one ends its
// goroutine with Fatal.
func (f *fakeTB) runCleanups() {
	defer func() {
		if len(f.cleanups) > 0 {
			f.runCleanups()
		}
	}()
	for len(f.cleanups) > 0 {
		fn := f.cleanups[len(f.cleanups)-1]
		f.cleanups = f.cleanups[:len(f.cleanups)-1]
		fn()
	}
}

func (f *fakeTB) report() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.msgs, "\n")
}

func (f *fakeTB) failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs) > 0
}

func shortLeakTimeout(t *testing.T) {
	leakTimeout = 100 * time.Millisecond
	t.Cleanup(func() { leakTimeout = LeakTimeout })
}

func TestEventuallyPassesOnceTheConditionHolds(t *testing.T) {
	calls := 0
	f := run(t, func(tb testing.TB) {
		Eventually(tb, 5*time.Second, func() bool { calls++; return calls == 3 }, "the third call")
	})
	if f.failed() || calls != 3 {
		t.Fatalf("failed %v (%s) after %d calls; want a pass on the third", f.failed(), f.report(), calls)
	}
}

func TestEventuallyFailsWithTheStateAtTheEnd(t *testing.T) {
	var calls atomic.Int64
	after := false
	f := run(t, func(tb testing.TB) {
		Eventually(tb, 30*time.Millisecond, func() bool { calls.Add(1); return false },
			"the count to reach %d (it is %v)", 1000, Lazy(func() string { return fmt.Sprint(calls.Load()) }))
		after = true
	})
	want := fmt.Sprintf("timed out after 30ms waiting for the count to reach 1000 (it is %d)", calls.Load())
	if !f.fatal || after || f.report() != want {
		t.Fatalf("fatal %v, went on %v, report %q; want Fatal with %q", f.fatal, after, f.report(), want)
	}
	if calls.Load() < 2 {
		t.Fatalf("the condition was tried %d times in 30ms", calls.Load())
	}
}

func TestReceive(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	var got int
	f := run(t, func(tb testing.TB) { got = Receive(tb, ch, 5*time.Second, "a value") })
	if f.failed() || got != 7 {
		t.Fatalf("failed %v (%s), got %d; want 7", f.failed(), f.report(), got)
	}
	after := false
	f = run(t, func(tb testing.TB) {
		Receive(tb, ch, 20*time.Millisecond, "value %d never came", 8)
		after = true
	})
	if !f.fatal || after || f.report() != "value 8 never came" {
		t.Fatalf("fatal %v, went on %v, report %q; want Fatal with %q", f.fatal, after, f.report(), "value 8 never came")
	}
}

// blockedWorker is the goroutine the leak tests leave behind; its name is
// what the report must show.
func blockedWorker(stop chan struct{}) { <-stop }

func TestCheckGoroutinesReportsTheNewGoroutine(t *testing.T) {
	shortLeakTimeout(t)
	stop := make(chan struct{})
	defer close(stop)
	f := run(t, func(tb testing.TB) {
		CheckGoroutines(tb)
		go blockedWorker(stop)
	})
	r := f.report()
	if f.fatal || !f.failed() || !strings.Contains(r, "testutil.blockedWorker") {
		t.Fatalf("fatal %v, report:\n%s\nwant an Error showing blockedWorker's stack", f.fatal, r)
	}
	if strings.Contains(r, "testing.tRunner") {
		t.Fatalf("the report shows goroutines that were there at the start:\n%s", r)
	}
}

// finishingWorker runs at the baseline and ends during the test, so that
// the count at the end equals the count at the start.
func finishingWorker(stop chan struct{}) { <-stop }

// A goroutine that ends during the test must not hide one that starts: the
// count comes back to the baseline, the leak is still reported.
func TestCheckGoroutinesSeesALeakWhenAnotherEnds(t *testing.T) {
	shortLeakTimeout(t)
	finish := make(chan struct{})
	finished := make(chan struct{})
	go func() { finishingWorker(finish); close(finished) }()
	stop := make(chan struct{})
	defer close(stop)
	var before, after int
	f := run(t, func(tb testing.TB) {
		before = runtime.NumGoroutine()
		CheckGoroutines(tb)
		go blockedWorker(stop)
		close(finish)
		<-finished
		Eventually(tb, 5*time.Second, func() bool { after = runtime.NumGoroutine(); return after <= before },
			"the finishing worker to end")
	})
	if after > before {
		t.Fatalf("%d goroutines at the end, %d at the start: the test does not hide the leak behind the count", after, before)
	}
	if r := f.report(); f.fatal || !strings.Contains(r, "testutil.blockedWorker") || strings.Contains(r, "finishingWorker") {
		t.Fatalf("fatal %v, report:\n%s\nwant an Error showing blockedWorker's stack only", f.fatal, r)
	}
}

func TestCheckGoroutinesRunsAfterLaterCleanups(t *testing.T) {
	shortLeakTimeout(t)
	f := run(t, func(tb testing.TB) {
		CheckGoroutines(tb)
		stop := make(chan struct{})
		go blockedWorker(stop)
		tb.Cleanup(func() { close(stop) })
	})
	if f.failed() {
		t.Fatalf("a goroutine stopped by a later clean-up was reported:\n%s", f.report())
	}
}

func TestBaselineWait(t *testing.T) {
	shortLeakTimeout(t)
	stop := make(chan struct{})
	b := Goroutines()
	go blockedWorker(stop)
	after := false
	f := run(t, func(tb testing.TB) { b.Wait(tb); after = true })
	if r := f.report(); !f.fatal || after || !strings.Contains(r, "testutil.blockedWorker") {
		t.Fatalf("fatal %v, went on %v, report:\n%s\nwant Fatal with blockedWorker's stack", f.fatal, after, r)
	}
	f = run(t, func(tb testing.TB) {
		b.Wait(tb, goleak.IgnoreTopFunction("github.com/pyrehq/pyre/internal/testutil.blockedWorker"))
	})
	if f.failed() {
		t.Fatalf("an ignored goroutine was reported:\n%s", f.report())
	}
	close(stop)
	f = run(t, func(tb testing.TB) { b.Wait(tb) })
	if f.failed() {
		t.Fatalf("after the worker ended:\n%s", f.report())
	}
}

func TestCountChecks(t *testing.T) {
	shortLeakTimeout(t)
	var n atomic.Int64
	count := func() int { return int(n.Load()) }
	n.Store(2)
	f := run(t, func(tb testing.TB) {
		CheckActors(tb, count)
		n.Add(3)
		tb.Cleanup(func() { n.Add(-3) })
	})
	if f.failed() {
		t.Fatalf("the count came back, yet: %s", f.report())
	}
	f = run(t, func(tb testing.TB) {
		CheckActors(tb, count)
		n.Add(1)
	})
	if want := "actors: 3 after 100ms, want at most the 2 at the start"; f.fatal || f.report() != want {
		t.Fatalf("fatal %v, report %q; want an Error %q", f.fatal, f.report(), want)
	}
	f = run(t, func(tb testing.TB) { CountBackTo(tb, "open things", 1, count) })
	if want := "open things: 3 after 100ms, want at most 1"; !f.fatal || f.report() != want {
		t.Fatalf("fatal %v, report %q; want Fatal %q", f.fatal, f.report(), want)
	}
}

// phoenixish is a WebSocket server that answers every V2 frame with an ok
// reply carrying its payload, closes with 4001 on "bye", refuses upgrades
// with ?refuse and records each upgrade's vsn.
func phoenixish(t *testing.T) (*httptest.Server, chan string) {
	vsns := make(chan string, 16)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("refuse") {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		vsns <- r.URL.Query().Get("vsn")
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			var f []json.RawMessage
			if json.Unmarshal(data, &f) != nil || len(f) != 5 {
				continue
			}
			if string(f[3]) == `"bye"` {
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"))
				return
			}
			_ = c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `[%s,%s,%s,"phx_reply",{"status":"ok","response":%s}]`, f[0], f[1], f[2], f[4]))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, vsns
}

func TestWSConn(t *testing.T) {
	srv, vsns := phoenixish(t)
	c := Dial(t, srv.URL+"/socket/websocket?token=x", "2.0.0")
	if v := <-vsns; v != "2.0.0" {
		t.Fatalf("the upgrade carried vsn %q", v)
	}
	reply := c.Join("room:1", nil)
	if reply.JoinRef != "1" || reply.Ref != "1" || reply.Topic != "room:1" || reply.Event != "phx_reply" {
		t.Fatalf("join reply %+v", reply)
	}
	ref := c.Push("room:1", "echo", map[string]int{"n": 7})
	got := c.ReadUntil("the echo", func(f Frame) bool { return f.Ref == ref })
	if got.JoinRef != "1" || got.Ref != "2" || string(got.RawPayload) != `{"status":"ok","response":{"n":7}}` {
		t.Fatalf("echo reply %+v", got)
	}
	c.Push("room:2", "echo", nil) // never joined: null join_ref
	if got, want := c.Read(), `[null,"3","room:2","phx_reply",{"status":"ok","response":null}]`; got != want {
		t.Fatalf("push on an unjoined topic: %s, want %s", got, want)
	}
	c.SendV2("", "", "t", "x", []int{1})
	if f := c.ReadFrame(); f.Ref != "" || f.JoinRef != "" || f.Payload["status"] != "ok" {
		t.Fatalf("null refs: %+v", f)
	}
	c.Send(`[null,null,"t","bye",{}]`)
	if code := c.ReadClose(); code != 4001 {
		t.Fatalf("close code %d, want 4001", code)
	}

	if _, resp, err := TryDial(t, srv.URL+"?refuse", "", nil); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused upgrade: %v, %v; want the 403 and an error", resp, err)
	}
	f := run(t, func(tb testing.TB) { Dial(tb, srv.URL+"?refuse", "") })
	if !f.fatal || !strings.Contains(f.report(), "403") {
		t.Fatalf("Dial of a refused upgrade: fatal %v, %q", f.fatal, f.report())
	}
	f = run(t, func(tb testing.TB) { Dial(tb, "ws://192.0.2.1:4000/socket", "2.0.0") })
	if !f.fatal || !strings.Contains(f.report(), "loopback") {
		t.Fatalf("Dial of a remote host: fatal %v, %q", f.fatal, f.report())
	}
}

func TestReadTimesOut(t *testing.T) {
	srv, _ := phoenixish(t)
	f := run(t, func(tb testing.TB) {
		c := Dial(tb, srv.URL, "")
		c.Timeout = 20 * time.Millisecond
		c.Read()
	})
	if !f.fatal || !strings.Contains(f.report(), "timeout") {
		t.Fatalf("a read with nothing to read: fatal %v, %q", f.fatal, f.report())
	}
}

func TestServeSocket(t *testing.T) {
	var srv *httptest.Server
	f := run(t, func(tb testing.TB) {
		srv = ServeSocket(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(r.URL.Path))
		}))
		resp, err := http.Get(srv.URL + "/socket/longpoll")
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "/socket/longpoll" {
			tb.Fatalf("/socket/longpoll reached the handler as %q", body)
		}
		resp, err = http.Get(srv.URL + "/other")
		if err != nil {
			tb.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			tb.Fatalf("/other: %d, want 404", resp.StatusCode)
		}
	})
	if f.failed() {
		t.Fatal(f.report())
	}
	if _, err := http.Get(srv.URL + "/socket/"); err == nil {
		t.Fatal("the server still answers after the test ended")
	}
}

func TestDecodeFrame(t *testing.T) {
	f, err := DecodeFrame(`["1",null,"room:1","ev",[1,2]]`)
	if err != nil || f.JoinRef != "1" || f.Ref != "" || f.Topic != "room:1" || f.Event != "ev" || f.Payload != nil || string(f.RawPayload) != "[1,2]" {
		t.Fatalf("DecodeFrame = %+v, %v", f, err)
	}
	for _, bad := range []string{`{}`, `[1,2,3]`, `[null,null,5,"e",{}]`, `[null,null,"t",null,{}]`, `[1,null,"t","e",{}]`} {
		if _, err := DecodeFrame(bad); err == nil {
			t.Errorf("DecodeFrame(%s) accepted it", bad)
		}
	}
}

func TestStartNATS(t *testing.T) {
	var url string
	f := run(t, func(tb testing.TB) {
		srv := StartNATS(tb, NATSJetStream())
		url = srv.ClientURL()
		if !strings.HasPrefix(url, "nats://127.0.0.1:") {
			tb.Errorf("client URL %s, want loopback", url)
		}
		nc, err := nats.Connect(url)
		if err != nil {
			tb.Fatal(err)
		}
		defer nc.Close()
		sub, err := nc.SubscribeSync("x")
		if err != nil {
			tb.Fatal(err)
		}
		if err := nc.Publish("x", []byte("hi")); err != nil {
			tb.Fatal(err)
		}
		if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "hi" {
			tb.Errorf("round trip: %v %v", m, err)
		}
		js, err := nc.JetStream()
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := js.AccountInfo(); err != nil {
			tb.Errorf("JetStream: %v", err)
		}
	})
	if f.failed() {
		t.Fatal(f.report())
	}
	if nc, err := nats.Connect(url, nats.Timeout(time.Second)); err == nil {
		nc.Close()
		t.Fatal("the server still accepts connections after the test ended")
	}
}
