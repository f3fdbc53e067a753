// Command pyre runs pyre's example applications.
//
//	pyre chat -addr 127.0.0.1:4000 -admin-key KEY [-secret S]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/examples/chat"
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
	case "-h", "-help", "--help", "help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "pyre: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pyre:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: pyre <command> [flags]

commands:
  chat   run the chat example (pyre chat -h for flags)`)
}

// chatConfig is the chat command's configuration.
type chatConfig struct {
	Addr      string
	AdminKey  string
	Secret    string
	Assets    string
	Node      string
	LogLevel  string
	DrainTime time.Duration
}

func (c chatConfig) validate() error {
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

func runChat(args []string) error {
	cfg := chatConfig{}
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:4000", "listen address")
	fs.StringVar(&cfg.AdminKey, "admin-key", os.Getenv("PYRE_ADMIN_KEY"), "bearer key for /api/broadcast and /api/disconnect (empty disables them)")
	fs.StringVar(&cfg.Secret, "secret", os.Getenv("PYRE_SECRET"), "token signing secret (default: random per process)")
	fs.StringVar(&cfg.Assets, "assets", "node_modules/phoenix/priv/static", "directory holding phoenix.mjs")
	fs.StringVar(&cfg.Node, "node", "", "node name (default: host name)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&cfg.DrainTime, "drain", 10*time.Second, "time allowed for draining sockets on shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	log := zerolog.New(os.Stderr).Level(level).With().Timestamp().Logger()

	app, err := chat.New(chat.Config{
		AdminKey: cfg.AdminKey, Secret: []byte(cfg.Secret), AssetsDir: cfg.Assets, Logger: log, Node: cfg.Node,
	})
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Assets + "/phoenix.mjs"); err != nil {
		log.Warn().Str("assets", cfg.Assets).Msg("phoenix.mjs not found: run npm install for the chat page")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info().Str("addr", ln.Addr().String()).Msg("pyre chat listening")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTime)
	defer cancel()
	if err := app.Shutdown(sctx); err != nil {
		log.Error().Err(err).Msg("drain incomplete")
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info().Msg("stopped")
	return nil
}
