package socket

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/internal/longpoll"
)

// The long-poll transport lives in internal/longpoll; these options fill
// in its Config (defaults from longpoll.Defaults).

// WithoutLongPoll turns the PATH/longpoll transport off; its requests get
// 404. Long-poll is on by default.
func WithoutLongPoll() Option {
	return func(o *options) error { o.noLongPoll = true; return nil }
}

// WithLongPollWindow sets how long a poll waits for something to send
// before it answers "nothing yet" (status 204; default 10s). phoenix.js
// gives up on a request after 20s, so keep it well below that.
func WithLongPollWindow(d time.Duration) Option {
	return func(o *options) error { return positive("long-poll window", d, &o.longPoll.Window)(o) }
}

// WithLongPollSessionTimeout closes a long-poll session when no poll has
// been waiting on it for d (default 20s); its channels terminate with
// actors.ErrClosed. phoenix.js polls again as soon as a poll returns, so d
// only needs to cover a round trip and a retry.
func WithLongPollSessionTimeout(d time.Duration) Option {
	return func(o *options) error { return positive("long-poll session timeout", d, &o.longPoll.SessionTimeout)(o) }
}

// WithLongPollMaxBody limits a POST body (default 4 MiB); a larger one is
// answered with status 413 and none of its messages is handled. Each
// message in it is also held to the frame limit (WithMaxFrameSize).
func WithLongPollMaxBody(n int64) Option {
	return func(o *options) error {
		if n < 1024 {
			return fmt.Errorf("socket: long-poll max body %d bytes is too small", n)
		}
		o.longPoll.MaxBody = n
		return nil
	}
}

// WithLongPollMaxSessions limits the long-poll sessions of the handler
// (default 10 000). A client that would open one more gets status 500, on
// which phoenix.js retries with its reconnect backoff.
func WithLongPollMaxSessions(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("socket: long-poll max sessions must be at least 1, got %d", n)
		}
		o.longPoll.MaxSessions = n
		return nil
	}
}

// WithLongPollMaxSessionsPerID limits the long-poll sessions of one socket
// id (WithID; default 16): the tabs of one user, and the sessions one
// token can open in a loop, each of which would otherwise live until its
// timeout. A client that would open one more gets HTTP 429 with the body
// status 500, on which phoenix.js retries as for WithLongPollMaxSessions.
// Anonymous sockets are not counted. WithMaxSocketsPerID caps the sockets
// of an id over every transport; this cap counts long-poll sessions only.
func WithLongPollMaxSessionsPerID(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("socket: long-poll max sessions per id must be at least 1, got %d", n)
		}
		o.longPoll.MaxSessionsPerID = n
		return nil
	}
}

// WithLongPollSecret signs session tokens with secret (at least 16 bytes)
// instead of a random secret made for each Handler. Either way a token
// names the node that owns the session and cannot be forged.
func WithLongPollSecret(secret []byte) Option {
	return func(o *options) error {
		s, err := longpoll.NewSigner(secret)
		if err != nil {
			return fmt.Errorf("socket: long-poll secret: %w", err)
		}
		o.longPoll.Signer = s
		return nil
	}
}

// WithLongPollRelay lets a cluster serve long-poll behind a plain load
// balancer. A long-poll session lives on the node that created it; a poll
// or post for it that reaches another node is forwarded to the owner with
// a NATS request on "<prefix>.lp.<node>" and the owner's answer is relayed
// back. node names this handler in the cluster (the session tokens it
// issues carry it) and prefix is the cluster's subject prefix ("pyre" if
// empty); cluster.Node's Conn, Name and Prefix fit.
//
// Without a relay a request for another node's session is answered as if
// the session were gone (status 410), and phoenix.js opens a new session
// where it landed: that works, but every change of node costs the client a
// reconnect, so use sticky sessions instead.
func WithLongPollRelay(nc *nats.Conn, node, prefix string) Option {
	return func(o *options) error {
		if nc == nil {
			return errors.New("socket: long-poll relay needs a NATS connection")
		}
		if node == "" {
			return errors.New("socket: long-poll relay needs the node name")
		}
		if len(node) > longpoll.MaxNodeName {
			return fmt.Errorf("socket: node name longer than %d bytes", longpoll.MaxNodeName)
		}
		if prefix == "" {
			prefix = "pyre"
		}
		o.longPoll.Relay = &longpoll.RelayConfig{Conn: nc, Node: node, Prefix: prefix}
		return nil
	}
}
