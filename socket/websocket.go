package socket

import (
	"bufio"
	"net"
	"net/http"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/protocol"
)

// The WebSocket transport: the handshake here, the reader (serveWebSocket,
// wsReader) in conn.go, the writer, which is the socket's Sink, in
// writer.go. Unlike long-poll it stays in this package: its reader hands
// pushes straight to joined channels (see Conn.Handle), which needs the
// Socket actor's internals.

// serveWebSocketHTTP upgrades a PATH/websocket request and starts its
// socket.
func (h *Handler) serveWebSocketHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusBadRequest)
		return
	}
	if h.draining.Load() {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !h.opt.origin.check(r) {
		h.opt.log.Warn().Str("origin", r.Header.Get("Origin")).Msg("origin refused")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if h.addrFull(hostOf(r.RemoteAddr)) {
		h.opt.log.Warn().Str("peer", r.RemoteAddr).Int("limit", h.opt.maxPerAddr).Msg("too many connections from one address")
		http.Error(w, "too many connections", http.StatusTooManyRequests)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "'connection' header must contain 'upgrade'", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	ser, err := protocol.Negotiate(q.Get("vsn"))
	if err != nil {
		h.opt.log.Warn().Str("vsn", q.Get("vsn")).Msg("unsupported serializer version")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	// Connect runs before the upgrade, so that a refusal is an HTTP 403;
	// the socket starts after it, once its writer exists.
	assigns, err := h.opt.connect(r.Context(), q, h.connInfo(r))
	if err != nil {
		h.opt.log.Info().Err(err).Str("peer", r.RemoteAddr).Msg("connection refused")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if assigns == nil {
		assigns = actors.Assigns{}
	}
	id := h.opt.id(assigns)

	hj := &hijacker{ResponseWriter: w}
	ws, err := h.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	h.serveWebSocket(ws, hj.bc, hj.br, ser, assigns, id, r.RemoteAddr)
	// Returning frees net/http's per-request state; the socket lives on in
	// its reader goroutine and actor.
}

// hijacker hands gorilla a batchConn in place of the raw connection, and
// a read buffer of ours, which gorilla adopts (the upgrader's
// ReadBufferSize is 0): the reader can then tell whether gorilla holds
// unread bytes (see wsReader.loop).
type hijacker struct {
	http.ResponseWriter
	bc *batchConn
	br *bufio.Reader // nil if the client sent data before the handshake ended
}

// readBufferSize is the read buffer of every WebSocket connection, held
// for its whole life, idle or not. Client frames are mostly a few hundred
// bytes at most (heartbeats, pushes); a larger one is read straight into
// its message, so a small buffer costs no extra system calls. gorilla
// adopts a hijacked buffer only above 256 bytes.
const readBufferSize = 320

func (hj *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := hj.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	hj.bc = &batchConn{Conn: nc}
	if rw.Reader.Buffered() > 0 {
		return hj.bc, rw, nil // gorilla refuses the connection
	}
	// net/http's 4 KiB reader goes with the request.
	hj.br = bufio.NewReaderSize(hj.bc, readBufferSize)
	return hj.bc, bufio.NewReadWriter(hj.br, rw.Writer), nil
}
