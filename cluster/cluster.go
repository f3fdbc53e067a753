package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/topics"
)

// Embedded is the Config.NATS value that starts an in-process NATS server.
const Embedded = "embedded"

// Config says how a node reaches the others. The zero value is a single
// node with a generated name.
type Config struct {
	NATS   string // "", "embedded", or comma-separated NATS URLs
	Listen string // embedded server's client address; default 127.0.0.1:4222
	Node   string // this node's name; default host name plus a random suffix
	Prefix string // first subject token; default "pyre"
	// JetStream, when set, keeps the histories of recoverable topics in
	// NATS JetStream, shared by every node (see topics.JetStream). With
	// an embedded server it is the directory the server stores them in;
	// against other NATS servers they must have JetStream enabled, and
	// any non-empty value turns it on.
	JetStream string
	// JetStreamMemory keeps the histories in the NATS servers' memory
	// instead of on disk.
	JetStreamMemory bool
	// JetStreamPartitions is how many streams each retention class is
	// spread over (topics.WithHistoryPartitions; zero means its default).
	// Every node of a cluster must use the same.
	JetStreamPartitions int
	// JetStreamMaxBytes bounds what one retention class keeps in all
	// (topics.WithHistoryMaxBytes; zero means its default, -1 no bound).
	JetStreamMaxBytes int64
	// JetStreamRemoveOld deletes, at start, the history streams of the
	// layout pyre used before (one per topic) instead of refusing to
	// start (topics.WithOldHistoryRemoved).
	JetStreamRemoveOld bool
	// HistoryBudget bounds, in bytes, the memory of all the histories this
	// node keeps when they are not in JetStream (topics.WithHistoryBudget;
	// zero means topics.DefaultHistoryBudget).
	HistoryBudget int64
	// HistoryIdleTTL is how long a topic with no subscriber and no
	// broadcast keeps its history in memory (topics.WithIdleTTL; zero
	// means topics.DefaultIdleTTL).
	HistoryIdleTTL time.Duration

	// Credentials and TLS, passed to nats.go as they are.
	CredsFile string // a NATS .creds file (JWT and NKey seed)
	User      string
	Password  string
	Token     string
	TLSCA     string // PEM file of the CA that signed the servers' certificates
	TLSCert   string // client certificate and key files, for mutual TLS
	TLSKey    string

	// NameCheck bounds the wait for an answer when Start checks that the
	// node name is free (default 250 ms).
	NameCheck time.Duration

	// Heartbeat is the period of the membership heartbeat (see Members);
	// zero means DefaultHeartbeat.
	Heartbeat time.Duration

	// Options are extra nats.go options, applied after pyre's own.
	Options []nats.Option

	Logger zerolog.Logger
}

// ErrNameTaken is returned by Start when another live node has the name.
var ErrNameTaken = errors.New("cluster: node name already in use")

// Node is a started PubSub and, in the NATS modes, its connection.
type Node struct {
	name    string
	prefix  string
	mode    string
	ps      *topics.PubSub
	nc      *nats.Conn
	adapter *topics.NATS
	memory  *topics.MemoryHistory // the histories, unless in JetStream
	history *topics.JetStream     // with Config.JetStream
	srv     *server.Server
	nameSub *nats.Subscription
	members *members
	log     zerolog.Logger

	closeOnce sync.Once
}

// Start builds the node's PubSub as cfg says.
func Start(cfg Config) (*Node, error) {
	if cfg.Node == "" {
		cfg.Node = NodeName()
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "pyre"
	}
	if cfg.NameCheck <= 0 {
		cfg.NameCheck = 250 * time.Millisecond
	}
	n := &Node{name: cfg.Node, prefix: cfg.Prefix, ps: topics.New(), members: newMembers(cfg.Node, cfg.Heartbeat),
		log: cfg.Logger.With().Str("node", cfg.Node).Logger()}
	if cfg.JetStream == "" {
		if err := n.memoryHistory(cfg); err != nil {
			return nil, err
		}
	}
	switch strings.TrimSpace(cfg.NATS) {
	case "":
		if cfg.JetStream != "" {
			return nil, errors.New("cluster: JetStream histories need NATS (-nats embedded or a NATS URL)")
		}
		n.mode = "single"
		n.log.Info().Msg("single node, in-process pubsub")
		return n, nil
	case Embedded:
		n.mode = "embedded"
		if err := n.startServer(cfg); err != nil {
			return nil, err
		}
	default:
		n.mode = "nats"
	}
	if err := n.connect(cfg); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// memoryHistory gives the node's PubSub a memory store of histories with
// cfg's bounds.
func (n *Node) memoryHistory(cfg Config) error {
	var opts []topics.MemoryOption
	if cfg.HistoryBudget != 0 {
		opts = append(opts, topics.WithHistoryBudget(cfg.HistoryBudget))
	}
	if cfg.HistoryIdleTTL != 0 {
		opts = append(opts, topics.WithIdleTTL(cfg.HistoryIdleTTL))
	}
	m, err := topics.NewMemoryHistory(opts...)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := n.ps.UseHistory(m); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.memory = m
	return nil
}

// NodeName returns a fresh node name: the host name and a random suffix
// of six hex digits, the name Start gives a node whose Config names none.
func NodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "pyre"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

func (n *Node) startServer(cfg Config) error {
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("cluster: -nats-listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("cluster: -nats-listen %q: bad port", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: cfg.Node,
		Host:       host,
		Port:       port,
		NoSigs:     true,
		MaxPayload: 8 << 20, // a 1 MiB frame and its envelope fit with room to spare
		JetStream:  cfg.JetStream != "",
		StoreDir:   cfg.JetStream,
	})
	if err != nil {
		return fmt.Errorf("cluster: embedded nats server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{n.log.With().Str("component", "nats-server").Logger()}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("cluster: embedded nats server did not start on %s", listen)
	}
	n.srv = srv
	n.log.Info().Str("url", srv.ClientURL()).Msg("embedded nats server listening")
	return nil
}

func (n *Node) connect(cfg Config) error {
	log := n.log.With().Str("component", "nats").Logger()
	opts := []nats.Option{
		nats.Name("pyre " + cfg.Node),
		nats.NoEcho(),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ConnectHandler(func(c *nats.Conn) {
			log.Info().Str("server", c.ConnectedUrlRedacted()).Msg("nats connected")
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("nats disconnected; serving local subscribers only until it is back")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("server", c.ConnectedUrlRedacted()).Uint64("reconnects", c.Stats().Reconnects).Msg("nats reconnected; subscriptions restored")
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Info().Msg("nats connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			ev := log.Warn().Err(err)
			if s != nil {
				ev = ev.Str("subject", s.Subject)
			}
			ev.Msg("nats error")
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	url := cfg.NATS
	if n.srv != nil {
		opts = append(opts, nats.InProcessServer(n.srv))
		url = n.srv.ClientURL()
	}
	opts = append(opts, cfg.Options...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("cluster: nats: %w", err)
	}
	n.nc = nc
	if err := n.claimName(cfg); err != nil {
		return err
	}
	a, err := topics.NewNATS(n.ps, nc, topics.WithNode(cfg.Node), topics.WithSubjectPrefix(cfg.Prefix), topics.WithLogger(n.log))
	if err != nil {
		return err
	}
	n.adapter = a
	if err := n.members.start(nc, cfg.Prefix); err != nil {
		return fmt.Errorf("cluster: nats: %w", err)
	}
	if cfg.JetStream != "" {
		hopts := []topics.JetStreamOption{topics.WithHistoryNode(cfg.Node), topics.WithHistoryPrefix(cfg.Prefix),
			topics.WithHistoryLogger(n.log)}
		if cfg.JetStreamMemory {
			hopts = append(hopts, topics.WithMemoryStorage())
		}
		if cfg.JetStreamPartitions != 0 {
			hopts = append(hopts, topics.WithHistoryPartitions(cfg.JetStreamPartitions))
		}
		if cfg.JetStreamMaxBytes != 0 {
			hopts = append(hopts, topics.WithHistoryMaxBytes(cfg.JetStreamMaxBytes))
		}
		if cfg.JetStreamRemoveOld {
			hopts = append(hopts, topics.WithOldHistoryRemoved())
		}
		h, err := topics.NewJetStream(n.ps, nc, hopts...)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		n.history = h
		n.log.Info().Msg("histories of recoverable topics kept in JetStream")
	}
	return nil
}

// claimName asks whether a live node answers to this name, then answers to
// it itself. It is skipped while the first connection is still being tried.
func (n *Node) claimName(cfg Config) error {
	subject := cfg.Prefix + ".node." + topics.SubjectToken(cfg.Node)
	if n.nc.IsConnected() {
		if _, err := n.nc.Request(subject, nil, cfg.NameCheck); err == nil {
			return fmt.Errorf("%w: %q", ErrNameTaken, cfg.Node)
		}
	}
	sub, err := n.nc.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond([]byte(cfg.Node)) })
	if err != nil {
		return fmt.Errorf("cluster: nats: %w", err)
	}
	n.nameSub = sub
	// Subscribe only queues the interest: flush it, so that a node started
	// right after this one (or racing it) finds the name taken. Without a
	// connection the flush fails; the subscription is made on reconnect.
	if n.nc.IsConnected() {
		if err := n.nc.FlushTimeout(cfg.NameCheck); err != nil {
			n.log.Warn().Err(err).Msg("node name claim not confirmed by NATS")
		}
	}
	return nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Prefix returns the first token of the node's NATS subjects; presence
// replication uses it too.
func (n *Node) Prefix() string { return n.prefix }

// PubSub returns the node's PubSub.
func (n *Node) PubSub() *topics.PubSub { return n.ps }

// Conn returns the NATS connection, or nil for a single node.
func (n *Node) Conn() *nats.Conn { return n.nc }

// ServerURL returns the embedded NATS server's client URL, or "".
func (n *Node) ServerURL() string {
	if n.srv == nil {
		return ""
	}
	return n.srv.ClientURL()
}

// Health is the node's state as /healthz reports it.
type Health struct {
	Node string            `json:"node"`
	Mode string            `json:"mode"` // single, embedded or nats
	OK   bool              `json:"ok"`   // false while NATS is unreachable
	NATS *topics.NATSStats `json:"nats,omitempty"`
	// History counts what this node recorded in JetStream and what its
	// live subscriptions missed, when it keeps its histories there.
	History *topics.HistoryStats `json:"history,omitempty"`
}

// Health reports the mode and, with NATS, the connection state and counters.
func (n *Node) Health() Health {
	h := Health{Node: n.name, Mode: n.mode, OK: true}
	if n.adapter != nil {
		s := n.adapter.Stats()
		h.NATS = &s
		h.OK = n.nc.IsConnected()
	}
	if n.history != nil {
		s := n.history.Stats()
		h.History = &s
	}
	return h
}

// Close stops the adapter, drains the NATS connection and stops an embedded
// server. Broadcasts made afterwards stay local.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.memory != nil {
			_ = n.memory.Close()
		}
		if n.history != nil {
			if err := n.history.Close(); err != nil {
				n.log.Warn().Err(err).Msg("closing the history")
			}
		}
		if n.adapter != nil {
			n.adapter.Close()
		}
		if n.nc != nil {
			n.members.close()
			if n.nameSub != nil {
				_ = n.nameSub.Unsubscribe()
			}
			n.nc.Close()
		}
		if n.srv != nil {
			n.srv.Shutdown()
			n.srv.WaitForShutdown()
		}
	})
	return nil
}

// serverLogger sends the embedded server's log lines to zerolog.
type serverLogger struct{ l zerolog.Logger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debug().Msgf(format, v...) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warn().Msgf(format, v...) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Error().Msgf(format, v...) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Error().Msgf(format, v...) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Debug().Msgf(format, v...) }
func (s serverLogger) Tracef(format string, v ...any)  { s.l.Trace().Msgf(format, v...) }
