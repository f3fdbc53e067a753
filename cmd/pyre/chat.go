package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/examples/chat"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/topics"
)

// chatMinBurst is the smallest burst of events a chat socket may send
// above its rate: joining a room and typing come in small bunches.
const chatMinBurst = 20

// chatConfig is the chat command's configuration.
type chatConfig struct {
	serverConfig
	Cluster    cluster.Config
	Pprof      string
	RateLimit  float64
	MaxQueue   int
	WriteWait  time.Duration
	WriteDelay time.Duration
	// PresenceWindow is how long a busy room's presence changes gather
	// before they leave as one diff (0: every change at once).
	PresenceWindow time.Duration
	// PresenceWindowMax is how long a big room's window may grow (0: it
	// does not grow).
	PresenceWindowMax time.Duration
}

func (c chatConfig) validate() error {
	if err := c.serverConfig.validate(); err != nil {
		return err
	}
	if c.RateLimit < 0 {
		return errors.New("-rate-limit must not be negative")
	}
	if c.PresenceWindow < 0 {
		return errors.New("-presence-window must not be negative")
	}
	if c.PresenceWindowMax < 0 || c.PresenceWindowMax > presence.MaxCoalesce {
		return fmt.Errorf("-presence-window-max must be between 0 and %v", presence.MaxCoalesce)
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

// chatFlags registers the flags of pyre chat on a new flag set.
func chatFlags(cfg *chatConfig) *flagSet {
	fs := newFlagSet("chat")
	cfg.register(fs, "key for /api/broadcast and /api/disconnect (as a bearer token) and for the admin view at /admin (as the password); empty disables them")
	clusterFlags(fs, &cfg.Cluster)
	fs.in(groupLimits)
	fs.float(&cfg.RateLimit, "rate-limit", 10, "events per second one socket may send, in bursts of as many and at least 20 (0: no limit); "+
		"the default is a person's pace: a benchmark needs -rate-limit 100000")
	fs.int(&cfg.MaxQueue, "max-queue", 4<<20, "bytes queued for one client before it is closed as a slow consumer (code 4000)")
	fs.duration(&cfg.WriteWait, "write-timeout", 10*time.Second, "a write to a client that takes longer closes it")
	fs.duration(&cfg.WriteDelay, "write-delay", 0, "an idle connection waits this long before its first write, gathering the frames that come meanwhile "+
		"(0: write at once); fewer system calls per delivery under heavy fan-out, every frame up to this much later")
	fs.duration(&cfg.PresenceWindow, "presence-window", chat.PresenceWindow, "a busy room's presence changes gather this long and leave as one presence_diff; "+
		"a quiet room's first change goes out at once (0: every change at once)")
	fs.duration(&cfg.PresenceWindowMax, "presence-window-max", chat.PresenceWindowMax, "a big room's window grows with its users ("+
		chat.PresenceWindowPerKey.String()+" each) up to this, so that a join storm's diffs cost about as many writes a second however big the room (0: no growth)")
	fs.in(groupLogging)
	fs.str(&cfg.Pprof, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); off when empty")
	return fs
}

// parseChat reads and checks the flags of pyre chat, and their
// environment variables.
func parseChat(args []string, errOut io.Writer) (chatConfig, error) {
	cfg := chatConfig{}
	if err := chatFlags(&cfg).parse(args, errOut); err != nil {
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

	cfg.MemoryLimit.apply(log)
	if cfg.Pprof != "" {
		startPprof(log, cfg.Pprof)
	}
	cfg.Cluster.Node, cfg.Cluster.Logger = cfg.Node, log
	node, err := cluster.Start(cfg.Cluster)
	if errors.Is(err, topics.ErrOldHistoryLayout) {
		return fmt.Errorf("%w (pyre chat: start once with -jetstream-remove-old)", err)
	}
	if err != nil {
		return err
	}
	defer node.Close()
	appLog := log // socket, presence and pubsub name the node in their lines themselves
	log = log.With().Str("node", node.Name()).Logger()
	app, err := chat.New(chat.Config{
		AdminKey: cfg.AdminKey, Secret: []byte(cfg.Secret), AssetsDir: cfg.Assets, Logger: appLog, Cluster: node,
		PresenceWindow: presenceWindow(cfg.PresenceWindow), PresenceWindowMax: presenceWindow(cfg.PresenceWindowMax),
		SocketOptions: append(cfg.socketOptions(),
			socket.WithRateLimit(cfg.RateLimit, max(int(cfg.RateLimit), chatMinBurst), 1000),
			socket.WithMaxQueueBytes(cfg.MaxQueue),
			socket.WithWriteTimeout(cfg.WriteWait),
			socket.WithWriteDelay(cfg.WriteDelay),
		),
	})
	if err != nil {
		return err
	}
	return serve(ctx, log, "chat", cfg.Addr, cfg.DrainTime, withMetrics(app))
}

// presenceWindow maps -presence-window (or -presence-window-max) onto
// chat.Config, where zero means the default and a negative window means
// none.
func presenceWindow(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

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
func clusterFlags(fs *flagSet, c *cluster.Config) {
	fs.in(groupCluster)
	fs.urls(&c.NATS, "nats", "", `"" for a single node; "embedded" to run a NATS server in this process; or nats://host:4222[,nats://...] to join a cluster`)
	fs.str(&c.Listen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (with -nats embedded)")
	fs.str(&c.Prefix, "nats-prefix", "pyre", "first token of every NATS subject, to share a NATS cluster between applications")
	fs.in(groupLimits)
	fs.size(&c.HistoryBudget, "history-budget", topics.DefaultHistoryBudget, "memory all the histories of recoverable topics take together on this node, "+
		"a `size` in bytes or with KiB, MiB or GiB; past it the least recently used topics lose their oldest messages, and a client "+
		"that needed them is told to resync (not used with -jetstream)")
	fs.duration(&c.HistoryIdleTTL, "history-idle", topics.DefaultIdleTTL, "a topic with no subscriber and no message for this long drops its history (not used with -jetstream)")
	fs.in(groupCluster)
	fs.str(&c.JetStream, "jetstream", "", "keep the history of recoverable topics in NATS JetStream: with -nats embedded, the directory its server stores in; against NATS servers with JetStream on, any value")
	fs.bool(&c.JetStreamMemory, "jetstream-memory", false, "keep the JetStream histories in the NATS servers' memory instead of on disk")
	fs.int(&c.JetStreamPartitions, "jetstream-partitions", topics.DefaultHistoryPartitions, "streams each retention class of the JetStream histories is spread over, by topic (1 to 16; every node must say the same)")
	fs.size(&c.JetStreamMaxBytes, "jetstream-max-bytes", topics.DefaultHistoryMaxBytes, "what one retention class of the JetStream histories keeps at most, over its streams, a `size` in bytes or with KiB, MiB or GiB; past it the oldest messages go")
	fs.bool(&c.JetStreamRemoveOld, "jetstream-remove-old", false, "at start, delete the history streams of pyre's old JetStream layout (a stream per topic) instead of refusing to start; their histories are lost and clients resync")
	fs.str(&c.CredsFile, "nats-creds", "", "NATS credentials file")
	fs.str(&c.User, "nats-user", "", "NATS user")
	fs.secretStr(&c.Password, "nats-password", "NATS password")
	fs.secretStr(&c.Token, "nats-token", "NATS authentication token")
	fs.str(&c.TLSCA, "nats-tls-ca", "", "PEM file of the CA for NATS TLS")
	fs.str(&c.TLSCert, "nats-tls-cert", "", "client certificate for NATS mutual TLS")
	fs.str(&c.TLSKey, "nats-tls-key", "", "client key for NATS mutual TLS")
}
