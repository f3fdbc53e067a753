package client

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

// Option configures Dial.
type Option func(*options) error

type options struct {
	params    func() url.Values
	authToken string
	header    http.Header
	vsn       string
	heartbeat time.Duration
	backoff   func(attempt int) time.Duration
	rejoin    func(attempt int) time.Duration
	buffer    int
	recovery  bool
	dialer    *websocket.Dialer
	log       zerolog.Logger
}

func defaults() options {
	return options{
		vsn:       V2,
		heartbeat: 30 * time.Second,
		backoff:   Backoff([]time.Duration{10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second}),
		rejoin:    Backoff([]time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second}),
		buffer:    1024,
		recovery:  true,
		dialer:    websocket.DefaultDialer,
		log:       zerolog.Nop(),
	}
}

// WithParams sets the connect params, sent in the URL's query. f is called
// before every connection, so a reconnect sends fresh ones (a renewed
// token, say).
func WithParams(f func() url.Values) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("client: WithParams: nil function")
		}
		o.params = f
		return nil
	}
}

// WithAuthToken sends token the way phoenix.js's authToken option does:
// in the Sec-WebSocket-Protocol header, never in the URL.
func WithAuthToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return errors.New("client: WithAuthToken: empty token")
		}
		o.authToken = token
		return nil
	}
}

// WithHeader adds header to every upgrade request (an Origin, say).
func WithHeader(header http.Header) Option {
	return func(o *options) error {
		o.header = header.Clone()
		return nil
	}
}

// WithProtocol chooses the serializer: V2 (the default) or V1.
func WithProtocol(vsn string) Option {
	return func(o *options) error {
		if vsn != V1 && vsn != V2 {
			return errors.New("client: WithProtocol: want client.V1 or client.V2")
		}
		o.vsn = vsn
		return nil
	}
}

// WithHeartbeat sets how often the client sends a heartbeat (30 s by
// default, as phoenix.js). A heartbeat still unanswered when the next is
// due ends the connection, and the client reconnects. 0 sends none.
func WithHeartbeat(every time.Duration) Option {
	return func(o *options) error {
		if every < 0 {
			return errors.New("client: WithHeartbeat: negative interval")
		}
		o.heartbeat = every
		return nil
	}
}

// WithReconnectBackoff sets the wait before reconnect attempt n (0 for
// the first after a connection ends). The default follows phoenix.js's
// steps, from 10 ms to 5 s, each spread ±50% at random. A 503 answer's
// Retry-After lengthens the wait to at least what it asks.
func WithReconnectBackoff(f func(attempt int) time.Duration) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("client: WithReconnectBackoff: nil function")
		}
		o.backoff = f
		return nil
	}
}

// WithRejoinBackoff sets the wait before rejoin attempt n of a channel the
// server errored or refused after it had joined (default 1 s, 2 s, 5 s,
// then 10 s, spread ±50%).
func WithRejoinBackoff(f func(attempt int) time.Duration) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("client: WithRejoinBackoff: nil function")
		}
		o.rejoin = f
		return nil
	}
}

// WithChannelBuffer sets how many messages may wait for one channel's
// handlers (1024 by default). When a channel's buffer is full the client
// stops reading the connection until its handlers catch up: nothing is
// dropped, and a server that will not wait closes the connection, after
// which the client reconnects and recovers what it can.
func WithChannelBuffer(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errors.New("client: WithChannelBuffer: at least 1")
		}
		o.buffer = n
		return nil
	}
}

// WithoutRecovery stops the client from adding "_since" to join params
// (see the package doc's Recovery).
func WithoutRecovery() Option {
	return func(o *options) error {
		o.recovery = false
		return nil
	}
}

// WithDialer sets the WebSocket dialer (TLS configuration, proxy,
// handshake timeout); websocket.DefaultDialer by default.
func WithDialer(d *websocket.Dialer) Option {
	return func(o *options) error {
		if d == nil {
			return errors.New("client: WithDialer: nil dialer")
		}
		o.dialer = d
		return nil
	}
}

// WithLogger sets the logger for what the client does not return as an
// error: reconnects, dropped frames, replies to unknown refs. The default
// discards everything.
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) error {
		o.log = l
		return nil
	}
}

// Backoff returns a backoff function over steps: attempt n waits
// steps[n] (the last step for every later attempt), spread at random
// between half and one and a half times that.
func Backoff(steps []time.Duration) func(attempt int) time.Duration {
	steps = append([]time.Duration(nil), steps...)
	return func(attempt int) time.Duration {
		if len(steps) == 0 {
			return 0
		}
		d := steps[min(max(attempt, 0), len(steps)-1)]
		if d <= 0 {
			return 0
		}
		return d/2 + rand.N(d+1)
	}
}
