package chat

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

// The histories of the chat's rooms within the node's budget, measured as
// heap growth after a forced GC:
//
//	go test -run '^$' -bench 'HistoryRooms' -benchtime 1x ./examples/chat/
//
// Touched: BENCH_ROOMS distinct rooms (default 100 000), each joined, sent
// one message and left by one socket, then as many again. Flood: one user's sockets (the cap on
// sockets per user raised for the occasion) each filling a room of its own
// with 1 KB messages at the chat's default rate limit for a while.

func BenchmarkHistoryRoomsTouchedOnce(b *testing.B) {
	rooms := envInt(b, "BENCH_ROOMS", 100000)
	for b.Loop() {
		app, url := benchApp(b, socket.WithRateLimit(1e6, 1e6, 1000))
		c := testutil.Dial(b, url, "2.0.0")
		body := strings.Repeat("m", 100) // a 130-byte message with its fields
		// Two passes over distinct rooms: the first fills the budget, the
		// second shows that the heap does not grow past it.
		// The frames are sent by hand (not WSConn.Push, which keeps every
		// topic's join ref) so that the client keeps nothing per room: the
		// heap measured is the server's.
		ref := 0
		pass := func(p int) {
			for i := range rooms {
				topic := fmt.Sprintf("room:touched-%d-%d", p, i)
				join := strconv.Itoa(ref + 1)
				c.SendV2(join, join, topic, "phx_join", map[string]any{})
				c.SendV2(join, strconv.Itoa(ref+2), topic, "new_msg", map[string]any{"body": body})
				leave := strconv.Itoa(ref + 3)
				c.SendV2(join, leave, topic, "phx_leave", map[string]any{})
				ref += 3
				c.ReadUntil("the leave reply", func(f testutil.Frame) bool { return f.Event == "phx_reply" && f.Ref == leave })
			}
		}
		before := heap()
		start := time.Now()
		pass(1)
		elapsed := time.Since(start)
		first := heap()
		if f := os.Getenv("BENCH_HEAPPROFILE"); f != "" {
			out, err := os.Create(f)
			if err != nil {
				b.Fatal(err)
			}
			_ = pprof.WriteHeapProfile(out)
			_ = out.Close()
		}
		pass(2)
		second := heap()
		st := app.pubsub.HistoryStore().(*topics.MemoryHistory).Stats()
		b.ReportMetric(float64(rooms)/elapsed.Seconds(), "rooms/s")
		b.ReportMetric(float64(first-before)/(1<<20), "heap-growth-MiB")
		b.ReportMetric((float64(second)-float64(first))/(1<<20), "second-pass-MiB")
		b.ReportMetric(float64(st.Bytes)/(1<<20), "history-MiB")
		b.ReportMetric(float64(st.Budget)/(1<<20), "budget-MiB")
		b.ReportMetric(float64(st.Topics), "topics-kept")
		b.ReportMetric(float64(st.Dropped[topics.EvictBudget]), "topics-dropped")
		_ = c.Close()
	}
}

func BenchmarkHistoryRoomsFlood(b *testing.B) {
	sockets := envInt(b, "BENCH_SOCKETS", 400)
	hold := time.Duration(envInt(b, "BENCH_SECONDS", 30)) * time.Second
	for b.Loop() {
		app, url := benchApp(b, socket.WithRateLimit(10, 20, 1000))
		body := strings.Repeat("f", 1000)
		before := heap()
		var wg sync.WaitGroup
		var mu sync.Mutex
		sent := 0
		for s := range sockets {
			c := testutil.Dial(b, url, "2.0.0")
			topic := fmt.Sprintf("room:flood-%d", s)
			c.Join(topic, nil)
			wg.Go(func() {
				defer c.Close()
				n := 0
				deadline := time.Now().Add(hold)
				for tick := time.NewTicker(100 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
					c.Push(topic, "new_msg", map[string]any{"body": body})
					n++
				}
				mu.Lock()
				sent += n
				mu.Unlock()
			})
		}
		wg.Wait()
		after := heap()
		st := app.pubsub.HistoryStore().(*topics.MemoryHistory).Stats()
		b.ReportMetric(float64(sent), "messages")
		b.ReportMetric(float64(after-before)/(1<<20), "heap-growth-MiB")
		b.ReportMetric(float64(st.Bytes)/(1<<20), "history-MiB")
		b.ReportMetric(float64(st.Evicted[topics.EvictBudget]), "evicted-budget")
	}
}

// benchApp starts the chat app, as pyre chat runs it, with a token for one
// user, and returns the socket's WebSocket URL with it.
func benchApp(b *testing.B, opts ...socket.Option) (*App, string) {
	b.Helper()
	app, err := New(Config{SocketOptions: opts})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(app)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = app.Shutdown(ctx)
		srv.Close()
	})
	return app, testutil.WSURL(srv.URL, "/socket/websocket") + "?token=" + app.signer.Sign([]byte("flooder"))
}

// envInt reads a positive count from the environment, def when unset.
func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// heap is the live heap after a forced collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
