package socket

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/longpoll"
	"github.com/pyrehq/pyre/internal/transport"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

// WebSocket close codes the server sends.
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001 // socket id "disconnect", idle timeout: phoenix.js reconnects
	CloseTooBig         = 1009 // frame larger than the limit
	CloseServiceRestart = 1012 // drain on shutdown
	CloseSlowConsumer   = 4000 // the client did not read fast enough
	ClosePolicy         = 1008 // the client kept sending past its rate limit
)

// ConnInfo describes the HTTP request that opens a socket: PeerAddr (the
// remote host:port), URI, Origin, Headers (only those named by
// WithConnectHeaders) and Token, the bearer token of phoenix.js's
// authToken option ("" without one). Since Phoenix 1.8 that option is the
// recommended way to authenticate a socket: new Socket("/socket",
// {authToken: token}) sends the token in the WebSocket subprotocols or, on
// long-poll, in the X-Phoenix-AuthToken header, never in the URL. A
// malformed one is refused with HTTP 403 before Connect runs.
type ConnInfo = transport.ConnInfo

// ConnectFunc authenticates a new socket from its query parameters. It
// returns the socket's assigns, or an error to refuse it with HTTP 403.
//
// ctx belongs to the request that opens the socket (the WebSocket
// handshake, or the long-poll GET that creates the session): it is
// cancelled when the client goes away before the answer, and at the latest
// once the request is answered, so a slow lookup can give up on a client
// that is gone. It does not live as long as the socket.
type ConnectFunc func(ctx context.Context, params url.Values, info ConnInfo) (actors.Assigns, error)

// IDFunc names a socket from its assigns; "" leaves it anonymous. A
// broadcast of event "disconnect" on the id closes every socket with it.
type IDFunc func(assigns actors.Assigns) string

// Option configures a Handler.
type Option func(*options) error

type options struct {
	connect        ConnectFunc
	id             IDFunc
	pubsub         *topics.PubSub
	presence       *presence.Tracker
	log            zerolog.Logger
	node           string
	origin         *originPolicy
	connectHeaders []string
	idleTimeout    time.Duration
	writeTimeout   time.Duration
	writeDelay     time.Duration
	joinTimeout    time.Duration
	maxFrame       int64
	maxQueue       int
	maxChannels    int
	maxInflight    int
	restart        supervisor.Policy
	drainWindow    time.Duration
	drainBatches   int
	eventRate      rate.Limit // inbound events per second per socket
	eventBurst     int
	maxStrikes     int // refused events in a row before a disconnect
	maxTopic       int
	maxPerAddr     int     // sockets per remote IP; 0 = no limit
	maxPerID       int     // sockets per socket id (WithID); 0 = no limit
	admitRate      float64 // new connections per second (WithAdmission); 0 = no limit
	admitBurst     int
	system         *actor.ActorSystem // the app's; nil: the handler makes its own
	longPoll       longpoll.Config    // see longpoll_options.go
	noLongPoll     bool
}

func defaults() options {
	host, _ := os.Hostname()
	return options{
		connect:      func(context.Context, url.Values, ConnInfo) (actors.Assigns, error) { return actors.Assigns{}, nil },
		id:           func(actors.Assigns) string { return "" },
		log:          zerolog.Nop(),
		node:         host,
		origin:       &originPolicy{mode: originSameHost},
		idleTimeout:  60 * time.Second,
		writeTimeout: 10 * time.Second,
		joinTimeout:  15 * time.Second,
		maxFrame:     1 << 20,
		maxQueue:     4 << 20,
		maxChannels:  100,
		maxInflight:  64,
		drainWindow:  2 * time.Second,
		drainBatches: 10,
		eventRate:    5000,
		eventBurst:   10000,
		maxStrikes:   1000,
		maxTopic:     1024,
		longPoll:     longpoll.Defaults(),
		restart:      supervisor.Policy{Restart: supervisor.Temporary},
	}
}

// WithConnect sets the authentication callback. The default accepts every
// socket with empty assigns.
func WithConnect(f ConnectFunc) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("socket: nil connect func")
		}
		o.connect = f
		return nil
	}
}

// WithActorSystem runs the sockets and channels in the app's actor system,
// so that channels and the app's own actors (a supervision tree, say) can
// message each other. The handler never shuts it down: the app does, after
// the handler's Shutdown. Without it, New makes an actor system that
// Shutdown stops.
func WithActorSystem(sys *actor.ActorSystem) Option {
	return func(o *options) error {
		if sys == nil {
			return errors.New("socket: nil actor system")
		}
		o.system = sys
		return nil
	}
}

// WithID sets the socket id callback.
func WithID(f IDFunc) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("socket: nil id func")
		}
		o.id = f
		return nil
	}
}

// WithPubSub shares a PubSub with the handler (one is created otherwise).
func WithPubSub(ps *topics.PubSub) Option {
	return func(o *options) error { o.pubsub = ps; return nil }
}

// WithPresence gives channels a presence tracker.
func WithPresence(t *presence.Tracker) Option {
	return func(o *options) error { o.presence = t; return nil }
}

// WithLogger sets the logger (default: none). The handler adds the node
// (WithNode) to every line it writes, so l should not carry a "node" field
// of its own.
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// WithNode names this node in logs (default: the host name).
func WithNode(name string) Option {
	return func(o *options) error {
		if name == "" {
			return errors.New("socket: empty node name")
		}
		o.node = name
		return nil
	}
}

// WithOrigins allows browser origins from a list instead of the default
// same-host check. Entries are "https://example.com", "//example.com" (any
// scheme and port), "https://example.com:8443" or "//*.example.com" (the
// domain and any subdomain). A bare "example.com" means "//example.com".
func WithOrigins(origins ...string) Option {
	return func(o *options) error {
		p, err := parseOrigins(origins)
		if err != nil {
			return err
		}
		o.origin = p
		return nil
	}
}

// WithoutOriginCheck accepts any Origin. Only for non-browser clients or
// development: it exposes the socket to cross-site WebSocket hijacking.
func WithoutOriginCheck() Option {
	return func(o *options) error { o.origin = &originPolicy{mode: originAny}; return nil }
}

// WithConnectHeaders names request headers copied into ConnInfo.Headers.
func WithConnectHeaders(names ...string) Option {
	return func(o *options) error { o.connectHeaders = append(o.connectHeaders, names...); return nil }
}

func positive(name string, d time.Duration, dst *time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("socket: %s must be positive, got %v", name, d)
		}
		*dst = d
		return nil
	}
}

// WithIdleTimeout closes a connection that sends nothing for d (default 60s;
// phoenix.js sends a heartbeat every 30s).
func WithIdleTimeout(d time.Duration) Option {
	return func(o *options) error { return positive("idle timeout", d, &o.idleTimeout)(o) }
}

// WithWriteTimeout bounds one batch write to a client (default 10s). The
// deadline moves at most every quarter of d, so a write gets between three
// quarters of d and all of it; a write that misses it ends the connection.
func WithWriteTimeout(d time.Duration) Option {
	return func(o *options) error { return positive("write timeout", d, &o.writeTimeout)(o) }
}

// WithJoinTimeout bounds a channel's Join (default 15s); past it the client
// gets the error reply {"reason":"join timeout"}.
func WithJoinTimeout(d time.Duration) Option {
	return func(o *options) error { return positive("join timeout", d, &o.joinTimeout)(o) }
}

// WithMaxFrameSize limits inbound frames (default 1 MiB); a larger frame
// closes the connection with 1009.
func WithMaxFrameSize(n int64) Option {
	return func(o *options) error {
		if n < 64 {
			return fmt.Errorf("socket: max frame size %d is too small", n)
		}
		o.maxFrame = n
		return nil
	}
}

// WithWriteDelay makes a WebSocket connection that has been idle wait d
// before writing its first frame, gathering what else comes for it
// meanwhile into the same write (default 0: write at once). A broadcast
// to many connections at a high rate then costs fewer system calls per
// delivery, and every frame that finds its connection idle arrives up to
// d later. BENCHMARKS.md measures both sides of the trade. d is at most a
// second.
func WithWriteDelay(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 || d > time.Second {
			return fmt.Errorf("socket: write delay %v is out of range (0 to 1s)", d)
		}
		o.writeDelay = d
		return nil
	}
}

// WithMaxQueueBytes limits a connection's outbound queue (default 4 MiB);
// a client that lets it fill is disconnected with close code 4000.
func WithMaxQueueBytes(n int) Option {
	return func(o *options) error {
		if n < 1024 {
			return fmt.Errorf("socket: max queue %d bytes is too small", n)
		}
		o.maxQueue = n
		return nil
	}
}

// WithMaxChannels limits channels joined on one socket (default 100).
func WithMaxChannels(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("socket: max channels must be at least 1, got %d", n)
		}
		o.maxChannels = n
		return nil
	}
}

// WithRestartPolicy sets the restart policy of channel routes that do not
// declare their own (default: supervisor.Temporary, as in Phoenix).
func WithRestartPolicy(p supervisor.Policy) Option {
	return func(o *options) error {
		if err := p.Validate(); err != nil {
			return err
		}
		o.restart = p
		return nil
	}
}

// WithDrain sets how Shutdown closes live sockets: in batches (default 10)
// spread over window (default 2s).
func WithDrain(window time.Duration, batches int) Option {
	return func(o *options) error {
		if window < 0 || batches < 1 {
			return fmt.Errorf("socket: bad drain settings: window %v, %d batches", window, batches)
		}
		o.drainWindow, o.drainBatches = window, batches
		return nil
	}
}

// WithRateLimit limits the events one socket may send: perSecond on
// average, in bursts of up to burst (default 5 000/s in bursts of 10 000,
// room for a publisher feeding a large fan-out; heartbeats count too). An
// event over the limit is answered with the error reply {"reason": "rate
// limit exceeded"} and not processed; strikes such refusals in a row
// (default 1 000) close the connection with code 1008. perSecond 0 turns
// the limit off.
func WithRateLimit(perSecond float64, burst, strikes int) Option {
	return func(o *options) error {
		if perSecond < 0 || (perSecond > 0 && (burst < 1 || strikes < 1)) {
			return fmt.Errorf("socket: bad rate limit: %v/s, burst %d, strikes %d", perSecond, burst, strikes)
		}
		o.eventRate, o.eventBurst, o.maxStrikes = rate.Limit(perSecond), burst, strikes
		if perSecond == 0 {
			o.eventRate = rate.Inf
		}
		return nil
	}
}

// WithMaxTopicLength limits the length of a topic in bytes (default 1024);
// an event on a longer topic is answered with the error reply
// {"reason": "topic too long"}.
func WithMaxTopicLength(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("socket: max topic length must be positive, got %d", n)
		}
		o.maxTopic = n
		return nil
	}
}

// WithMaxConnsPerAddr limits the live sockets from one remote IP address
// (default: no limit; 0 turns it off); a connection over it is refused
// with HTTP 429, as for WithMaxSocketsPerID. Behind a proxy every client
// shares the proxy's address: set it only when clients reach the server
// directly.
func WithMaxConnsPerAddr(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("socket: max connections per address must not be negative, got %d", n)
		}
		o.maxPerAddr = n
		return nil
	}
}

// WithMaxSocketsPerID limits the live sockets of one socket id (WithID:
// one user, with a tab or two each), over every transport together, so
// that one login cannot hold a node's sockets (default: no limit; 0 turns
// it off). Anonymous sockets (id "") are not counted. The count is taken
// after Connect, when the socket is reserved (before the WebSocket
// handshake answers 101, or the long-poll session opens), under the same
// lock and in the same step as WithMaxConnsPerAddr's, and a socket gives
// its place back once when it ends, whether it ran or its upgrade failed.
//
// A socket over it is refused with HTTP 429 Too Many Requests, as one
// over WithMaxConnsPerAddr is: the client asked for more than its share,
// the server is not failing. phoenix.js sees a failed WebSocket handshake
// and reconnects after its backoff (10 ms up to 5 s), so a tab that was
// refused gets in soon after another of the user's closes; a long-poll
// refusal carries the body status 500, the one phoenix.js retries the
// same way (it gives up for good on 403). No Retry-After goes with it:
// when a place frees depends on the user's other tabs. The refusal is
// logged at warn level with the cap and its limit, and counted in
// pyre_connects_refused_total{cause="per_id"}.
func WithMaxSocketsPerID(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("socket: max sockets per id must not be negative, got %d", n)
		}
		o.maxPerID = n
		return nil
	}
}
