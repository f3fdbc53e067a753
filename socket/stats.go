package socket

import (
	"errors"
	"sync/atomic"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
)

// The handler's own counters: plain atomics that the connection paths add
// to, read only when metrics are scraped (see Collector). The channels'
// counters are per route, in channel.RouteStats, and the PubSub's and the
// tracker's are their own (topics.PubSub.Stats, presence.Tracker.Stats).

// transportKind is how a socket is carried.
type transportKind uint8

const (
	kindWebSocket transportKind = iota
	kindLongPoll
	kindOther // a Transport of the app's own, through Open
	numKinds
)

var kindNames = [numKinds]string{"websocket", "longpoll", "other"}

// closeReason is why a socket closed: a fixed set, the label of
// pyre_disconnects_total.
type closeReason uint8

const (
	closedByClient   closeReason = iota // the client closed or the connection failed
	closedIdle                          // nothing read for the idle timeout
	closedTooBig                        // a frame over the limit (1009)
	closedSlow                          // the outbound queue overflowed (4000)
	closedRateLimit                     // rate limit exceeded again and again (1008)
	closedDisconnect                    // a "disconnect" broadcast on the socket id
	closedShutdown                      // the handler drained
	closedByServer                      // the app closed it (Conn.CloseWith), or its actor stopped
	numReasons
)

var reasonNames = [numReasons]string{
	"client_closed", "idle_timeout", "frame_too_large", "slow_consumer",
	"rate_limited", "disconnect", "shutdown", "server_close",
}

// reasonOf maps the error a socket closes with to its reason.
func reasonOf(err error) closeReason {
	switch {
	case err == nil, errors.Is(err, actors.ErrClosed):
		return closedByClient
	case errors.Is(err, ErrRateLimited):
		return closedRateLimit
	case errors.Is(err, actors.ErrDisconnected):
		return closedDisconnect
	case errors.Is(err, actors.ErrShutdown):
		return closedShutdown
	}
	return closedByServer
}

// limitCap is a cap on live sockets that refuses a new one with HTTP 429.
// With admission control (refused 503), these are the causes of
// pyre_connects_refused_total.
type limitCap uint8

const (
	capPerAddr limitCap = iota // WithMaxConnsPerAddr
	capPerID                   // WithMaxSocketsPerID
	numCaps
)

// The values of pyre_connects_refused_total's cause label: one per cap,
// and admission control's, which counts its own refusals
// (RefusedConnects); the long-poll transport counts the refusals of its
// own session limits (longpoll.Transport.Refused: causes
// longpoll_sessions and longpoll_per_id).
var capNames = [numCaps]string{"per_address", "per_id"}

const causeAdmission = "admission"

// capOf returns the cap err names, if it is one of the caps' errors.
func capOf(err error) (limitCap, bool) {
	switch {
	case errors.Is(err, ErrTooManyConns):
		return capPerAddr, true
	case errors.Is(err, ErrTooManySockets):
		return capPerID, true
	}
	return 0, false
}

// handlerStats are the counters of the handler's sockets.
type handlerStats struct {
	open        [numKinds]atomic.Int64
	connects    [numKinds]atomic.Uint64
	disconnects [numKinds][numReasons]atomic.Uint64
	capped      [numCaps]atomic.Uint64 // new sockets refused by a cap
	unmatched   atomic.Uint64          // joins of a topic no route matches
}

func (st *handlerStats) connected(k transportKind) {
	st.open[k].Add(1)
	st.connects[k].Add(1)
}

func (st *handlerStats) disconnected(k transportKind, r closeReason) {
	st.open[k].Add(-1)
	st.disconnects[k][r].Add(1)
}

// overflowed reports whether t closed itself as a slow consumer.
func overflowed(t Transport) bool {
	o, ok := t.(interface{ Overflowed() bool })
	return ok && o.Overflowed()
}

// routeStats makes the counters of every route of the router, once.
func routeStats(patterns []string, m *metrics) map[string]*channel.RouteStats {
	out := make(map[string]*channel.RouteStats, len(patterns))
	for _, p := range patterns {
		if out[p] != nil {
			continue // a pattern declared twice: the first one matches
		}
		rs := &channel.RouteStats{Pattern: p}
		for o := range channel.NumEventOutcomes {
			rs.Handling[o] = m.handling.WithLabelValues(p, o.String())
		}
		out[p] = rs
	}
	return out
}
