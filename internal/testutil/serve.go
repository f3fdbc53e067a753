package testutil

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// ServeSocket serves h at /socket/, where phoenix.js clients look for an
// endpoint, on a new test server on 127.0.0.1, and closes the server when
// the test ends. The WebSocket transport is then at
// WSURL(srv.URL, "/socket/websocket") and long-poll at
// srv.URL+"/socket/longpoll". A clean-up the test registers after this
// call, such as the handler's shutdown, runs before the server closes.
func ServeSocket(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	mux := http.NewServeMux()
	mux.Handle("/socket/", h)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv
}
