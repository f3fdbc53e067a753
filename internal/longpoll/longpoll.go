package longpoll

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/transport"
	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/token"
)

// Transport is the long-poll transport of one endpoint: its settings and
// its live sessions.
type Transport struct {
	// Read-only after New.
	ep       transport.Endpoint
	cfg      Config
	maxFrame int64
	maxQueue int
	taken    interface{ Observe(float64) } // may be nil
	signer   *token.Signer
	relay    *relay // nil without Config.Relay
	node     string // the node named in tokens
	log      zerolog.Logger

	mu       sync.Mutex
	sessions map[string]*session // live sessions by id; guarded by mu
	opening  int                 // sessions between reserve and admit; guarded by mu
	perID    map[string]int      // live sessions by socket id (named sockets only); guarded by mu

	refusedFull  atomic.Uint64 // opening polls refused by Config.MaxSessions
	refusedPerID atomic.Uint64 // opening polls refused by Config.MaxSessionsPerID
}

// Refused returns how many opening polls the transport's own caps have
// refused: the node's session limit (Config.MaxSessions) and one socket
// id's (Config.MaxSessionsPerID). The endpoint's caps count their own.
func (lp *Transport) Refused() (full, perID uint64) {
	return lp.refusedFull.Load(), lp.refusedPerID.Load()
}

// New returns the long-poll transport of ep.
func New(ep transport.Endpoint, cfg Config) *Transport {
	set := ep.Settings()
	lp := &Transport{
		ep: ep, cfg: cfg, maxFrame: set.MaxFrame, maxQueue: set.MaxQueue, taken: set.Taken, signer: cfg.Signer,
		node:     set.Node,
		log:      set.Logger.With().Str("transport", "longpoll").Logger(),
		sessions: map[string]*session{},
		perID:    map[string]int{},
	}
	if rc := cfg.Relay; rc != nil {
		lp.node = rc.Node
		lp.relay = &relay{nc: rc.Conn, node: rc.Node, prefix: rc.Prefix, lp: lp}
	}
	if len(lp.node) > MaxNodeName {
		lp.node = lp.node[:MaxNodeName] // only tokens carry it
	}
	if lp.signer == nil {
		secret := make([]byte, randomSecretN)
		_, _ = rand.Read(secret)
		lp.signer, _ = NewSigner(secret)
	}
	return lp
}

// ServeHTTP serves PATH/longpoll.
// A browser reads a cross-origin answer only if it names the request's
// origin in Access-Control-Allow-Origin: that header goes out with the
// request's own Origin when the endpoint's origin policy admits it, and
// not at all otherwise (nor without an Origin). Every answer depends on
// the Origin, and says so in Vary.
func (lp *Transport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	if !lp.ep.CheckOrigin(r) {
		lp.log.Warn().Str("origin", r.Header.Get("Origin")).Msg("origin refused")
		writeBody(w, statusBody(http.StatusForbidden))
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		w.Header().Set("Access-Control-Allow-Origin", origin)
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
		if sessionToken(r) == "" {
			if lp.admitOpening(w, r) {
				code, body := lp.open(r)
				writeBodyStatus(w, code, body)
			}
			return
		}
		writeBody(w, lp.get(r))
	case http.MethodPost:
		lp.post(w, r)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// admitOpening asks the endpoint's admission control whether a session may
// open; if not, it answers the opening poll with HTTP 503 and Retry-After.
// The body says 500, a status phoenix.js takes for a failed attempt, and
// retries after its backoff.
func (lp *Transport) admitOpening(w http.ResponseWriter, r *http.Request) bool {
	ok, after := lp.ep.Admit()
	if ok {
		return true
	}
	lp.log.Debug().Str("peer", r.RemoteAddr).Msg("long-poll session refused by admission control")
	w.Header().Set("Retry-After", strconv.FormatInt(int64(after/time.Second), 10))
	writeBodyStatus(w, http.StatusServiceUnavailable, statusBody(http.StatusInternalServerError))
	return false
}

// Len returns the number of live sessions.
func (lp *Transport) Len() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.sessions)
}

// get serves a poll of an open session.
func (lp *Transport) get(r *http.Request) []byte {
	tok := sessionToken(r)
	node, ok := tokenNode(tok)
	if !ok {
		return statusBody(http.StatusForbidden)
	}
	at, sent := requestAuth(r)
	if node != lp.node {
		return lp.forward(r.Context(), node, http.MethodGet, tok, "", at, sent, nil)
	}
	return lp.poll(r.Context(), tok, newAuth(at, sent), 0)
}

func (lp *Transport) post(w http.ResponseWriter, r *http.Request) {
	tok := sessionToken(r)
	if tok == "" {
		writeBody(w, statusBody(http.StatusGone))
		return
	}
	node, ok := tokenNode(tok)
	if !ok {
		writeBody(w, statusBody(http.StatusForbidden))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lp.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			lp.log.Warn().Int64("limit", lp.cfg.MaxBody).Str("peer", r.RemoteAddr).Msg("long-poll body too large")
			writeBody(w, statusBody(http.StatusRequestEntityTooLarge))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ct := r.Header.Get("Content-Type")
	at, sent := requestAuth(r)
	if node != lp.node {
		writeBody(w, lp.forward(r.Context(), node, http.MethodPost, tok, ct, at, sent, body))
		return
	}
	writeBody(w, lp.publish(tok, newAuth(at, sent), ct, body))
}

// open runs Connect on the query and opens a session. It returns the
// HTTP status and the body to answer: 200 but for a session refused by a
// cap on the sockets of one address or id, or on the sessions of one id,
// which gets 429 (as a WebSocket upgrade would) with the body status 500,
// the one on which phoenix.js tries again after its backoff.
func (lp *Transport) open(r *http.Request) (int, []byte) {
	q := r.URL.Query()
	ser, err := protocol.Negotiate(q.Get("vsn"))
	if err != nil {
		lp.log.Warn().Str("vsn", q.Get("vsn")).Msg("unsupported serializer version")
		return http.StatusOK, statusBody(http.StatusForbidden)
	}
	if lp.ep.Draining() {
		return http.StatusOK, statusBody(http.StatusInternalServerError)
	}
	if !lp.reserve() {
		lp.refusedFull.Add(1)
		lp.log.Warn().Int("limit", lp.cfg.MaxSessions).Msg("long-poll session limit reached")
		return http.StatusOK, statusBody(http.StatusInternalServerError)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	at, sent := requestAuth(r)
	s := &session{
		lp: lp, id: base64.RawURLEncoding.EncodeToString(raw[:]), ser: ser, maxBytes: lp.maxQueue,
		log: lp.log.With().Str("peer", r.RemoteAddr).Logger(), auth: newAuth(at, sent),
	}
	info := lp.ep.ConnInfo(r)
	info.Token = at
	conn, err := lp.ep.Open(r.Context(), s, q, info)
	if err != nil {
		// The session was never published: Open closed it, and it
		// holds no timer, so nothing of it is left.
		lp.unreserve()
		switch {
		case errors.Is(err, transport.ErrRefused):
			lp.log.Info().Err(err).Str("peer", r.RemoteAddr).Msg("connection refused")
			return http.StatusOK, statusBody(http.StatusForbidden)
		case errors.Is(err, transport.ErrTooManyConns), errors.Is(err, transport.ErrTooManySockets):
			// The endpoint has logged and counted it.
			return http.StatusTooManyRequests, statusBody(http.StatusInternalServerError)
		}
		lp.log.Info().Err(err).Str("peer", r.RemoteAddr).Msg("long-poll session not opened")
		return http.StatusOK, statusBody(http.StatusInternalServerError)
	}
	switch lp.admit(s, conn) {
	case admitClosed:
		return http.StatusOK, statusBody(http.StatusInternalServerError) // closed at once (a drain began)
	case admitTooMany:
		lp.refusedPerID.Add(1)
		s.log.Warn().Str("socket_id", conn.ID()).Int("limit", lp.cfg.MaxSessionsPerID).
			Msg("long-poll session limit of one socket id reached")
		conn.Closed(actors.ErrClosed)
		return http.StatusTooManyRequests, statusBody(http.StatusInternalServerError)
	}
	if lp.relay != nil {
		lp.relay.sync(true)
	}
	s.log.Debug().Str("vsn", ser.Version()).Msg("long-poll session opened")
	return http.StatusOK, envelope(http.StatusGone, lp.sign(s.id), nil)
}

// reserve counts a session about to open against the limit.
func (lp *Transport) reserve() bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.cfg.MaxSessions > 0 && len(lp.sessions)+lp.opening >= lp.cfg.MaxSessions {
		return false
	}
	lp.opening++
	return true
}

func (lp *Transport) unreserve() {
	lp.mu.Lock()
	lp.opening--
	lp.mu.Unlock()
}

// What admit did with a session.
const (
	admitted     = iota
	admitClosed  // it closed in the meantime
	admitTooMany // its socket id has its maximum of sessions
)

// admit publishes an opened session, unless it closed in the meantime or
// its socket id has too many already; a refused session is shut, and its
// socket is the caller's to close.
func (lp *Transport) admit(s *session, conn transport.Conn) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn, s.socketID = conn, conn.ID()
	lp.mu.Lock()
	lp.opening--
	full := s.socketID != "" && lp.cfg.MaxSessionsPerID > 0 && lp.perID[s.socketID] >= lp.cfg.MaxSessionsPerID
	if !s.closed && !full {
		lp.sessions[s.id] = s
		if s.socketID != "" {
			lp.perID[s.socketID]++
		}
	}
	lp.mu.Unlock()
	switch {
	case s.closed:
		return admitClosed
	case full:
		s.shutLocked(false)
		return admitTooMany
	}
	s.lastPoll = time.Now()
	s.idle = time.AfterFunc(lp.cfg.SessionTimeout, s.expire)
	return admitted
}

// remove forgets a closed session.
func (lp *Transport) remove(s *session) {
	lp.mu.Lock()
	if lp.sessions[s.id] == s {
		delete(lp.sessions, s.id)
		if s.socketID != "" {
			if lp.perID[s.socketID]--; lp.perID[s.socketID] <= 0 {
				delete(lp.perID, s.socketID)
			}
		}
	}
	lp.mu.Unlock()
	if lp.relay != nil {
		lp.relay.sync(false)
	}
}

// lookup finds the live session of a token of this node, for a request
// carrying at (a poll if poll is set); on failure the int is the status
// to answer.
func (lp *Transport) lookup(tok string, at auth, poll bool) (*session, int) {
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
	if !s.auth.admits(at, poll) {
		s.log.Warn().Bool("poll", poll).Msg("long-poll request without the session's auth token refused")
		return nil, http.StatusForbidden
	}
	return s, 0
}

// poll waits for the session's frames; budget > 0 caps the size of the
// messages taken (a relayed answer must fit a NATS message).
func (lp *Transport) poll(ctx context.Context, tok string, at auth, budget int) []byte {
	s, status := lp.lookup(tok, at, true)
	if s == nil {
		return statusBody(status)
	}
	status, frames := s.poll(ctx, lp.cfg.Window, budget)
	if status == http.StatusGone {
		return statusBody(status)
	}
	return envelope(status, tok, frames)
}

// publish hands a POST body's messages to the session's socket.
func (lp *Transport) publish(tok string, at auth, contentType string, body []byte) []byte {
	s, status := lp.lookup(tok, at, false)
	if s == nil {
		return statusBody(status)
	}
	if int64(len(body)) > lp.cfg.MaxBody {
		return statusBody(http.StatusRequestEntityTooLarge)
	}
	msgs, status := decodeBody(s.ser, contentType, body, lp.maxFrame, &s.log)
	if status != http.StatusOK {
		s.log.Warn().Int("status", status).Msg("long-poll post refused")
		return statusBody(status)
	}
	return statusBody(s.dispatch(msgs, lp.cfg.Window))
}
