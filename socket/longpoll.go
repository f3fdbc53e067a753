package socket

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/token"
)

// The long-poll transport speaks Phoenix's protocol, which phoenix.js's
// LongPoll class expects to the letter:
//
//   - every answer is HTTP 200 with a JSON body whose "status" carries the
//     outcome; a poll's body also has the session "token" and "messages",
//     each message one encoded text frame as a JSON string;
//   - GET without a session token opens a session: Connect runs on the
//     query and the answer is status 410 with the new token (410 means
//     "use this token" here; phoenix.js treats it as open);
//   - GET with a token waits up to the window for frames: 200 with them,
//     or 204 with none; 410 once the session is gone, after which
//     phoenix.js reconnects and its channels rejoin;
//   - POST with a token hands the body's messages to the socket: one text
//     frame, or with Content-Type application/x-ndjson one frame a line,
//     a line that does not start with '[' or '{' being a base64 binary
//     frame. The answer is 200; the replies come with the next poll;
//   - 403 refuses (origin, vsn, Connect, a forged or altered token), 500
//     asks phoenix.js to reconnect later (draining, session limit). A GET
//     never answers anything else: phoenix.js throws on other statuses.
//
// A session is the Transport of an ordinary Socket actor, so channels
// cannot tell it from a WebSocket. It holds no goroutine: its frames wait
// in a queue bounded by bytes until a poll takes them, and a timer closes
// it when nobody polls.

const (
	longPollSalt        = "pyre long-poll session"
	longPollTokenPrefix = "lp1."
	longPollTokenHeader = "X-Phoenix-Longpoll-Token"
	maxNodeName         = 255
)

// longPoll is one Handler's long-poll transport: its settings, which
// options write before the Handler exists, and its live sessions.
// defaults makes a fresh one for every Handler.
type longPoll struct {
	// Settings; read-only once the Handler exists.
	disabled    bool
	window      time.Duration
	idle        time.Duration
	maxBody     int64
	maxSessions int
	signer      *token.Signer
	relay       *lpRelay

	once sync.Once
	h    *Handler       // set by start
	node string         // the node named in tokens; set by start
	log  zerolog.Logger // set by start

	mu       sync.Mutex
	sessions map[string]*lpSession // live sessions by id; guarded by mu
	opening  int                   // sessions between reserve and admit; guarded by mu
}

func newLongPoll() *longPoll {
	return &longPoll{
		window:   defaultLongPollWindow,
		idle:     defaultLongPollIdle,
		maxBody:  defaultLongPollMaxBody,
		sessions: map[string]*lpSession{},
	}
}

// start finishes the set-up that needs the Handler; it runs once, on the
// first long-poll request.
func (lp *longPoll) start(h *Handler) {
	lp.once.Do(func() {
		lp.h = h
		lp.node = h.opt.node
		if lp.relay != nil {
			lp.node = lp.relay.node
			lp.relay.lp = lp
		}
		if len(lp.node) > maxNodeName {
			lp.node = lp.node[:maxNodeName] // only tokens carry it
		}
		lp.log = h.opt.log.With().Str("transport", "longpoll").Logger()
		if lp.signer == nil {
			secret := make([]byte, 32)
			_, _ = rand.Read(secret)
			lp.signer, _ = token.NewSigner(secret, longPollSalt, token.WithMaxAge(longPollTokenMaxAge))
		}
	})
}

// serveLongPoll serves PATH/longpoll.
func (h *Handler) serveLongPoll(w http.ResponseWriter, r *http.Request) {
	lp := h.opt.longPoll
	if lp.disabled {
		http.NotFound(w, r)
		return
	}
	lp.start(h)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if !h.opt.origin.check(r) {
		lp.log.Warn().Str("origin", r.Header.Get("Origin")).Msg("origin refused")
		writeLongPoll(w, statusBody(http.StatusForbidden))
		return
	}
	switch r.Method {
	case http.MethodOptions:
		// A CORS preflight; the origin was checked above.
		hd := w.Header()
		hd.Set("Access-Control-Allow-Headers", strings.Join(r.Header.Values("Access-Control-Request-Headers"), ", "))
		hd.Set("Access-Control-Allow-Methods", "get, post, options")
		hd.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		writeLongPoll(w, lp.get(r))
	case http.MethodPost:
		lp.post(w, r)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

func (lp *longPoll) get(r *http.Request) []byte {
	tok := sessionToken(r)
	if tok == "" {
		return lp.open(r)
	}
	node, ok := tokenNode(tok)
	if !ok {
		return statusBody(http.StatusForbidden)
	}
	if node != lp.node {
		return lp.forward(r.Context(), node, http.MethodGet, tok, "", nil)
	}
	return lp.poll(r.Context(), tok, 0)
}

func (lp *longPoll) post(w http.ResponseWriter, r *http.Request) {
	tok := sessionToken(r)
	if tok == "" {
		writeLongPoll(w, statusBody(http.StatusGone))
		return
	}
	node, ok := tokenNode(tok)
	if !ok {
		writeLongPoll(w, statusBody(http.StatusForbidden))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lp.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			lp.log.Warn().Int64("limit", lp.maxBody).Str("peer", r.RemoteAddr).Msg("long-poll body too large")
			writeLongPoll(w, statusBody(http.StatusRequestEntityTooLarge))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ct := r.Header.Get("Content-Type")
	if node != lp.node {
		writeLongPoll(w, lp.forward(r.Context(), node, http.MethodPost, tok, ct, body))
		return
	}
	writeLongPoll(w, lp.publish(tok, ct, body))
}

// open runs Connect on the query and opens a session.
func (lp *longPoll) open(r *http.Request) []byte {
	h := lp.h
	q := r.URL.Query()
	ser, err := protocol.Negotiate(q.Get("vsn"))
	if err != nil {
		lp.log.Warn().Str("vsn", q.Get("vsn")).Msg("unsupported serializer version")
		return statusBody(http.StatusForbidden)
	}
	if h.draining.Load() {
		return statusBody(http.StatusInternalServerError)
	}
	if !lp.reserve() {
		lp.log.Warn().Int("limit", lp.maxSessions).Msg("long-poll session limit reached")
		return statusBody(http.StatusInternalServerError)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	s := &lpSession{
		lp: lp, id: base64.RawURLEncoding.EncodeToString(raw[:]), ser: ser, maxBytes: h.opt.maxQueue,
		log: lp.log.With().Str("peer", r.RemoteAddr).Logger(),
	}
	conn, err := h.Open(r.Context(), s, q, h.connInfo(r))
	if err != nil {
		lp.unreserve()
		if errors.Is(err, ErrRefused) {
			lp.log.Info().Err(err).Str("peer", r.RemoteAddr).Msg("connection refused")
			return statusBody(http.StatusForbidden)
		}
		lp.log.Info().Err(err).Str("peer", r.RemoteAddr).Msg("long-poll session not opened")
		return statusBody(http.StatusInternalServerError)
	}
	if !lp.admit(s, conn) {
		return statusBody(http.StatusInternalServerError) // closed at once (a drain began)
	}
	if lp.relay != nil {
		lp.relay.sync(true)
	}
	s.log.Debug().Str("vsn", ser.Version()).Msg("long-poll session opened")
	return envelope(http.StatusGone, lp.sign(s.id), nil)
}

// reserve counts a session about to open against the limit.
func (lp *longPoll) reserve() bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.maxSessions > 0 && len(lp.sessions)+lp.opening >= lp.maxSessions {
		return false
	}
	lp.opening++
	return true
}

func (lp *longPoll) unreserve() {
	lp.mu.Lock()
	lp.opening--
	lp.mu.Unlock()
}

// admit publishes an opened session, unless it closed in the meantime.
func (lp *longPoll) admit(s *lpSession, conn *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn = conn
	lp.mu.Lock()
	lp.opening--
	if !s.closed {
		lp.sessions[s.id] = s
	}
	lp.mu.Unlock()
	if s.closed {
		return false
	}
	s.lastPoll = time.Now()
	s.idle = time.AfterFunc(lp.idle, s.expire)
	return true
}

// remove forgets a closed session.
func (lp *longPoll) remove(s *lpSession) {
	lp.mu.Lock()
	if lp.sessions[s.id] == s {
		delete(lp.sessions, s.id)
	}
	lp.mu.Unlock()
	if lp.relay != nil {
		lp.relay.sync(false)
	}
}

// count returns the number of live sessions.
func (lp *longPoll) count() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.sessions)
}

// session finds the live session of a token of this node; on failure the
// int is the status to answer.
func (lp *longPoll) session(tok string) (*lpSession, int) {
	id, ok := lp.verify(tok)
	if !ok {
		return nil, http.StatusForbidden
	}
	lp.mu.Lock()
	s := lp.sessions[id]
	lp.mu.Unlock()
	if s == nil {
		return nil, http.StatusGone
	}
	return s, 0
}

// poll waits for the session's frames; budget > 0 caps the size of the
// messages taken (a relayed answer must fit a NATS message).
func (lp *longPoll) poll(ctx context.Context, tok string, budget int) []byte {
	s, status := lp.session(tok)
	if s == nil {
		return statusBody(status)
	}
	status, frames := s.poll(ctx, lp.window, budget)
	if status == http.StatusGone {
		return statusBody(status)
	}
	return envelope(status, tok, frames)
}

// publish hands a POST body's messages to the session's socket.
func (lp *longPoll) publish(tok, contentType string, body []byte) []byte {
	s, status := lp.session(tok)
	if s == nil {
		return statusBody(status)
	}
	if int64(len(body)) > lp.maxBody {
		return statusBody(http.StatusRequestEntityTooLarge)
	}
	msgs, status := decodeLongPoll(s.ser, contentType, body, lp.h.opt.maxFrame, &s.log)
	if status != http.StatusOK {
		s.log.Warn().Int("status", status).Msg("long-poll post refused")
		return statusBody(status)
	}
	return statusBody(s.dispatch(msgs, lp.window))
}

// Session tokens: "lp1." + base64url(node) + "." + a token signed over
// node + "\x00" + session id. The node part is readable without the key,
// so that any node can route a request to the owner, which alone verifies
// the signature.

func (lp *longPoll) sign(id string) string {
	return longPollTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(lp.node)) + "." +
		lp.signer.Sign([]byte(lp.node+"\x00"+id))
}

// verify returns the session id of an authentic token of this node.
func (lp *longPoll) verify(tok string) (string, bool) {
	node, signed, ok := splitToken(tok)
	if !ok || node != lp.node {
		return "", false
	}
	data, err := lp.signer.Verify(signed)
	if err != nil {
		return "", false
	}
	id, ok := bytes.CutPrefix(data, []byte(node+"\x00"))
	if !ok || len(id) == 0 {
		return "", false
	}
	return string(id), true
}

// tokenNode returns the node a session token names, without verifying it.
func tokenNode(tok string) (string, bool) {
	node, _, ok := splitToken(tok)
	return node, ok
}

func splitToken(tok string) (node, signed string, ok bool) {
	rest, ok := strings.CutPrefix(tok, longPollTokenPrefix)
	if !ok {
		return "", "", false
	}
	enc, signed, ok := strings.Cut(rest, ".")
	if !ok || enc == "" || len(enc) > base64.RawURLEncoding.EncodedLen(maxNodeName) {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return string(raw), signed, true
}

// sessionToken returns the request's session token: the header phoenix.js
// may send, else the last "token" query value, as Phoenix reads it. A value
// that is not a session token (the connect parameter phoenix.js also sends
// as "token") means there is no session yet.
func sessionToken(r *http.Request) string {
	tok := r.Header.Get(longPollTokenHeader)
	if tok == "" {
		if v := r.URL.Query()["token"]; len(v) > 0 {
			tok = v[len(v)-1]
		}
	}
	if !strings.HasPrefix(tok, longPollTokenPrefix) {
		return ""
	}
	return tok
}

// decodeLongPoll reads a POST body: one text frame, or with Content-Type
// application/x-ndjson one frame a line, base64 for binary ones. Malformed
// frames are dropped with a warning, as on WebSocket; a frame over
// maxFrame or more than longPollMaxBatch lines refuse the whole body (413).
func decodeLongPoll(ser protocol.Serializer, contentType string, body []byte, maxFrame int64,
	log *zerolog.Logger) ([]protocol.Message, int) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/x-ndjson" {
		if int64(len(body)) > maxFrame {
			return nil, http.StatusRequestEntityTooLarge
		}
		msg, err := ser.Decode(body, false)
		if err != nil {
			log.Warn().Err(err).Int("bytes", len(body)).Msg("malformed frame dropped")
			return nil, http.StatusOK
		}
		return []protocol.Message{msg}, http.StatusOK
	}
	var msgs []protocol.Message
	lines := 0
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if lines++; lines > longPollMaxBatch {
			return nil, http.StatusRequestEntityTooLarge
		}
		binary := line[0] != '[' && line[0] != '{'
		data := line
		if binary {
			if int64(base64.StdEncoding.DecodedLen(len(line))) > maxFrame+2 {
				return nil, http.StatusRequestEntityTooLarge
			}
			data = make([]byte, base64.StdEncoding.DecodedLen(len(line)))
			n, err := base64.StdEncoding.Decode(data, line)
			if err != nil {
				log.Warn().Err(err).Int("bytes", len(line)).Msg("malformed base64 frame dropped")
				continue
			}
			data = data[:n]
		}
		if int64(len(data)) > maxFrame {
			return nil, http.StatusRequestEntityTooLarge
		}
		msg, err := ser.Decode(data, binary)
		if err != nil {
			log.Warn().Err(err).Int("bytes", len(data)).Msg("malformed frame dropped")
			continue
		}
		msgs = append(msgs, msg)
	}
	return msgs, http.StatusOK
}

// Response bodies.

func writeLongPoll(w http.ResponseWriter, body []byte) {
	if body == nil {
		return // the client went away
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store") // the poll URL can be the same for every session
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func statusBody(status int) []byte {
	b := strconv.AppendInt([]byte(`{"status":`), int64(status), 10)
	return append(b, '}')
}

func envelope(status int, tok string, frames []protocol.Frame) []byte {
	n := 48 + len(tok)
	for _, f := range frames {
		n += len(f.Data) + len(f.Data)/8 + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"token":`...)
	b = appendJSONString(b, []byte(tok))
	b = append(b, `,"messages":[`...)
	for i, f := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Data)
	}
	return append(b, "]}"...)
}

// appendJSONString appends s as a JSON string. s is the text of a frame,
// already valid UTF-8 JSON, so only quotes, backslashes and control bytes
// need escaping.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonStringLen is len(appendJSONString(nil, s)).
func jsonStringLen(s []byte) int {
	n := len(s) + 2
	for _, c := range s {
		switch {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}
