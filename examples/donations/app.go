package donations

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/token"
	"github.com/pyrehq/pyre/topics"
)

// DefaultRefresh is how often campaign totals are re-broadcast unless
// Config.Refresh says otherwise.
const DefaultRefresh = 5 * time.Second

// Campaign is an entry of the catalogue: the campaigns that can be joined.
type Campaign struct {
	ID   string `json:"id"`   // 1 to 32 of a-z, 0-9 and '-'; the topic is campaign:<ID>
	Name string `json:"name"` // shown to donors
	Goal int64  `json:"goal"` // the amount the campaign hopes to raise, > 0
}

// DefaultCampaigns is the catalogue used when Config.Campaigns is empty.
func DefaultCampaigns() []Campaign {
	return []Campaign{
		{ID: "clean-water", Name: "Clean water for Ashwell", Goal: 25_000},
		{ID: "school-books", Name: "Books for the village school", Goal: 8_000},
		{ID: "tree-planting", Name: "A thousand trees", Goal: 12_000},
	}
}

// Config configures the donations app.
type Config struct {
	// AdminKey guards /api/admin-login and /api/crash-worker; empty
	// disables them, and so the dashboard.
	AdminKey string
	// Secret signs user and admin tokens; empty means a random one (tokens
	// die with the process).
	Secret []byte
	// Refresh is the period of campaign_refreshed; zero means
	// DefaultRefresh.
	Refresh time.Duration
	// Campaigns is the catalogue; empty means DefaultCampaigns().
	Campaigns []Campaign
	// AssetsDir, if set, holds the phoenix.mjs the page loads (npm's
	// phoenix/priv/static); empty means the copy built into the binary.
	AssetsDir string
	Logger    zerolog.Logger
	Node      string
	// SocketOptions are added to the socket handler's options.
	SocketOptions []socket.Option
}

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Refresh < 0 {
		return c, fmt.Errorf("donations: negative refresh period %v", c.Refresh)
	}
	if len(c.Campaigns) == 0 {
		c.Campaigns = DefaultCampaigns()
	}
	seen := map[string]bool{}
	for _, cp := range c.Campaigns {
		switch {
		case !validID(cp.ID):
			return c, fmt.Errorf("donations: campaign id %q: want 1 to 32 of a-z, 0-9 and '-'", cp.ID)
		case seen[cp.ID]:
			return c, fmt.Errorf("donations: campaign %q listed twice", cp.ID)
		case cp.Name == "" || cp.Goal <= 0:
			return c, fmt.Errorf("donations: campaign %q needs a name and a positive goal", cp.ID)
		}
		seen[cp.ID] = true
	}
	return c, nil
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// App is the running donations server.
type App struct {
	cfg     Config
	users   *token.Signer // user socket tokens
	admins  *token.Signer // admin socket tokens
	pubsub  *topics.PubSub
	tracker *presence.Tracker
	system  *actor.ActorSystem // sockets, channels and the tree run in it
	sysStop sync.Once          // stops system
	socket  *socket.Handler
	svc     services
	tree    *supervisor.Tree
	mux     *http.ServeMux
}

// New builds the app and starts its supervision tree.
func New(cfg Config) (*App, error) { return build(cfg, socket.New) }

// socketMaker makes the socket handler; tests pass one that runs it in
// process.
type socketMaker func(*actors.Router, ...socket.Option) (*socket.Handler, error)

func build(cfg Config, newSocket socketMaker) (*App, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	secret := cfg.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	users, err := token.NewSigner(secret, "user socket", token.WithMaxAge(TokenMaxAge))
	if err != nil {
		return nil, err
	}
	admins, err := token.NewSigner(secret, "admin socket", token.WithMaxAge(AdminTokenMaxAge))
	if err != nil {
		return nil, err
	}
	ps := topics.New()
	popts := []presence.Option{presence.WithLogger(cfg.Logger), presence.WithCoalesce(PresenceWindow),
		presence.WithCoalesceGrowth(PresenceWindowPerKey, PresenceWindowMax)}
	if cfg.Node != "" {
		popts = append(popts, presence.WithNode(cfg.Node))
	}
	tracker, err := presence.New(ps, popts...)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, users: users, admins: admins, pubsub: ps, tracker: tracker, mux: http.NewServeMux()}

	catalogue := make(map[string]Campaign, len(cfg.Campaigns))
	for _, c := range cfg.Campaigns {
		catalogue[c.ID] = c
	}
	// The factories run at join time, after build has set a.svc.
	router := actors.NewRouter()
	router.MustHandle("campaign:*", func() actors.Channel {
		return &campaignChannel{svc: a.svc, catalogue: catalogue}
	}, actors.WithRestart(campaignPolicy))
	router.MustHandle(DashboardTopic, func() actors.Channel { return &dashboardChannel{svc: a.svc} })
	router.MustHandle(DonorsTopic, func() actors.Channel { return &donorsChannel{svc: a.svc} })

	// The app owns the actor system: the sockets run in it (so channels
	// can talk to the tree's actors) and the tree too; it stops last.
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(zerolog.NewSlogHandler(cfg.Logger.Level(zerolog.WarnLevel)))
	}))
	a.system = system
	opts := []socket.Option{
		socket.WithActorSystem(system),
		socket.WithPubSub(ps),
		socket.WithPresence(tracker),
		socket.WithLogger(cfg.Logger),
		socket.WithConnect(a.connect),
		socket.WithID(func(as actors.Assigns) string { return "users_socket:" + as["user"].(string) }),
	}
	if cfg.Node != "" {
		opts = append(opts, socket.WithNode(cfg.Node))
	}
	sh, err := newSocket(router, append(opts, cfg.SocketOptions...)...)
	if err != nil {
		system.Shutdown()
		return nil, errors.Join(err, tracker.Close())
	}
	a.socket = sh
	a.svc = newServices(system)
	a.tree, err = supervisor.Start(system.Root, treeName, treeSpec(cfg, ps, a.svc))
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, sh.Shutdown(ctx), tracker.Close())
		system.Shutdown()
		return nil, err
	}
	if err := a.routes(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = errors.Join(err, sh.Shutdown(ctx), a.tree.Stop(ctx), tracker.Close())
		system.Shutdown()
		return nil, err
	}
	return a, nil
}

// ServeHTTP serves the page, the API and the sockets.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Socket returns the socket handler.
func (a *App) Socket() *socket.Handler { return a.socket }

// Shutdown drains the sockets first (their channels use the tree), then
// stops the tree and the presence tracker, and once all of that is done,
// the actor system they ran in. It may be called more than once (again
// after ctx ran out, say).
func (a *App) Shutdown(ctx context.Context) error {
	err := errors.Join(a.socket.Shutdown(ctx), a.tree.Stop(ctx), a.tracker.Close())
	if err == nil {
		a.sysStop.Do(a.system.Shutdown)
	}
	return err
}
