package socket

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/pyrehq/pyre/internal/transport"
)

// endpoint is the Handler as its transports see it (transport.Endpoint).
type endpoint struct{ h *Handler }

var (
	_ transport.Endpoint = endpoint{}
	_ transport.Conn     = (*Conn)(nil)
	_ transport.Sink     = (*writer)(nil)
)

func (e endpoint) Open(ctx context.Context, sink transport.Sink, params url.Values, info transport.ConnInfo) (transport.Conn, error) {
	c, err := e.h.openKind(ctx, sink, kindLongPoll, params, info)
	if err != nil {
		return nil, err // not a nil *Conn in a non-nil interface
	}
	return c, nil
}

func (e endpoint) Admit() (bool, time.Duration)                { return e.h.admission.take() }
func (e endpoint) Draining() bool                              { return e.h.draining.Load() }
func (e endpoint) CheckOrigin(r *http.Request) bool            { return e.h.opt.origin.check(r) }
func (e endpoint) ConnInfo(r *http.Request) transport.ConnInfo { return e.h.connInfo(r) }

func (e endpoint) Settings() transport.Settings {
	o := &e.h.opt
	return transport.Settings{Node: o.node, Logger: o.log, MaxFrame: o.maxFrame, MaxQueue: o.maxQueue,
		Taken: e.h.metrics.queue.WithLabelValues(kindNames[kindLongPoll])}
}

// connInfo describes r for the Connect callback.
func (h *Handler) connInfo(r *http.Request) ConnInfo {
	info := ConnInfo{PeerAddr: r.RemoteAddr, URI: r.URL, Origin: r.Header.Get("Origin"), Headers: http.Header{}}
	for _, name := range h.opt.connectHeaders {
		if v := r.Header.Values(name); len(v) > 0 {
			info.Headers[http.CanonicalHeaderKey(name)] = v
		}
	}
	return info
}
