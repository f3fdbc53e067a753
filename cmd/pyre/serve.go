package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/socket"
)

// serverConfig holds the flags every serving command shares.
type serverConfig struct {
	Addr      string
	AdminKey  string
	Secret    string
	Node      string
	LogLevel  string
	DrainTime time.Duration
	// Assets is where the page's phoenix.mjs comes from ("": the binary).
	Assets string
	// New connections admitted per second and in a burst (0: no limit):
	// the clients of a drained node all come back at once.
	AdmitRate  float64
	AdmitBurst int
	// Long-poll sessions in all and of one user: a session lives until
	// its timeout without a single poll, so one login token could
	// otherwise open them by the thousand.
	LongPollSessions        int
	LongPollSessionsPerUser int
	// Live sockets of one user (socket id), over every transport, and of
	// one IP address; 0: no cap. The first is on by default, at a count
	// of tabs no person opens; the second is off, since behind a proxy
	// every client shares one address.
	MaxSocketsPerUser int
	MaxConnsPerAddr   int
	// MemoryLimit is the Go runtime's soft memory limit (memlimit.go).
	MemoryLimit memoryLimit

	flags *flagSet // what set the fields above, for the logged configuration
}

// defaultMaxSocketsPerUser is the serving commands' cap on one user's live
// sockets: more tabs than a person keeps open, far fewer than a script
// with one login needs to hold a node's sockets. A load test that logs in
// fewer users than it opens sockets passes -max-sockets-per-user 0.
const defaultMaxSocketsPerUser = 16

// Admission control's defaults for the serving commands (BENCHMARKS.md,
// "Reconnect storm"): on this two-core machine a node takes about 6 800
// connect+joins a second, so 10 000 or 18 000 phoenix.js clients coming
// back at once get in as fast as with no limit (the burst takes the first
// 10 000), while a larger flood, or one against a costlier Connect, is
// held to 5 000 a second. A rate below what the node can take only
// multiplies the attempts: phoenix.js retries a refusal six times in its
// first second.
const (
	defaultAdmitRate  = 5000
	defaultAdmitBurst = 10000
)

// register adds the shared flags; adminUse says what the admin key guards.
func (c *serverConfig) register(fs *flagSet, adminUse string) {
	c.flags = fs
	fs.in(groupServer)
	fs.str(&c.Addr, "addr", "127.0.0.1:4000", "listen address")
	fs.duration(&c.DrainTime, "drain", 10*time.Second, "time allowed for draining sockets on shutdown")
	fs.str(&c.Assets, "assets", "", "directory holding the page's phoenix.mjs, such as npm's node_modules/phoenix/priv/static (default: the copy built into the binary)")
	fs.in(groupSecurity)
	fs.secretStr(&c.AdminKey, "admin-key", adminUse)
	fs.secretStr(&c.Secret, "secret", "token signing secret, at least 16 characters (default: random per process)")
	fs.in(groupLimits)
	fs.float(&c.AdmitRate, "admit-rate", defaultAdmitRate, "new connections admitted per second; the rest get HTTP 503 with Retry-After "+
		"and phoenix.js retries (0: no limit)")
	fs.int(&c.AdmitBurst, "admit-burst", defaultAdmitBurst, "new connections admitted at once above -admit-rate")
	fs.int(&c.MaxSocketsPerUser, "max-sockets-per-user", defaultMaxSocketsPerUser, "live sockets one user holds at most, "+
		"WebSocket and long-poll together (a tab each); one more gets HTTP 429 and phoenix.js retries after its backoff "+
		"(0: no limit; a load test logging in fewer users than it opens sockets needs 0)")
	fs.int(&c.MaxConnsPerAddr, "max-conns-per-addr", 0, "live sockets one IP address holds at most; one more gets HTTP 429 "+
		"(0: no limit; behind a proxy every client has the proxy's address)")
	c.MemoryLimit = memoryLimit{mode: "auto"}
	fs.Var(&c.MemoryLimit, "memory-limit", "the Go runtime's soft memory limit, a `size` in bytes or with KiB, MiB or GiB: near it the "+
		"garbage collector runs more often instead of letting the heap grow to twice what is live; "+
		"auto: GOMEMLIMIT if set, else 90% of the cgroup's memory limit, else 75% of the machine's memory; off: none")
	fs.add("memory-limit")
	fs.in(groupLongPoll)
	fs.int(&c.LongPollSessions, "longpoll-sessions", 10000, "long-poll sessions the server holds at most")
	fs.int(&c.LongPollSessionsPerUser, "longpoll-sessions-per-user", defaultMaxSocketsPerUser, "long-poll sessions one user holds at most (a tab each)")
	fs.in(groupCluster)
	fs.str(&c.Node, "node", "", "node name, unique in a cluster (default: host name and a random suffix)")
	fs.in(groupLogging)
	fs.str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
}

func (c serverConfig) validate() error {
	if c.Addr == "" {
		return errors.New("-addr is required")
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		return errors.New("-secret must be at least 16 characters")
	}
	if c.DrainTime <= 0 {
		return errors.New("-drain must be positive")
	}
	if c.AdmitRate < 0 || (c.AdmitRate > 0 && c.AdmitBurst < 1) {
		return errors.New("-admit-rate must not be negative, and -admit-burst must be at least 1")
	}
	if c.MaxSocketsPerUser < 0 || c.MaxConnsPerAddr < 0 {
		return errors.New("-max-sockets-per-user and -max-conns-per-addr must not be negative (0: no limit)")
	}
	if c.LongPollSessions < 1 || c.LongPollSessionsPerUser < 1 {
		return errors.New("-longpoll-sessions and -longpoll-sessions-per-user must be at least 1")
	}
	return checkAssets(c.Assets)
}

// socketOptions are the socket options the shared flags set.
func (c serverConfig) socketOptions() []socket.Option {
	return []socket.Option{
		socket.WithAdmission(c.AdmitRate, c.AdmitBurst),
		socket.WithLongPollMaxSessions(c.LongPollSessions),
		socket.WithLongPollMaxSessionsPerID(c.LongPollSessionsPerUser),
		socket.WithMaxSocketsPerID(c.MaxSocketsPerUser),
		socket.WithMaxConnsPerAddr(c.MaxConnsPerAddr),
	}
}

// logger is the command's JSON logger on w at -log-level. Its first line,
// at debug level, is the effective configuration, secrets redacted.
func (c serverConfig) logger(w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		return zerolog.Logger{}, err
	}
	log := zerolog.New(w).Level(level).With().Timestamp().Logger()
	if c.flags != nil {
		c.flags.logConfig(log)
	}
	return log, nil
}

// service is what a command serves: an HTTP handler that drains on
// Shutdown.
type service interface {
	http.Handler
	Shutdown(ctx context.Context) error
}

// serve listens on addr and serves a until ctx is cancelled, then drains
// it within drain. a is shut down on every path out once it has been
// handed over.
func serve(ctx context.Context, log zerolog.Logger, name, addr string, drain time.Duration, a service) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		shutdown(log, a, drain)
		return err
	}
	// Logged before serving, so that the line comes before any answer.
	log.Info().Str("command", name).Str("addr", ln.Addr().String()).Str("url", listenURL(ln.Addr().String())).
		Msg("pyre listening")
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		shutdown(log, a, drain)
		return err
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		log.Error().Err(err).Msg("drain incomplete")
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}

// listenURL is the URL to open for a server listening on addr: a server
// on every interface is reached at localhost.
func listenURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// shutdown stops a after the server failed to start or to serve.
func shutdown(log zerolog.Logger, a service, drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		log.Error().Err(err).Msg("drain incomplete")
	}
}

// startPprof serves the profiling endpoints on their own listener, away
// from the application's mux.
func startPprof(log zerolog.Logger, addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if err := srv.ListenAndServe(); err != nil {
			log.Error().Err(err).Str("addr", addr).Msg("pprof server stopped")
		}
	}()
	log.Info().Str("addr", addr).Msg("pprof listening")
}
