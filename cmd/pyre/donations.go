package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/examples/donations"
)

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

// parseDonations reads and checks the flags of pyre donations.
func parseDonations(args []string, errOut io.Writer) (donationsConfig, error) {
	cfg := donationsConfig{}
	fs := flag.NewFlagSet("donations", flag.ContinueOnError)
	fs.SetOutput(errOut)
	cfg.register(fs, "bearer key for /api/admin-login and /api/crash-worker (empty disables them and the dashboard)")
	fs.DurationVar(&cfg.Refresh, "refresh", donations.DefaultRefresh, "period of the campaign_refreshed broadcasts")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func runDonations(ctx context.Context, args []string, errOut io.Writer) error {
	cfg, err := parseDonations(args, errOut)
	if err != nil {
		return err
	}
	log, err := cfg.logger(errOut)
	if err != nil {
		return err
	}

	node := cfg.Node
	if node == "" {
		node = cluster.NodeName()
	}
	app, err := donations.New(donations.Config{
		AdminKey: cfg.AdminKey, Secret: []byte(cfg.Secret), Refresh: cfg.Refresh, Node: node,
		Logger:        log, // socket and presence name the node in their lines themselves
		SocketOptions: cfg.socketOptions(),
	})
	if err != nil {
		return err
	}
	log = log.With().Str("node", node).Logger()
	return serve(ctx, log, "donations", cfg.Addr, cfg.DrainTime, withMetrics(app))
}
