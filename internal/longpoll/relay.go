package longpoll

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/topics"
)

// A long-poll session lives on the node that opened it. Behind a plain load
// balancer its polls and posts land anywhere; a node that gets one for
// another node's session forwards it, as a NATS request carrying the
// method, session token, content type, auth token and body, to
// "<prefix>.lp.<owner>", and writes the owner's answer back unchanged. The
// owner serves the request as if it had come in over HTTP. A node listens on its subject only while
// it has sessions, so a request for a node that is gone, or that lost the
// session, finds no responder and is answered 410: phoenix.js then opens a
// new session wherever it lands.

// Headers of a relayed request.
const (
	relayMethod = "Pyre-Lp-Method"
	relayToken  = "Pyre-Lp-Token"
	relayType   = "Pyre-Lp-Content-Type"
	relayAuth   = "Pyre-Lp-Auth" // the client's auth token, if it sent one
)

const (
	maxRelayInflight = 1024        // relayed requests a node serves at once, at least
	relayOverhead    = 1024        // room for the envelope and headers in a NATS message
	relayFlush       = time.Second // bound on confirming a new subscription
)

// relay forwards and serves relayed long-poll requests.
type relay struct {
	nc     *nats.Conn
	node   string
	prefix string
	lp     *Transport

	inflight atomic.Int64 // relayed requests being served

	mu  sync.Mutex
	sub *nats.Subscription // held while the node has sessions; guarded by mu
}

// maxPayload is the largest NATS message the server takes; until the
// connection has met a server, the NATS default.
func (rl *relay) maxPayload() int64 {
	if n := rl.nc.MaxPayload(); n > 0 {
		return n
	}
	return 1 << 20
}

func (rl *relay) subject(node string) string {
	return rl.prefix + ".lp." + topics.SubjectToken(node)
}

// sync keeps the node subscribed to its subject while it has sessions.
// Opening a session subscribes (opened is set), and the subscription is
// confirmed with the server before sync returns, so that the new session's
// token is routable by the time its client gets it; closing one only ever
// unsubscribes, which does not block.
func (rl *relay) sync(opened bool) {
	rl.mu.Lock()
	want := rl.lp.Len() > 0
	var added bool
	switch {
	case want && rl.sub == nil && opened:
		sub, err := rl.nc.Subscribe(rl.subject(rl.node), rl.receive)
		if err != nil {
			rl.lp.log.Warn().Err(err).Msg("long-poll relay subscription failed; sessions are served on this node only")
			break
		}
		rl.sub, added = sub, true
	case !want && rl.sub != nil:
		_ = rl.sub.Unsubscribe()
		rl.sub = nil
	}
	rl.mu.Unlock()
	if added {
		if err := rl.nc.FlushTimeout(relayFlush); err != nil {
			rl.lp.log.Warn().Err(err).Msg("long-poll relay subscription not confirmed")
		}
	}
}

// receive serves a relayed request on a goroutine of its own, since a poll
// waits up to the window. A session has at most one waiting poll (a newer
// one answers the older), so the requests in flight stay near the number
// of sessions; past twice that, and past maxRelayInflight, it answers 500
// at once. The goroutine ends when the poll does: a closed session
// releases it.
func (rl *relay) receive(m *nats.Msg) {
	if n := rl.inflight.Add(1); n > int64(max(maxRelayInflight, 2*rl.lp.Len())) {
		rl.inflight.Add(-1)
		rl.lp.log.Warn().Int64("inflight", n-1).Msg("too many relayed long-poll requests")
		_ = m.Respond(statusBody(http.StatusInternalServerError))
		return
	}
	go func() {
		defer rl.inflight.Add(-1)
		_ = m.Respond(rl.serve(m))
	}()
}

func (rl *relay) serve(m *nats.Msg) []byte {
	lp := rl.lp
	tok := m.Header.Get(relayToken)
	at := auth{}
	if v := m.Header.Values(relayAuth); len(v) > 0 {
		at = newAuth(v[0], true)
	}
	switch m.Header.Get(relayMethod) {
	case http.MethodGet:
		budget := max(int(rl.maxPayload())-relayOverhead-len(tok), 1)
		return lp.poll(context.Background(), tok, at, budget)
	case http.MethodPost:
		return lp.publish(tok, at, m.Header.Get(relayType), m.Data)
	}
	return statusBody(http.StatusBadRequest)
}

// forward relays a request for node's session and returns the owner's
// answer, or nil if the client went away meanwhile.
func (lp *Transport) forward(ctx context.Context, node, method, tok, contentType, at string, sent bool, body []byte) []byte {
	rl := lp.relay
	if rl == nil {
		return statusBody(http.StatusGone) // another node's session, out of reach
	}
	if int64(len(body)+len(tok)+relayOverhead) > rl.maxPayload() {
		return statusBody(http.StatusRequestEntityTooLarge)
	}
	m := nats.NewMsg(rl.subject(node))
	m.Header.Set(relayMethod, method)
	m.Header.Set(relayToken, tok)
	if contentType != "" {
		m.Header.Set(relayType, contentType)
	}
	if sent {
		m.Header.Set(relayAuth, at)
	}
	m.Data = body
	rctx, cancel := context.WithTimeout(ctx, lp.cfg.Window+relayMargin)
	defer cancel()
	resp, err := rl.nc.RequestMsgWithContext(rctx, m)
	switch {
	case err == nil:
		return resp.Data
	case errors.Is(err, nats.ErrNoResponders):
		return statusBody(http.StatusGone)
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		// The owner did not answer within a window: it stopped serving the
		// session (a request can reach it just as it unsubscribes). The
		// client starts a new session, as for one that is gone.
		lp.log.Info().Str("owner", node).Str("method", method).Msg("long-poll owner did not answer; session treated as gone")
		return statusBody(http.StatusGone)
	}
	lp.log.Warn().Err(err).Str("owner", node).Str("method", method).Msg("long-poll relay failed")
	return statusBody(http.StatusInternalServerError)
}
