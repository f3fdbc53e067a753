package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/examples/chat"
	"github.com/pyrehq/pyre/socket"
)

// chatMinBurst is the smallest burst of events a chat socket may send
// above its rate: joining a room and typing come in small bunches.
const chatMinBurst = 20

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
	if err := checkAssets(c.Assets); err != nil {
		return err
	}
	if c.Cluster.NATS != "" && c.Secret == "" {
		// A secret drawn per process makes every node refuse the tokens
		// of the others, so a client behind a load balancer is logged
		// out at its first reconnect.
		return errors.New("-nats runs a cluster, whose nodes must verify each other's tokens: " +
			"give every node the same -secret (or PYRE_SECRET), at least 16 characters")
	}
	return nil
}

// parseChat reads and checks the flags of pyre chat.
func parseChat(args []string, errOut io.Writer) (chatConfig, error) {
	cfg := chatConfig{}
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(errOut)
	cfg.register(fs, "bearer key for /api/broadcast and /api/disconnect (empty disables them)")
	fs.StringVar(&cfg.Assets, "assets", os.Getenv("PYRE_ASSETS"), "directory holding the page's phoenix.mjs, such as npm's node_modules/phoenix/priv/static (default: the copy built into the binary)")
	clusterFlags(fs, &cfg.Cluster)
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 10, "events per second one socket may send, in bursts of as many and at least 20 (0: no limit); "+
		"the default is a person's pace: a benchmark needs -rate-limit 100000")
	fs.IntVar(&cfg.MaxQueue, "max-queue", 4<<20, "bytes queued for one client before it is closed as a slow consumer (code 4000)")
	fs.DurationVar(&cfg.WriteWait, "write-timeout", 10*time.Second, "a write to a client that takes longer closes it")
	fs.StringVar(&cfg.Pprof, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off when empty")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func runChat(ctx context.Context, args []string, errOut io.Writer) error {
	cfg, err := parseChat(args, errOut)
	if err != nil {
		return err
	}
	log, err := cfg.logger(errOut)
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
		SocketOptions: append(cfg.socketOptions(),
			socket.WithRateLimit(cfg.RateLimit, max(int(cfg.RateLimit), chatMinBurst), 1000),
			socket.WithMaxQueueBytes(cfg.MaxQueue),
			socket.WithWriteTimeout(cfg.WriteWait),
		),
	})
	if err != nil {
		return err
	}
	if !chat.EmbeddedClient() && cfg.Assets == "" {
		log.Error().Msg(noClient)
	}
	return serve(ctx, log, "chat", cfg.Addr, cfg.DrainTime, withMetrics(app))
}

// noClient is what pyre chat says at start-up when it has no phoenix.js
// client for its page: the page would load, and its script would not.
const noClient = "this binary has no phoenix.js client for the chat page (phoenix.mjs), so the page cannot run: " +
	"build it with `make build` or `make install`, which copy the client from npm into the binary, " +
	"or start it with -assets DIR (or PYRE_ASSETS), DIR holding phoenix.mjs: " +
	"`npm install phoenix@1.8` puts one in node_modules/phoenix/priv/static"

// checkAssets fails unless dir, when given, holds phoenix.mjs.
func checkAssets(dir string) error {
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, "phoenix.mjs")); err != nil {
		return fmt.Errorf("-assets %s: no phoenix.mjs there (npm's node_modules/phoenix/priv/static has one)", dir)
	}
	return nil
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
