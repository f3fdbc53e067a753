package main

import (
	"net/http"
	"testing"

	"github.com/pyrehq/pyre/internal/testutil"
)

// -admit-rate and -admit-burst reach the socket: past the burst a
// connect is answered 503 with Retry-After, while the node stays healthy
// and the sockets it took keep working.
func TestAdmitFlags(t *testing.T) {
	for _, cmd := range []string{"chat", "donations"} {
		t.Run(cmd, func(t *testing.T) {
			c := startCommand(t, cmd, "-admit-rate", "0.2", "-admit-burst", "2")
			ws := c.URL + "socket/websocket?vsn=2.0.0&token=" + c.login(t, "alice")
			first := testutil.Dial(t, ws, "")
			testutil.Dial(t, ws, "")
			_, resp, err := testutil.TryDial(t, ws, "", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
				t.Fatalf("third connect: %v %v, want 503 with Retry-After 5", err, resp)
			}
			res, err := http.Get(c.URL + "healthz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("healthz %d while refusing connects", res.StatusCode)
			}
			first.Send(`[null,"1","phoenix","heartbeat",{}]`)
			if f := first.ReadFrame(); f.Event != "phx_reply" || f.Payload["status"] != "ok" {
				t.Errorf("heartbeat answered %s", f.Text)
			}
		})
	}
}
