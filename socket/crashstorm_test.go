package socket_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

type stormy struct{}

func (stormy) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (stormy) HandleIn(_ *actors.Context, event string, p actors.Payload) actors.Result {
	if event == "crash" {
		panic("crash on request")
	}
	return actors.Ok(p)
}

type stormResult struct {
	requests  int64
	crashes   int64
	latencies []time.Duration
}

// crashStorm runs sockets-1 clients doing request/reply on their own topics
// while one client crashes its channel and rejoins, crashesPerSec times a
// second, for d. It fails the test if any request goes unanswered.
func crashStorm(tb testing.TB, sockets, crashesPerSec int, d time.Duration, minCrashes int64) stormResult {
	tb.Helper()
	r := actors.NewRouter()
	r.MustHandle("storm:*", func() actors.Channel { return stormy{} })
	h, err := socket.New(r, socket.WithDrain(0, 1))
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := testutil.WSURL(srv.URL, "/socket/websocket")
	baseActors := h.ActorCount()

	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		c := testutil.Dial(tb, url, "2.0.0")
		c.Send(fmt.Sprintf(`["1","1","storm:%d","phx_join",{}]`, i))
		if data := c.Read(); !strings.Contains(data, `"ok"`) {
			tb.Fatalf("join %d: %s", i, data)
		}
		// From here on the goroutines below read, each setting its own
		// deadline or none.
		_ = c.SetReadDeadline(time.Time{})
		conns[i] = c.Conn
	}

	var res stormResult
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, sockets)
	for i := 1; i < sockets; i++ {
		wg.Add(1)
		go func(i int, c *websocket.Conn) {
			defer wg.Done()
			var lat []time.Duration
			// Each client sends every 200ms, starting at a random phase.
			time.Sleep(time.Duration(i%200) * time.Millisecond)
			pace := time.NewTicker(200 * time.Millisecond)
			defer pace.Stop()
			for ref := 2; ; ref++ {
				select {
				case <-stop:
					mu.Lock()
					res.latencies = append(res.latencies, lat...)
					mu.Unlock()
					return
				case <-pace.C:
				}
				start := time.Now()
				frame := fmt.Appendf(nil, `["1","%d","storm:%d","ping",{"n":%d}]`, ref, i, ref)
				if err := c.WriteMessage(websocket.TextMessage, frame); err != nil {
					errs <- err
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, data, err := c.ReadMessage()
				want := fmt.Sprintf(`["1","%d","storm:%d","phx_reply",{"status":"ok","response":{"n":%d}}]`, ref, i, ref)
				if err != nil || string(data) != want {
					errs <- fmt.Errorf("client %d: got %s, %v; want %s", i, data, err, want)
					return
				}
				lat = append(lat, time.Since(start))
				atomic.AddInt64(&res.requests, 1)
			}
		}(i, conns[i])
	}

	// The crasher holds ten channels. Every tick it crashes one that is
	// joined; its reader rejoins each channel as soon as phx_error arrives,
	// as phoenix.js would (without the client's backoff).
	crasher := conns[0]
	const crashTopics = 10
	var wmu sync.Mutex // gorilla allows one writer at a time
	write := func(frame []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		if err := crasher.WriteMessage(websocket.TextMessage, frame); err != nil {
			errs <- err
		}
	}
	var joined [crashTopics]atomic.Int64 // current join ref per topic, 0 while crashing
	for k := 1; k < crashTopics; k++ {
		write(fmt.Appendf(nil, `["%d","%d","storm:0-%d","phx_join",{}]`, 1000+k, 1000+k, k))
	}
	joined[0].Store(1)
	var nextRef atomic.Int64
	nextRef.Store(10000)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			_, data, err := crasher.ReadMessage()
			if err != nil {
				return
			}
			var f [5]json.RawMessage
			arr := f[:0]
			if json.Unmarshal(data, &arr) != nil || len(arr) != 5 {
				errs <- fmt.Errorf("crasher got %s", data)
				return
			}
			var jr, topic, event string
			_ = json.Unmarshal(arr[0], &jr)
			_ = json.Unmarshal(arr[2], &topic)
			_ = json.Unmarshal(arr[3], &event)
			k := 0
			_, _ = fmt.Sscanf(topic, "storm:0-%d", &k)
			switch event {
			case "phx_reply":
				if n, err := strconv.ParseInt(jr, 10, 64); err == nil && strings.Contains(string(arr[4]), `"ok"`) {
					joined[k].Store(n)
				}
			case "phx_error":
				atomic.AddInt64(&res.crashes, 1)
				ref := nextRef.Add(1)
				write(fmt.Appendf(nil, `["%d","%d","%s","phx_join",{}]`, ref, ref, topic))
			}
		}
	}()
	// The storm lasts d, and longer if a busy machine has not yet seen
	// minCrashes (bounded by a minute): the test counts crashes, it does not
	// time them.
	tick := time.NewTicker(time.Second / time.Duration(crashesPerSec))
	end := time.After(d)
	hardEnd := time.After(time.Minute)
	ended := false
	next := 0
loop:
	for {
		select {
		case <-end:
			ended = true
		case <-hardEnd:
			break loop
		case <-tick.C:
		}
		if ended && atomic.LoadInt64(&res.crashes) >= minCrashes {
			break loop
		}
		for range crashTopics {
			k := next % crashTopics
			next++
			if jr := joined[k].Swap(0); jr != 0 {
				topic := "storm:0"
				if k > 0 {
					topic = fmt.Sprintf("storm:0-%d", k)
				}
				write(fmt.Appendf(nil, `["%d","%d","%s","crash",{}]`, jr, nextRef.Add(1), topic))
				break
			}
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	for _, c := range conns {
		c.Close()
	}
	<-readerDone
	testutil.Eventually(tb, 10*time.Second, func() bool { return h.Len() == 0 && h.ActorCount() == baseActors },
		"every socket and channel to end: %v", testutil.Lazy(func() string {
			return fmt.Sprintf("%d sockets, %d actors (had %d)", h.Len(), h.ActorCount(), baseActors)
		}))
	if err := h.Shutdown(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return res
}

func percentile(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	return l[int(float64(len(l)-1)*p)]
}

// TestCrashStorm: one client crashes its channel 100 times a second while
// 999 others exchange messages; every message is answered and no goroutine
// or actor is left behind.
func TestCrashStorm(t *testing.T) {
	sockets, d := 1000, 3*time.Second
	if testing.Short() {
		sockets, d = 100, time.Second
	}
	before := testutil.Goroutines()
	minCrashes := int64(d/time.Second) * 30
	res := crashStorm(t, sockets, 100, d, minCrashes)
	if res.requests == 0 || res.crashes < minCrashes {
		t.Fatalf("storm did too little: %d requests, %d crashes", res.requests, res.crashes)
	}
	t.Logf("%d crashes, %d requests answered, p50 %v, p99 %v", res.crashes, res.requests,
		percentile(res.latencies, 0.5), percentile(res.latencies, 0.99))
	before.Wait(t)
}

// BenchmarkCrashStorm reports request latency for 999 clients while a
// neighbour crashes its channel 100 times a second (go test -run=^$
// -bench=CrashStorm ./socket).
func BenchmarkCrashStorm(b *testing.B) {
	for b.Loop() {
		res := crashStorm(b, 1000, 100, 5*time.Second, 0)
		b.ReportMetric(float64(res.requests)/5, "replies/s")
		b.ReportMetric(float64(res.crashes)/5, "crashes/s")
		b.ReportMetric(float64(percentile(res.latencies, 0.5).Microseconds()), "p50-µs")
		b.ReportMetric(float64(percentile(res.latencies, 0.99).Microseconds()), "p99-µs")
	}
}
