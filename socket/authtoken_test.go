package socket_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/socket"
)

// The bearer token phoenix.js 1.8 sends with its authToken option.
const bearer = "SFMyNTY.alice-token_42"

// bearerProtocol is the subprotocol phoenix.js offers for token: btoa of
// the token without its padding.
func bearerProtocol(token string) string {
	return "base64url.bearer.phx." + strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(token)), "=")
}

// authServer serves the echo channels to sockets whose bearer token is
// the one above, and reports what Connect was handed.
type authServer struct {
	h      *socket.Handler
	srv    *httptest.Server
	tokens chan string
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	s := &authServer{tokens: make(chan string, 64)}
	s.h, s.srv = startServer(t, func() actors.Channel { return echo{} }, 10*time.Second, socket.WithDrain(0, 1),
		socket.WithConnect(func(_ context.Context, _ url.Values, info socket.ConnInfo) (actors.Assigns, error) {
			s.tokens <- info.Token
			if info.Token != bearer {
				return nil, errors.New("bad token")
			}
			return actors.Assigns{"user": "alice"}, nil
		}))
	return s
}

// connected returns the token the last Connect was handed.
func (s *authServer) connected(t *testing.T) string {
	t.Helper()
	return testutil.Receive(t, s.tokens, 5*time.Second, "Connect did not run")
}

func TestAuthTokenOverWebSocket(t *testing.T) {
	s := newAuthServer(t)
	wsURL := testutil.WSURL(s.srv.URL, "/socket/websocket")
	dial := func(protocols ...string) (*testutil.WSConn, *http.Response, error) {
		h := http.Header{}
		if len(protocols) > 0 {
			h.Set("Sec-WebSocket-Protocol", strings.Join(protocols, ", "))
		}
		return testutil.TryDial(t, wsURL, "2.0.0", h)
	}

	// As phoenix.js offers it: "phoenix" is selected, the token is
	// Connect's, and the socket works.
	c, resp, err := dial("phoenix", bearerProtocol(bearer))
	if err != nil {
		t.Fatalf("upgrade with the bearer token: %v (%v)", err, resp)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "phoenix" || c.Subprotocol() != "phoenix" {
		t.Errorf("selected subprotocol %q, want phoenix (never the token)", got)
	}
	if got := s.connected(t); got != bearer {
		t.Errorf("Connect got token %q, want %q", got, bearer)
	}
	c.Join("echo:a", nil)

	// The URL alphabet and padding are accepted too.
	url := "base64url.bearer.phx." + base64.URLEncoding.EncodeToString([]byte(bearer))
	if _, resp, err := dial("phoenix", url); err != nil {
		t.Errorf("upgrade with a padded base64url token: %v (%v)", err, resp)
	} else if got := s.connected(t); got != bearer {
		t.Errorf("Connect got token %q, want %q", got, bearer)
	}

	for _, tc := range []struct {
		name      string
		protocols []string
		connects  bool // Connect runs (and refuses)
	}{
		{"forged token", []string{"phoenix", bearerProtocol("SFMyNTY.mallory")}, true},
		{"no token", []string{"phoenix"}, true},
		{"nothing offered", nil, true},
		{"malformed base64", []string{"phoenix", "base64url.bearer.phx.!!not base64!!"}, false},
		{"two tokens", []string{"phoenix", bearerProtocol(bearer), bearerProtocol("x")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := dial(tc.protocols...)
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("upgrade: %v (%v), want 403", err, resp)
			}
			if tc.connects {
				if got := s.connected(t); tc.name == "forged token" && got != "SFMyNTY.mallory" {
					t.Errorf("Connect got token %q", got)
				}
			} else if len(s.tokens) > 0 {
				t.Errorf("Connect ran for a malformed bearer")
			}
		})
	}
}

func TestAuthTokenOverLongPoll(t *testing.T) {
	s := newAuthServer(t)
	base := s.srv.URL + "/socket/longpoll"
	auth := func(tok string) http.Header { return http.Header{"X-Phoenix-Authtoken": {tok}} }

	// The opening poll hands the header's token to Connect.
	r := lpDo(t, http.MethodGet, pollURL(base, "vsn=2.0.0", ""), auth(bearer), "")
	if r.Status != http.StatusGone || r.Token == nil {
		t.Fatalf("open with the token: %+v, want 410 and a session", r)
	}
	if got := s.connected(t); got != bearer {
		t.Fatalf("Connect got token %q, want %q", got, bearer)
	}
	session := *r.Token
	if r := lpDo(t, http.MethodGet, pollURL(base, "vsn=2.0.0", ""), auth("SFMyNTY.mallory"), ""); r.Status != http.StatusForbidden {
		t.Fatalf("open with a forged token: %+v, want 403", r)
	}
	s.connected(t)

	// Every later request of the session is checked: a poll must carry the
	// same token; a post (phoenix.js sends the header on polls only) may
	// omit it, but not carry another.
	join := `["1","1","echo:a","phx_join",{}]`
	ndjson := http.Header{"Content-Type": {"application/x-ndjson"}}
	withAuth := func(h http.Header, tok string) http.Header {
		h = h.Clone()
		h.Set("X-Phoenix-AuthToken", tok)
		return h
	}
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		body   string
		want   int
	}{
		{"poll with another token", "GET", auth("SFMyNTY.mallory"), "", http.StatusForbidden},
		{"poll without the token", "GET", nil, "", http.StatusForbidden},
		{"post with another token", "POST", withAuth(ndjson, "SFMyNTY.mallory"), join, http.StatusForbidden},
		{"post without the token", "POST", ndjson, join, http.StatusOK},
		{"post with the token", "POST", withAuth(ndjson, bearer), `["1","2","echo:a","echo",{}]`, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := lpDo(t, tc.method, pollURL(base, "vsn=2.0.0", session), tc.header, tc.body); r.Status != tc.want {
				t.Fatalf("%+v, want status %d", r, tc.want)
			}
		})
	}
	r = lpDo(t, http.MethodGet, pollURL(base, "vsn=2.0.0", session), auth(bearer), "")
	if r.Status != http.StatusOK || len(r.Messages) != 2 {
		t.Fatalf("poll with the token: %+v, want the two replies", r)
	}
}
