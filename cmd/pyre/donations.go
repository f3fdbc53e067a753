package main

import (
	"context"
	"errors"
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

// donationsFlags registers the flags of pyre donations on a new flag set.
func donationsFlags(cfg *donationsConfig) *flagSet {
	fs := newFlagSet("donations")
	cfg.register(fs, "key for /api/admin-login and /api/crash-worker (as a bearer token) and for the admin view at /admin (as the password); empty disables them and the dashboard channel")
	fs.in(groupServer)
	fs.duration(&cfg.Refresh, "refresh", donations.DefaultRefresh, "period of the campaign_refreshed broadcasts")
	return fs
}

// parseDonations reads and checks the flags of pyre donations, and their
// environment variables.
func parseDonations(args []string, errOut io.Writer) (donationsConfig, error) {
	cfg := donationsConfig{}
	if err := donationsFlags(&cfg).parse(args, errOut); err != nil {
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

	cfg.MemoryLimit.apply(log)
	node := cfg.Node
	if node == "" {
		node = cluster.NodeName()
	}
	app, err := donations.New(donations.Config{
		AdminKey: cfg.AdminKey, Secret: []byte(cfg.Secret), Refresh: cfg.Refresh, Node: node, AssetsDir: cfg.Assets,
		Logger:        log, // socket and presence name the node in their lines themselves
		SocketOptions: cfg.socketOptions(),
	})
	if err != nil {
		return err
	}
	log = log.With().Str("node", node).Logger()
	return serve(ctx, log, "donations", cfg.Addr, cfg.DrainTime, withMetrics(app))
}
