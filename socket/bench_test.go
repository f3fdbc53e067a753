package socket_test

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/socket"
)

type benchRoom struct{}

func (benchRoom) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

// BenchmarkBroadcastWebSocket reports the cost of one broadcast to
// subscribers joined over real WebSocket connections, through the
// handler's fan-out, the writers and the kernel, to clients that read and
// discard (go test -run=^$ -bench=BroadcastWebSocket ./socket).
func BenchmarkBroadcastWebSocket(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			r := actors.NewRouter()
			r.MustHandle("room:*", func() actors.Channel { return benchRoom{} })
			h, err := socket.New(r, socket.WithRateLimit(0, 0, 0), socket.WithoutLongPoll())
			if err != nil {
				b.Fatal(err)
			}
			srv := testutil.ServeSocket(b, h)
			b.Cleanup(func() { _ = h.Shutdown(b.Context()) })
			url := testutil.WSURL(srv.URL, "/socket/websocket")
			var received atomic.Int64
			var wg sync.WaitGroup
			for range n {
				c := testutil.Dial(b, url, "2.0.0")
				c.Join("room:bench", nil)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						_, rd, err := c.NextReader()
						if err != nil {
							return
						}
						_, _ = io.Copy(io.Discard, rd)
						received.Add(1)
					}
				}()
			}
			payload := protocol.RawJSON([]byte(`{"body":"a message of a typical size for a chat room"}`))
			// Keep the writers' queues short: every window broadcasts, wait
			// for the clients to have read all but the last window.
			const window = 256
			sent := 0
			catchUp := func(upTo int) {
				for received.Load() < int64(upTo*n) {
					runtime.Gosched()
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = h.Broadcast("room:bench", "bench", payload)
				if sent++; sent%window == 0 {
					catchUp(sent - window)
				}
			}
			catchUp(sent)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent*n), "ns/delivery")
			_ = h.Shutdown(b.Context())
			wg.Wait()
		})
	}
}
