package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/examples/chat"
	"github.com/pyrehq/pyre/examples/donations"
	"github.com/pyrehq/pyre/socket"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "chat":
		err = runChat(os.Args[2:])
	case "donations":
		err = runDonations(os.Args[2:])
	case "bench":
		err = runBench(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "pyre: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the flag set has printed its usage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyre:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: pyre <command> [flags]

commands:
  chat        run the chat example (pyre chat -h for flags)
  donations   run the donations example: live campaign totals, an admin
              dashboard, restart policies and a supervision tree
              (pyre donations -h for flags)
  bench       load-test a pyre or Phoenix server on loopback: storm,
              fanout, ping (pyre bench -h for modes and flags)`)
}

// serverConfig holds the flags every serving command shares.
type serverConfig struct {
	Addr      string
	AdminKey  string
	Secret    string
	Node      string
	LogLevel  string
	DrainTime time.Duration
}

// register adds the shared flags; adminUse says what the admin key guards.
func (c *serverConfig) register(fs *flag.FlagSet, adminUse string) {
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:4000", "listen address")
	fs.StringVar(&c.AdminKey, "admin-key", os.Getenv("PYRE_ADMIN_KEY"), adminUse)
	fs.StringVar(&c.Secret, "secret", os.Getenv("PYRE_SECRET"), "token signing secret (default: random per process)")
	fs.StringVar(&c.Node, "node", os.Getenv("PYRE_NODE"), "node name, unique in a cluster (default: host name and a random suffix)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.DrainTime, "drain", 10*time.Second, "time allowed for draining sockets on shutdown")
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
	return nil
}

// logger is the command's JSON logger on stderr at -log-level.
func (c serverConfig) logger() (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		return zerolog.Logger{}, err
	}
	return zerolog.New(os.Stderr).Level(level).With().Timestamp().Logger(), nil
}

// chatConfig is the chat command's configuration.
type chatConfig struct {
	serverConfig
	Assets    string
	Cluster   cluster.Config
	Pprof     string
	RateLimit float64
	MaxQueue  int
	WriteWait time.Duration
}

func (c chatConfig) validate() error {
	if err := c.serverConfig.validate(); err != nil {
		return err
	}
	if c.RateLimit < 0 {
		return errors.New("-rate-limit must not be negative")
	}
	return nil
}

func runChat(args []string) error {
	cfg := chatConfig{}
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	cfg.register(fs, "bearer key for /api/broadcast and /api/disconnect (empty disables them)")
	fs.StringVar(&cfg.Assets, "assets", "node_modules/phoenix/priv/static", "directory holding phoenix.mjs")
	clusterFlags(fs, &cfg.Cluster)
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 100000, "events per second one socket may send (0: no limit); a fan-out benchmark's publisher needs a high one")
	fs.IntVar(&cfg.MaxQueue, "max-queue", 4<<20, "bytes queued for one client before it is closed as a slow consumer (code 4000)")
	fs.DurationVar(&cfg.WriteWait, "write-timeout", 10*time.Second, "a write to a client that takes longer closes it")
	fs.StringVar(&cfg.Pprof, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off when empty")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log, err := cfg.logger()
	if err != nil {
		return err
	}

	if cfg.Pprof != "" {
		startPprof(log, cfg.Pprof)
	}
	cfg.Cluster.Node, cfg.Cluster.Logger = cfg.Node, log
	node, err := cluster.Start(cfg.Cluster)
	if err != nil {
		return err
	}
	defer node.Close()
	appLog := log // socket, presence and pubsub name the node in their lines themselves
	log = log.With().Str("node", node.Name()).Logger()
	app, err := chat.New(chat.Config{
		AdminKey: cfg.AdminKey, Secret: []byte(cfg.Secret), AssetsDir: cfg.Assets, Logger: appLog, Cluster: node,
		SocketOptions: []socket.Option{
			socket.WithRateLimit(cfg.RateLimit, max(int(cfg.RateLimit), 1), 1000),
			socket.WithMaxQueueBytes(cfg.MaxQueue),
			socket.WithWriteTimeout(cfg.WriteWait),
		},
	})
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Assets + "/phoenix.mjs"); err != nil {
		log.Warn().Str("assets", cfg.Assets).Msg("phoenix.mjs not found: run npm install for the chat page")
	}
	return serve(log, "chat", cfg.Addr, cfg.DrainTime, app)
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

// clusterFlags registers the flags that say how a node reaches the others.
func clusterFlags(fs *flag.FlagSet, c *cluster.Config) {
	fs.StringVar(&c.NATS, "nats", os.Getenv("PYRE_NATS"), `"" for a single node; "embedded" to run a NATS server in this process; or nats://host:4222[,nats://...] to join a cluster`)
	fs.StringVar(&c.Listen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (with -nats embedded)")
	fs.StringVar(&c.Prefix, "nats-prefix", "pyre", "first token of every NATS subject, to share a NATS cluster between applications")
	fs.StringVar(&c.JetStream, "jetstream", os.Getenv("PYRE_JETSTREAM"), "keep the history of recoverable topics in NATS JetStream: with -nats embedded, the directory its server stores in; against NATS servers with JetStream on, any value")
	fs.BoolVar(&c.JetStreamMemory, "jetstream-memory", false, "keep the JetStream histories in the NATS servers' memory instead of on disk")
	fs.StringVar(&c.CredsFile, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&c.User, "nats-user", "", "NATS user")
	fs.StringVar(&c.Password, "nats-password", os.Getenv("PYRE_NATS_PASSWORD"), "NATS password")
	fs.StringVar(&c.Token, "nats-token", os.Getenv("PYRE_NATS_TOKEN"), "NATS authentication token")
	fs.StringVar(&c.TLSCA, "nats-tls-ca", "", "PEM file of the CA for NATS TLS")
	fs.StringVar(&c.TLSCert, "nats-tls-cert", "", "client certificate for NATS mutual TLS")
	fs.StringVar(&c.TLSKey, "nats-tls-key", "", "client key for NATS mutual TLS")
}

// donationsConfig is the donations command's configuration.
type donationsConfig struct {
	serverConfig
	Refresh time.Duration
}

func (c donationsConfig) validate() error {
	if err := c.serverConfig.validate(); err != nil {
		return err
	}
	if c.Refresh <= 0 {
		return errors.New("-refresh must be positive")
	}
	return nil
}

func runDonations(args []string) error {
	cfg := donationsConfig{}
	fs := flag.NewFlagSet("donations", flag.ContinueOnError)
	cfg.register(fs, "bearer key for /api/admin-login and /api/crash-worker (empty disables them and the dashboard)")
	fs.DurationVar(&cfg.Refresh, "refresh", donations.DefaultRefresh, "period of the campaign_refreshed broadcasts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log, err := cfg.logger()
	if err != nil {
		return err
	}

	app, err := donations.New(donations.Config{
		AdminKey: cfg.AdminKey, Secret: []byte(cfg.Secret), Refresh: cfg.Refresh, Logger: log, Node: cfg.Node,
	})
	if err != nil {
		return err
	}
	return serve(log, "donations", cfg.Addr, cfg.DrainTime, app)
}

// service is what a command serves: an HTTP handler that drains on
// Shutdown.
type service interface {
	http.Handler
	Shutdown(ctx context.Context) error
}

// serve listens on addr and serves a until SIGINT or SIGTERM, then drains
// it within drain. a is shut down on every path out once it has been
// handed over.
func serve(log zerolog.Logger, name, addr string, drain time.Duration, a service) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		shutdown(log, a, drain)
		return err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info().Str("command", name).Str("addr", ln.Addr().String()).Msg("pyre listening")

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

// shutdown stops a after the server failed to start or to serve.
func shutdown(log zerolog.Logger, a service, drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		log.Error().Err(err).Msg("drain incomplete")
	}
}
