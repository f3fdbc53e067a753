package socket

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/protocol"
)

// The WebSocket transport: the handshake and the reader here, the writer,
// which is the socket's Sink, in writer.go. Unlike long-poll it stays in
// this package: its reader hands pushes straight to joined channels (see
// Conn.Handle and fastPath), which needs the Socket actor's internals.

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
		// Checked again when the socket is reserved; this early look
		// spares a client that is over the cap its Connect.
		h.capRefused(capPerAddr, h.opt.log.Warn().Str("peer", r.RemoteAddr))
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
	info := h.connInfo(r)
	if info.Token, err = bearerToken(r); err != nil {
		h.opt.log.Warn().Err(err).Str("peer", r.RemoteAddr).Msg("connection refused")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	// Admission control comes after the cheap checks, so that a request
	// they refuse spends no token, and before Connect and the upgrade, so
	// that a flood of reconnects costs little.
	if !h.admission.admit(w) {
		return
	}
	// Connect runs before the upgrade, so that a refusal is an HTTP 403;
	// the socket starts after it, once its writer exists.
	assigns, err := h.opt.connect(r.Context(), q, info)
	if err != nil {
		h.opt.log.Info().Err(err).Str("peer", r.RemoteAddr).Msg("connection refused")
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if assigns == nil {
		assigns = actors.Assigns{}
	}
	id := h.opt.id(assigns)
	s, err := h.reserve(ser, kindWebSocket, assigns, id, r.RemoteAddr)
	if _, capped := capOf(err); capped {
		// Logged and counted by reserve. 429, not 503: the client is over
		// its share, the node is fine; phoenix.js retries after its
		// backoff either way (see WithMaxSocketsPerID).
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	if err != nil {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}

	hj := &hijacker{ResponseWriter: w}
	ws, err := h.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		h.abandon(s)
		return // the upgrader has answered
	}
	h.serveWebSocket(ws, hj.bc, hj.br, s)
	// Returning frees net/http's per-request state; the socket lives on in
	// its reader goroutine and actor.
}

// phoenix.js's authToken option offers two subprotocols, "phoenix" and
// bearerPrefix followed by the token in base64 (btoa's alphabet, padding
// cut). The server answers "phoenix" (a browser fails a handshake that
// answers none of the protocols it offered) and never the token.
const (
	phoenixProtocol = "phoenix"
	bearerPrefix    = "base64url.bearer.phx."
)

// errBearer refuses a WebSocket upgrade with a bearer subprotocol that is
// not one token in base64.
var errBearer = errors.New("socket: malformed bearer token subprotocol")

var urlToStd = strings.NewReplacer("-", "+", "_", "/")

// bearerToken returns the token of the request's bearer subprotocol, ""
// if it offers none. Both base64 alphabets are taken, with or without
// padding.
func bearerToken(r *http.Request) (string, error) {
	var token string
	found := false
	for _, p := range websocket.Subprotocols(r) {
		enc, ok := strings.CutPrefix(p, bearerPrefix)
		if !ok {
			continue
		}
		if found {
			return "", errBearer // which one would Connect get?
		}
		raw, err := base64.RawStdEncoding.DecodeString(urlToStd.Replace(strings.TrimRight(enc, "=")))
		if err != nil {
			return "", errBearer
		}
		token, found = string(raw), true
	}
	return token, nil
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
// while it has traffic (a parked connection gives it back to a pool, see
// detachBuffer). Client frames are mostly a few hundred
// bytes at most (heartbeats, pushes); a larger one is read straight into
// its message, so a small buffer costs no extra system calls. gorilla
// adopts a hijacked buffer only above 256 bytes.
const readBufferSize = 320

func (hj *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := hj.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	hj.bc = &batchConn{Conn: nc, rc: rawConnOf(nc)}
	if rw.Reader.Buffered() > 0 {
		return hj.bc, rw, nil // gorilla refuses the connection
	}
	// net/http's 4 KiB reader goes with the request; ours lives in the
	// batchConn, one allocation for the two.
	hj.br = &hj.bc.rbuf
	attachBuffer(hj.br, hj.bc)
	return hj.bc, bufio.NewReadWriter(hj.br, rw.Writer), nil
}

// serveWebSocket runs an upgraded connection: its writer and its reader.
// br is gorilla's read buffer (nil if unknown).
func (h *Handler) serveWebSocket(ws *websocket.Conn, bc *batchConn, br *bufio.Reader, s *socketActor) {
	w := &writer{ws: ws, bc: bc, ser: s.ser, h: h, pooled: bc.rc != nil}
	r := &wsReader{c: Conn{s: s, direct: true}, w: w, epfd: -1}
	r.moves = br == &bc.rbuf && bc.rc != nil
	bc.reader = r // before anything can close the connection
	// The reader is counted while the socket is still registered: Shutdown
	// waits for every socket to go before it waits for the goroutines, so
	// an Add after the socket's end could race its Wait.
	h.wg.Add(1)
	if err := h.startConn(&r.c, w); err != nil {
		h.wg.Done()
		return
	}
	ws.SetReadLimit(h.opt.maxFrame)
	ws.SetPingHandler(r.ping)
	now := time.Now()
	r.now = mono(now)
	r.deadlineSet = r.now
	_ = ws.SetReadDeadline(now.Add(h.opt.idleTimeout))
	go r.loop()
}

// wsReader is a WebSocket connection's only reader: it decodes frames and
// hands them to the socket. One goroutine at a time runs it. Every idle
// connection holds one, so it is kept within 112 bytes: it holds the
// socket's Conn itself, its times are monotonic nanoseconds (mono,
// monoNow), not time.Times, and gorilla's read buffer is found through the
// batchConn.
type wsReader struct {
	c      Conn        // the socket's inbound half, fed by this reader alone (direct)
	w      *writer     // the connection's writer, and its gorilla connection and logger
	waiter *readWaiter // made on first use, where the idle poller is not
	// The idle deadline moves at most every quarter of the idle timeout (a
	// second at most, refreshEvery): every move is a timer update, and a
	// busy connection reads thousands of frames a second.
	deadlineSet int64
	now         int64 // when the last message was read
	renewed     int64 // when the reader last moved to a fresh goroutine; 0: never

	// Parking with the idle poller (idlepoll_linux.go). parked is set by
	// the reader as it parks and cleared by whoever resumes it (the
	// poller, its sweep, the connection's Close); the rest belong to the
	// reader.
	parked atomic.Bool
	epfd   int32  // the epoll instance the reader is registered with; -1: none
	slot   uint32 // the reader's slot in the poller
	gen    uint32 // the slot's generation when the reader took it
	added  bool   // the connection is in the epoll set
	grown  bool   // this goroutine has read a message
	// moves: gorilla reads through the batchConn's rbuf, so the reader
	// can move to a fresh goroutine, giving the buffer back while parked;
	// set before the reader starts.
	moves bool
}

// buf is gorilla's read buffer, if the reader moves.
func (r *wsReader) buf() *bufio.Reader { return &r.w.bc.rbuf }

// refreshEvery is how often a reader moves the read deadline of a
// connection with the given idle timeout.
func refreshEvery(idle time.Duration) time.Duration { return min(time.Second, idle/4) }

// ping answers a client's ping, which counts as traffic.
func (r *wsReader) ping(data string) error {
	ws := r.w.ws
	_ = ws.SetReadDeadline(time.Now().Add(r.c.s.h.opt.idleTimeout))
	return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
}

// renewEvery bounds how often a busy reader moves to a fresh goroutine.
const renewEvery = time.Second

// loop reads until the connection ends. Reading a message takes the
// goroutine's stack to twice the minimum, and the runtime shrinks a stack
// only while less than a quarter of it is in use, which a parked reader
// never is. So a reader with nothing buffered (checked at most once a
// second) parks the connection with the idle poller and ends: an idle
// connection holds no goroutine, and a new one starts, on a minimal stack,
// once the socket is readable. Where the poller cannot be used, the reader
// moves to a fresh goroutine that waits on a minimal stack instead.
func (r *wsReader) loop() {
	for {
		if r.grown && r.moves && r.buf().Buffered() == 0 && (r.renewed == 0 || r.now-r.renewed >= int64(renewEvery)) {
			r.grown, r.renewed = false, r.now
			switch r.park() {
			case parkedAway:
				return // the handler's wait group count passes on
			case parkUnsupported:
				if r.waiter == nil {
					r.waiter = newReadWaiter(r.w.bc.Conn)
				}
				if r.waiter != nil {
					go r.fresh()
					return
				}
			}
		}
		if !r.next() {
			r.unregister()
			r.c.s.h.wg.Done()
			return
		}
		r.grown = true
	}
}

// What came of a park.
const (
	parkedAway      = iota // someone else resumes the reader
	parkResume             // the socket was readable already: read on here
	parkUnsupported        // no idle poller here
)

// park parks the connection with the idle poller. The reader is armed
// first and marked parked second, then the socket is looked at once more:
// bytes that came before the mark, whose event found the reader not yet
// parked, are not left waiting.
func (r *wsReader) park() int {
	deadline := r.deadlineSet + int64(r.c.s.h.opt.idleTimeout)
	d := time.Duration(deadline - monoNow())
	if d <= 0 {
		return parkResume // the read times out at once
	}
	if !r.arm() {
		return parkUnsupported
	}
	r.parkUntil(d)
	detachBuffer(r.buf())
	r.parked.Store(true)
	// From here the reader may be running on another goroutine: only
	// parked is touched.
	if !r.readable() && monoNow() < deadline {
		return parkedAway
	}
	if r.parked.CompareAndSwap(true, false) {
		attachBuffer(r.buf(), r.w.bc)
		return parkResume
	}
	return parkedAway
}

// wake resumes a parked reader on a new goroutine; a no-op if it is not
// parked. Safe from any goroutine.
func (r *wsReader) wake() {
	if r.parked.CompareAndSwap(true, false) {
		go r.resume()
	}
}

// resume reads on after a park, with a read buffer again.
func (r *wsReader) resume() {
	attachBuffer(r.buf(), r.w.bc)
	r.loop()
}

// A parked connection's read buffer goes back to a pool, and the next
// reader takes one from there: gorilla keeps its *bufio.Reader for the
// connection's life, but between messages it holds nothing read from it,
// so the reader can move the Reader's contents, its buffer with them, out
// of that struct and back. bufReaders holds Readers with a buffer,
// bufHolders empty ones to move a buffer into; neither allocates once warm.
var bufReaders, bufHolders sync.Pool // of *bufio.Reader

// detachBuffer moves br's buffer, which holds no unread byte, to the pool
// and leaves br empty.
func detachBuffer(br *bufio.Reader) {
	h, _ := bufHolders.Get().(*bufio.Reader)
	if h == nil {
		h = new(bufio.Reader)
	}
	*h = *br
	*br = bufio.Reader{}
	bufReaders.Put(h)
}

// attachBuffer gives the empty br a buffer, from the pool if it has one,
// reading from bc.
func attachBuffer(br *bufio.Reader, bc *batchConn) {
	h, _ := bufReaders.Get().(*bufio.Reader)
	if h == nil || h.Size() != readBufferSize {
		*br = *bufio.NewReaderSize(bc, readBufferSize)
		return
	}
	*br = *h
	*h = bufio.Reader{}
	bufHolders.Put(h)
	br.Reset(bc)
}

// fresh waits for the socket to become readable, then reads on.
func (r *wsReader) fresh() {
	r.waiter.wait()
	r.loop()
}

// next reads, decodes and hands on one message; false once the reader
// should stop.
func (r *wsReader) next() bool {
	c, h := &r.c, r.c.s.h
	mt, data, err := r.read()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			// The rest of the frame is still coming.
			r.w.lingerOnClose()
		}
		code, text, why := readError(err, r.c.s.logger(), h.opt.maxFrame)
		c.closeFor(why, actors.ErrClosed, code, text)
		return false
	}
	now := time.Now()
	r.now = mono(now)
	if idle := h.opt.idleTimeout; r.now-r.deadlineSet >= int64(refreshEvery(idle)) {
		r.deadlineSet = r.now
		_ = r.w.ws.SetReadDeadline(now.Add(idle))
	}
	msg, err := c.s.ser.Decode(data.Bytes(), mt == websocket.BinaryMessage)
	n := data.Len()
	putReadBuffer(data) // Decode keeps no reference to it
	if err != nil {
		r.c.s.logger().Warn().Err(err).Int("bytes", n).Msg("malformed frame dropped")
		return true
	}
	return c.Handle(msg)
}

// read reads one whole message into a pooled buffer: the reader holds no
// buffer between messages, and a busy one allocates none per message.
func (r *wsReader) read() (int, *bytes.Buffer, error) {
	mt, rd, err := r.w.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	b, _ := readBuffers.Get().(*bytes.Buffer)
	if b == nil {
		b = new(bytes.Buffer)
	}
	if _, err := b.ReadFrom(rd); err != nil {
		putReadBuffer(b)
		return 0, nil, err
	}
	return mt, b, nil
}

var readBuffers sync.Pool // of *bytes.Buffer

func putReadBuffer(b *bytes.Buffer) {
	if b.Cap() > maxKeptBuffer {
		return
	}
	b.Reset()
	readBuffers.Put(b)
}

// readError logs why a read failed and returns the close the server sends
// (code 0: none) and the reason counted.
func readError(err error, log connLog, limit int64) (code int, text string, why closeReason) {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		log.Info().Msg("idle timeout; closing socket")
		return CloseGoingAway, "idle timeout", closedIdle
	case errors.Is(err, websocket.ErrReadLimit):
		log.Warn().Int64("limit", limit).Msg("frame too large; closing socket")
		return 0, "", closedTooBig // gorilla has sent close 1009
	}
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		log.Debug().Err(err).Msg("read failed")
	}
	return 0, "", closedByClient
}
