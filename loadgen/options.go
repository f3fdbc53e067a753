package loadgen

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Option changes one setting of a run. Options that do not apply to a mode
// (WithRate for a storm, say) are accepted and ignored.
type Option func(*options) error

// options is a run's configuration, built from defaults by the Options.
type options struct {
	label        string
	path         string
	srcIPs       int
	users        int
	token        string
	noLogin      bool
	pids         []int    // servers whose CPU and memory are read
	more         []string // fan-out: further servers for the subscribers
	limit        time.Duration
	heartbeat    time.Duration
	conc         int
	replyTimeout time.Duration
	topic        string // "" means the mode's own default
	log          zerolog.Logger

	duration time.Duration // fanout: publishing; ping: the measured window
	count    int64         // fanout: messages; ping: round trips per client
	rate     float64       // fanout: messages per second, 0 for flow control
	window   int           // fanout with rate 0: messages in flight per subscriber
	size     int           // fanout: payload padding
	drain    time.Duration // fanout: wait for late deliveries
	slow     int           // fanout: subscribers that stop reading
	hold     time.Duration // storm: keep the connections open this long
	jitter   float64       // reconnect: spread of each backoff, 0 to 1
}

// Defaults of the settings that have one worth naming.
const (
	DefaultLimit        = 5 * time.Minute
	DefaultHeartbeat    = 30 * time.Second
	DefaultReplyTimeout = 10 * time.Second
	DefaultDuration     = 15 * time.Second
	DefaultCount        = 1_000_000
	DefaultWindow       = 32
	DefaultPayloadSize  = 64
	// DefaultUsers is the least number of users a run logs in as; a run
	// of more connections logs in one user per SocketsPerUser of them, so
	// that no user goes past a server's cap on sockets per user (pyre
	// chat's is 16).
	DefaultUsers       = 100
	SocketsPerUser     = 8
	DefaultConcurrency = 100
	// MaxSourceIPs bounds WithSourceIPs: 127.0.0.2 … 127.0.0.251.
	MaxSourceIPs = 250
)

func defaults() options {
	return options{
		path:         "/socket/websocket",
		limit:        DefaultLimit,
		heartbeat:    DefaultHeartbeat,
		conc:         DefaultConcurrency,
		replyTimeout: DefaultReplyTimeout,
		log:          zerolog.Nop(),
		duration:     DefaultDuration,
		count:        DefaultCount,
		window:       DefaultWindow,
		size:         DefaultPayloadSize,
		drain:        10 * time.Second,
	}
}

func buildOptions(opts []Option) (options, error) {
	o := defaults()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	if o.token != "" && o.noLogin {
		return options{}, errors.New("loadgen: WithToken and WithoutLogin exclude each other")
	}
	return o, nil
}

// firstPID is the first server process named, or 0.
func (o options) firstPID() int {
	if len(o.pids) == 0 {
		return 0
	}
	return o.pids[0]
}

func positiveDuration(name string, d time.Duration, dst *time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("loadgen: %s must be positive, got %v", name, d)
	}
	*dst = d
	return nil
}

// WithLabel names the target in the report (for example "pyre" or
// "phoenix"), so that results from several servers can be told apart.
func WithLabel(label string) Option {
	return func(o *options) error { o.label = label; return nil }
}

// WithPath sets the socket's WebSocket path (default /socket/websocket).
func WithPath(path string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(path, "/") {
			return fmt.Errorf("loadgen: socket path %q must start with /", path)
		}
		o.path = path
		return nil
	}
}

// WithSourceIPs spreads the connections over n source addresses, 127.0.0.2
// to 127.0.0.(n+1), each with its own range of ephemeral ports. 0 (the
// default) lets the kernel choose, which allows about 28 000 connections.
// IPv4 targets only.
func WithSourceIPs(n int) Option {
	return func(o *options) error {
		if n < 0 || n > MaxSourceIPs {
			return fmt.Errorf("loadgen: source addresses must be 0 to %d, got %d", MaxSourceIPs, n)
		}
		o.srcIPs = n
		return nil
	}
}

// WithUsers sets how many users log in through POST /api/login before the
// run (default: DefaultUsers, or one per SocketsPerUser connections when
// that is more; never more than there are connections); connection i uses
// user i mod n.
func WithUsers(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("loadgen: users must be at least 1, got %d", n)
		}
		o.users = n
		return nil
	}
}

// WithToken skips the login and connects every socket with this token.
func WithToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return errors.New("loadgen: empty token")
		}
		o.token = token
		return nil
	}
}

// WithoutLogin skips the login and connects without a token, for servers
// that accept anyone.
func WithoutLogin() Option {
	return func(o *options) error { o.noLogin = true; return nil }
}

// WithServerPID names the server's process, whose CPU time and resident
// memory (VmRSS) are then read from /proc before and after the measured
// window. Linux only; 0 turns it off.
func WithServerPID(pid int) Option {
	if pid == 0 {
		return func(o *options) error { o.pids = nil; return nil }
	}
	return WithServerPIDs(pid)
}

// WithServerPIDs names several server processes, the nodes of a cluster
// under test: the report's server figures (CPU time, its share of the
// CPUs, VmRSS) are summed over them, and Header.Servers has each one's.
// Storm's memory per connection reads the first only.
func WithServerPIDs(pids ...int) Option {
	return func(o *options) error {
		seen := map[int]bool{}
		for _, pid := range pids {
			if pid <= 0 {
				return fmt.Errorf("loadgen: process id must be positive, got %d", pid)
			}
			if seen[pid] {
				return fmt.Errorf("loadgen: process id %d given twice", pid)
			}
			seen[pid] = true
		}
		o.pids = slices.Clone(pids)
		return nil
	}
}

// WithMoreTargets spreads fan-out's subscribers over further servers, the
// other nodes of a cluster that the target is one of: with n servers in
// all, the target first, subscriber i connects to server i mod n, and the
// publisher to the target. Logins go to the target alone, so the servers
// must accept each other's tokens (pyre chat nodes given the same
// -secret). Each server must be on loopback, like the target. The report
// has each server's share in FanoutReport.PerTarget. Other modes ignore
// it.
func WithMoreTargets(targets ...string) Option {
	return func(o *options) error {
		for _, t := range targets {
			if _, err := parseTarget(t); err != nil {
				return err
			}
		}
		o.more = slices.Clone(targets)
		return nil
	}
}

// WithLimit sets the hard wall-clock limit of the whole run, setup and
// teardown included (default 5 minutes).
func WithLimit(d time.Duration) Option {
	return func(o *options) error { return positiveDuration("limit", d, &o.limit) }
}

// WithHeartbeat sets how often every connection sends a Phoenix heartbeat
// (default 30 seconds).
func WithHeartbeat(d time.Duration) Option {
	return func(o *options) error { return positiveDuration("heartbeat interval", d, &o.heartbeat) }
}

// WithConcurrency sets how many connections are being opened at once
// (default 100).
func WithConcurrency(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("loadgen: concurrency must be at least 1, got %d", n)
		}
		o.conc = n
		return nil
	}
}

// WithReplyTimeout bounds each wait: for a WebSocket handshake, a login, a
// join reply or a ping reply, and, in fan-out, for the next delivery while
// the publisher waits for its window (default 10 seconds).
func WithReplyTimeout(d time.Duration) Option {
	return func(o *options) error { return positiveDuration("reply timeout", d, &o.replyTimeout) }
}

// WithTopic sets the topic: for fan-out the one topic (default
// room:fanout), for storm and ping the prefix to which the connection's
// number is appended (default room:storm- and room:ping-).
func WithTopic(topic string) Option {
	return func(o *options) error {
		if topic == "" {
			return errors.New("loadgen: empty topic")
		}
		o.topic = topic
		return nil
	}
}

// WithLogger receives progress messages at debug level (default: none).
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// WithDuration bounds the measured window: how long fan-out publishes,
// how long ping runs and how long a reconnect storm's clients keep trying
// (default 15 seconds).
func WithDuration(d time.Duration) Option {
	return func(o *options) error { return positiveDuration("duration", d, &o.duration) }
}

// WithCount bounds the work: the messages fan-out publishes, or the round
// trips each ping client makes (default 1 000 000).
func WithCount(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("loadgen: count must be at least 1, got %d", n)
		}
		o.count = n
		return nil
	}
}

// WithRate makes fan-out publish at a fixed rate in messages per second
// instead of as fast as the window allows. 0 (the default) turns pacing off.
func WithRate(perSecond float64) Option {
	return func(o *options) error {
		if perSecond < 0 || perSecond > 1e7 {
			return fmt.Errorf("loadgen: rate must be 0 to 1e7 messages per second, got %g", perSecond)
		}
		o.rate = perSecond
		return nil
	}
}

// WithWindow sets fan-out's flow control when no rate is given: the
// publisher waits while more than n messages per subscriber are still on
// their way (default 32). 0 publishes with no flow control at all, which
// overloads the server on purpose to exercise its slow-consumer handling.
func WithWindow(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("loadgen: window must not be negative, got %d", n)
		}
		o.window = n
		return nil
	}
}

// WithPayloadSize sets how many bytes of padding each fan-out message
// carries besides its sequence number and timestamp (default 64).
func WithPayloadSize(n int) Option {
	return func(o *options) error {
		if n < 0 || n > 512<<10 {
			return fmt.Errorf("loadgen: payload size must be 0 to %d bytes, got %d", 512<<10, n)
		}
		o.size = n
		return nil
	}
}

// WithDrain sets how long fan-out waits, once publishing ends, for the
// deliveries still on their way (default 10 seconds).
func WithDrain(d time.Duration) Option {
	return func(o *options) error { return positiveDuration("drain time", d, &o.drain) }
}

// WithSlow makes n of fan-out's subscribers slow consumers (default 0):
// once the measured window opens they stop reading, keeping their sockets
// open (and sending nothing, not even heartbeats), so that what the server
// sends them piles up in the kernel's buffers and then in its own queue
// for them. When publishing ends they read again, through what was
// buffered, until the server's close frame or the end of the connection,
// for at most WithDrain; the report says how many the server had closed,
// with which close codes, and when. They count in none of the other
// figures, and flow control waits only for the other subscribers. There
// must be fewer slow subscribers than subscribers.
func WithSlow(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("loadgen: slow subscribers must not be negative, got %d", n)
		}
		o.slow = n
		return nil
	}
}

// WithHold keeps a storm's connections open for d once they have all
// joined, heartbeating, before closing them (default 0).
func WithHold(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("loadgen: hold must not be negative, got %v", d)
		}
		o.hold = d
		return nil
	}
}

// WithJitter spreads each wait of a reconnect storm's backoff evenly over
// ±f of it (0 to 1; default 0, phoenix.js's schedule as it is).
func WithJitter(f float64) Option {
	return func(o *options) error {
		if !(f >= 0 && f <= 1) {
			return fmt.Errorf("loadgen: jitter must be 0 to 1, got %g", f)
		}
		o.jitter = f
		return nil
	}
}
