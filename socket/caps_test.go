package socket_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// capServer is the echo channels behind the caps on live sockets, with
// the handler's log and metrics at hand.
type capServer struct {
	h    *socket.Handler
	base string // the server's URL
	logs *syncBuffer
	reg  *prometheus.Registry
}

func newCapServer(t *testing.T, opts ...socket.Option) *capServer {
	t.Helper()
	logs := &syncBuffer{}
	s := newLPServer(t, append([]socket.Option{socket.WithLogger(zerolog.New(logs))}, opts...)...)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.h.Collector())
	return &capServer{h: s.h, base: s.srv.URL, logs: logs, reg: reg}
}

// refused returns pyre_connects_refused_total's value for cause.
func (s *capServer) refused(t *testing.T, cause string) float64 {
	t.Helper()
	return series(t, s.reg)["pyre_connects_refused_total{cause="+cause+"}"]
}

// logLines returns the log lines whose message is msg, decoded.
func (s *capServer) logLines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// A transport as the cap tests use it: open tries to open a socket of
// user ("" for an anonymous one) and reports whether it opened; if not,
// code is the HTTP status of the refusal, after open has checked that
// phoenix.js would retry it.
type capTransport struct {
	name string
	open func(t *testing.T, base, user string) (ok bool, code int)
}

var capTransports = []capTransport{
	{"websocket", func(t *testing.T, base, user string) (bool, int) {
		t.Helper()
		_, resp, err := testutil.TryDial(t, testutil.WSURL(base, "/socket/websocket?vsn=2.0.0&token=good&user="+user), "", nil)
		if err == nil {
			return true, 0 // closed when the test ends
		}
		if resp == nil {
			t.Fatalf("dial as %q: %v, and no HTTP answer", user, err)
		}
		// phoenix.js sees a failed handshake whatever the status, and
		// reconnects after its backoff.
		return false, resp.StatusCode
	}},
	{"longpoll", func(t *testing.T, base, user string) (bool, int) {
		t.Helper()
		code, r := lpTry(t, http.MethodGet, pollURL(base+"/socket/longpoll", "token=good&vsn=2.0.0&user="+user, ""), nil, "")
		if code == http.StatusOK && r.Status == http.StatusGone && r.Token != nil {
			return true, 0 // lives until its session timeout, or the test's end
		}
		// phoenix.js reads the body only: 500 is the status it retries
		// after its backoff (on 403 it gives up for good).
		if r.Status != http.StatusInternalServerError || r.Token != nil {
			t.Fatalf("refused long-poll open: HTTP %d %+v, want the body status 500 and no session token", code, r)
		}
		return false, code
	}},
}

// One socket id has at most WithMaxSocketsPerID live sockets: the next is
// refused with 429 (over either transport), logged and counted, while
// other ids and anonymous sockets get in; once the id's sockets close it
// may open as many again.
func TestMaxSocketsPerID(t *testing.T) {
	for _, tr := range capTransports {
		t.Run(tr.name, func(t *testing.T) {
			s := newCapServer(t, socket.WithMaxSocketsPerID(2))
			mustOpen := func(user string) {
				t.Helper()
				if ok, code := tr.open(t, s.base, user); !ok {
					t.Fatalf("a socket of %q refused with HTTP %d", user, code)
				}
			}
			mustRefuse := func(user string) {
				t.Helper()
				if ok, code := tr.open(t, s.base, user); ok || code != http.StatusTooManyRequests {
					t.Fatalf("a socket of %q over the cap: opened %v, HTTP %d; want refused with 429", user, ok, code)
				}
			}
			mustOpen("alice")
			mustOpen("alice")
			mustRefuse("alice")
			mustOpen("bob")
			for range 3 {
				mustOpen("") // anonymous: not counted
			}
			if n := s.h.Len(); n != 6 {
				t.Fatalf("%d sockets live, want 6", n)
			}

			if got := s.refused(t, "per_id"); got != 1 {
				t.Errorf(`pyre_connects_refused_total{cause="per_id"} = %v, want 1`, got)
			}
			for _, cause := range []string{"per_address", "admission"} {
				if got := s.refused(t, cause); got != 0 {
					t.Errorf(`pyre_connects_refused_total{cause=%q} = %v, want 0`, cause, got)
				}
			}
			// The line is written before the refusal is answered.
			lines := s.logLines(t, "too many sockets with one socket id")
			if len(lines) != 1 {
				t.Fatalf("%d refusal lines, want 1; log:\n%s", len(lines), s.logs.String())
			}
			if l := lines[0]; l["level"] != "warn" || l["cap"] != "max_sockets_per_id" || l["socket_id"] != "user:alice" || l["limit"] != 2.0 {
				t.Errorf("refusal logged as %v; want warn, cap max_sockets_per_id, socket_id user:alice, limit 2", l)
			}

			// alice's sockets close: her places come back, one each.
			if err := s.h.Broadcast("user:alice", "disconnect", nil); err != nil {
				t.Fatal(err)
			}
			testutil.CountBackTo(t, "live sockets", 4, s.h.Len)
			mustOpen("alice")
			mustOpen("alice")
			mustRefuse("alice")
			if got := s.refused(t, "per_id"); got != 2 {
				t.Errorf(`pyre_connects_refused_total{cause="per_id"} = %v after the second refusal, want 2`, got)
			}
		})
	}
}

// Closing one WebSocket of a full id frees exactly one place.
func TestMaxSocketsPerIDClosingOneFreesOne(t *testing.T) {
	s := newServer(t, socket.WithMaxSocketsPerID(2))
	a := s.mustDial(t, "vsn=2.0.0&token=good&user=alice")
	s.mustDial(t, "vsn=2.0.0&token=good&user=alice")
	if _, resp, err := s.dial(t, "vsn=2.0.0&token=good&user=alice", nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice's third socket: %v %v; want HTTP 429", resp, err)
	}
	a.Close()
	// A socket's end has no signal of its own: poll the registry.
	testutil.CountBackTo(t, "live sockets", 1, s.h.Len)
	s.mustDial(t, "vsn=2.0.0&token=good&user=alice")
	if _, resp, err := s.dial(t, "vsn=2.0.0&token=good&user=alice", nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice's third socket after one closed and one opened: %v %v; want HTTP 429", resp, err)
	}
}

// The two caps are one step: a socket the address cap refuses takes no
// place under its id's cap, and one whose id is full none under its
// address's; each refusal is counted under its own cause.
func TestCapsCountTogether(t *testing.T) {
	for _, tr := range capTransports {
		t.Run(tr.name, func(t *testing.T) {
			s := newCapServer(t, socket.WithMaxConnsPerAddr(3), socket.WithMaxSocketsPerID(2))
			open := func(user string, want int) {
				t.Helper()
				ok, code := tr.open(t, s.base, user)
				if want == 0 && !ok || want != 0 && (ok || code != want) {
					t.Fatalf("a socket of %q: opened %v, HTTP %d; want %d (0: opened)", user, ok, code, want)
				}
			}
			open("alice", 0)
			open("alice", 0)
			open("alice", http.StatusTooManyRequests) // her id is full; the address has room
			open("bob", 0)                            // so the refusal took none of the address's places
			open("bob", http.StatusTooManyRequests)   // now the address is full, and bob has room
			if err := s.h.Broadcast("user:alice", "disconnect", nil); err != nil {
				t.Fatal(err)
			}
			testutil.CountBackTo(t, "live sockets", 1, s.h.Len)
			// bob's refusal took no place under his id: one more fits.
			open("bob", 0)
			open("bob", http.StatusTooManyRequests)
			if a, id := s.refused(t, "per_address"), s.refused(t, "per_id"); a != 1 || id != 2 {
				t.Errorf("refused per address %v, per id %v; want 1 and 2", a, id)
			}
			if n := len(s.logLines(t, "too many connections from one address")); n != 1 {
				t.Errorf("%d per-address refusal lines, want 1", n)
			}
		})
	}
}

// A WebSocket upgrade that fails after its socket was reserved gives its
// place back.
func TestMaxSocketsPerIDFailedUpgradeFreesItsPlace(t *testing.T) {
	s := newServer(t, socket.WithMaxSocketsPerID(1))
	host := strings.TrimPrefix(s.srv.URL, "http://")
	for range 3 {
		// An upgrade request without Sec-WebSocket-Key passes the
		// handler's checks and Connect, and then the handshake fails.
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Write([]byte("GET /socket/websocket?vsn=2.0.0&token=good&user=alice HTTP/1.1\r\nHost: " + host +
			"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("handshake without a key: HTTP %d, want 400", resp.StatusCode)
		}
	}
	if n := s.h.Len(); n != 0 {
		t.Fatalf("%d sockets registered after failed upgrades, want 0", n)
	}
	s.mustDial(t, "vsn=2.0.0&token=good&user=alice")
}

// A long-poll open refused by the cap leaves no session, no socket, no
// actor and no goroutine behind.
func TestMaxSocketsPerIDLongPollRefusalLeavesNothing(t *testing.T) {
	s := newLPServer(t, socket.WithMaxSocketsPerID(1))
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.h.Collector())
	params := "token=good&vsn=2.0.0&user=alice"
	tok := openSession(t, s.url, params)
	lpPost(t, s.url, tok, `["1","1","echo:a","phx_join",{}]`)
	collect(t, s.url, tok, 1)
	actors := s.h.ActorCount()
	before := testutil.Goroutines()

	for range 5 {
		code, r := lpTry(t, http.MethodGet, pollURL(s.url, params, ""), nil, "")
		if code != http.StatusTooManyRequests || r.Status != http.StatusInternalServerError || r.Token != nil {
			t.Fatalf("alice's second session: HTTP %d %+v, want 429 with the body status 500 and no token", code, r)
		}
	}
	got := series(t, reg)
	if got["pyre_longpoll_sessions{}"] != 1 || got["pyre_connections{transport=longpoll}"] != 1 || s.h.Len() != 1 {
		t.Fatalf("after the refusals: %v sessions, %v long-poll sockets, %d registered; want 1 of each",
			got["pyre_longpoll_sessions{}"], got["pyre_connections{transport=longpoll}"], s.h.Len())
	}
	if n := s.h.ActorCount(); n != actors {
		t.Fatalf("%d actors after the refusals, %d before", n, actors)
	}
	// The session that opened still works.
	lpPost(t, s.url, tok, `["1","2","echo:a","echo",{"n":2}]`)
	if m := collect(t, s.url, tok, 1); !strings.Contains(m[0], `"n":2`) {
		t.Fatalf("echo after the refusals: %q", m)
	}
	lpHTTP.CloseIdleConnections()
	before.Wait(t)
}

// 0 turns the cap off.
func TestMaxSocketsPerIDZeroIsNoLimit(t *testing.T) {
	s := newServer(t, socket.WithMaxSocketsPerID(0))
	for range 4 {
		s.mustDial(t, "vsn=2.0.0&token=good&user=alice")
	}
}
