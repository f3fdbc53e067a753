package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Both serving commands answer /metrics in Prometheus's text format with
// the socket handler's series and the Go runtime's and process's.
func TestMetricsEndpoint(t *testing.T) {
	for _, name := range []string{"chat", "donations"} {
		t.Run(name, func(t *testing.T) {
			c := startCommand(t, name)
			res, err := (&http.Client{Timeout: waitFor}).Get(c.URL + "metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("content type %q", ct)
			}
			for _, want := range []string{
				"\npyre_connections{transport=\"websocket\"} 0\n",
				"\n# TYPE pyre_disconnects_total counter\n",
				"\n# TYPE pyre_channel_event_handling_seconds histogram\n",
				"\npyre_longpoll_sessions 0\n",
				"\n# TYPE go_goroutines gauge\n",
				"\n# TYPE process_resident_memory_bytes gauge\n",
			} {
				if !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
				}
			}
			// The app is still served beside it.
			res, err = (&http.Client{Timeout: waitFor}).Get(c.URL + "socket/nothing")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("GET /socket/nothing: %d, want 404 from the socket handler", res.StatusCode)
			}
		})
	}
}
