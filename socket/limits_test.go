package socket_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

func TestRateLimit(t *testing.T) {
	// 1 event per second in bursts of 5; 3 refusals in a row close.
	s := newServer(t, socket.WithRateLimit(1, 5, 3))
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	c.Send(`["1","1","echo:r","phx_join",{}]`)
	if got := c.Read(); !strings.Contains(got, `"ok"`) {
		t.Fatalf("join: %s", got)
	}
	// Four more events fit the burst; the fifth and sixth are refused.
	for i := 2; i <= 7; i++ {
		c.Send(fmt.Sprintf(`["1","%d","echo:r","echo",{"n":%d}]`, i, i))
	}
	// Refusals are answered by the reader at once and may overtake the
	// channel's replies: match replies by ref.
	replies := map[string]string{}
	for range 6 {
		got := c.Read()
		var f []json.RawMessage
		if err := json.Unmarshal([]byte(got), &f); err != nil || len(f) != 5 {
			t.Fatalf("bad frame %s", got)
		}
		replies[strings.Trim(string(f[1]), `"`)] = got
	}
	for i := 2; i <= 7; i++ {
		want := `"status":"ok"`
		if i > 5 {
			want = `"reason":"rate limit exceeded"`
		}
		if got := replies[fmt.Sprint(i)]; !strings.Contains(got, want) {
			t.Fatalf("event %d: got %q, want a reply with %s", i, got, want)
		}
	}
	// Two more refusals make four in a row: over the three strikes.
	c.Send(`["1","8","echo:r","echo",{}]`)
	c.Send(`["1","9","echo:r","echo",{}]`)
	if got := c.Read(); !strings.Contains(got, "rate limit exceeded") {
		t.Fatalf("event 8: %s", got)
	}
	if code := c.ReadClose(); code != socket.ClosePolicy {
		t.Fatalf("close code %d, want %d", code, socket.ClosePolicy)
	}
}

func TestTopicTooLong(t *testing.T) {
	s := newServer(t, socket.WithMaxTopicLength(16))
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	long := "echo:" + strings.Repeat("x", 100)
	c.Send(`["1","1","` + long + `","phx_join",{}]`)
	got := c.Read()
	if !strings.Contains(got, `"reason":"topic too long"`) || strings.Contains(got, long) {
		t.Fatalf("reply %s: want topic too long, without echoing the topic", got)
	}
	// The socket carries on.
	c.Send(`["1","2","echo:ok","phx_join",{}]`)
	if got := c.Read(); !strings.Contains(got, `"status":"ok"`) {
		t.Fatalf("join after refusal: %s", got)
	}
}

func TestMaxConnsPerAddr(t *testing.T) {
	s := newServer(t, socket.WithMaxConnsPerAddr(2))
	a := s.mustDial(t, "vsn=2.0.0&token=good")
	s.mustDial(t, "vsn=2.0.0&token=good")
	// The handshake answers 101 before the socket is registered, and the
	// third handshake is checked against the registry.
	testutil.Eventually(t, 5*time.Second, func() bool { return s.h.Len() == 2 }, "%v sockets registered, want 2",
		testutil.Lazy(func() string { return fmt.Sprint(s.h.Len()) }))
	_, resp, err := s.dial(t, "vsn=2.0.0&token=good", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v %v; want HTTP 429", resp, err)
	}
	// Closing one frees its slot.
	a.Close()
	// No signal exists for a socket's end: poll Len.
	testutil.Eventually(t, 5*time.Second, func() bool { return s.h.Len() <= 1 }, "the closed socket to go away")
	s.mustDial(t, "vsn=2.0.0&token=good")
}

func TestLimitOptionsValidate(t *testing.T) {
	for name, opt := range map[string]socket.Option{
		"negative rate":   socket.WithRateLimit(-1, 1, 1),
		"zero burst":      socket.WithRateLimit(10, 0, 1),
		"zero strikes":    socket.WithRateLimit(10, 1, 0),
		"zero topic":      socket.WithMaxTopicLength(0),
		"negative conns":  socket.WithMaxConnsPerAddr(-1),
		"negative per id": socket.WithMaxSocketsPerID(-1),
	} {
		if _, err := socket.New(actors.NewRouter(), opt); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
