package socket

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Admission control: a node that has just started, or that takes over the
// clients of a drained one, sees them all come back within a few hundred
// milliseconds (phoenix.js retries after 10, 50, 100 ms… with no jitter).
// A token bucket admits new connections at a bounded rate and answers the
// rest with 503 and Retry-After before any of the expensive work (Connect,
// the upgrade, the actor) is done; phoenix.js counts the refusal as a
// failed attempt and tries again after its backoff.

// WithAdmission admits new connections at perSecond on average, in bursts
// of up to burst: a WebSocket upgrade, or the opening poll of a long-poll
// session (its later polls and posts are never refused). A connection over
// the rate is answered with HTTP 503 and a Retry-After header, before its
// Connect runs; RefusedConnects counts them. Off by default; perSecond 0
// turns it off.
func WithAdmission(perSecond float64, burst int) Option {
	return func(o *options) error {
		if perSecond < 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) || (perSecond > 0 && burst < 1) {
			return fmt.Errorf("socket: bad admission rate: %v/s, burst %d", perSecond, burst)
		}
		o.admitRate, o.admitBurst = perSecond, burst
		return nil
	}
}

// admission is a handler's token bucket for new connections.
type admission struct {
	lim        *rate.Limiter // nil: everything is admitted
	retryAfter time.Duration // of a refusal: whole seconds, at least one
	refused    atomic.Uint64
}

func newAdmission(perSecond float64, burst int) *admission {
	a := &admission{}
	if perSecond > 0 {
		a.lim = rate.NewLimiter(rate.Limit(perSecond), burst)
		// The time one token takes to come back, in whole seconds (an
		// hour at most): the earliest a refused client can hope to get in.
		a.retryAfter = time.Duration(min(3600, max(1, math.Ceil(1/perSecond)))) * time.Second
	}
	return a
}

// admit takes a token, or answers w with 503 and Retry-After and reports
// false.
func (a *admission) admit(w http.ResponseWriter) bool {
	ok, after := a.take()
	if !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(after/time.Second), 10))
		http.Error(w, "server busy, retry later", http.StatusServiceUnavailable)
	}
	return ok
}

// take takes a token; without one it counts the refusal and says how long
// the client should wait (whole seconds, at least one).
func (a *admission) take() (bool, time.Duration) {
	if a.lim == nil || a.lim.Allow() {
		return true, 0
	}
	a.refused.Add(1)
	return false, a.retryAfter
}

// RefusedConnects returns how many connections admission control
// (WithAdmission) has refused with 503 since New: WebSocket upgrades and
// long-poll sessions' opening polls together. It is safe from any
// goroutine.
func (h *Handler) RefusedConnects() uint64 { return h.admission.refused.Load() }
