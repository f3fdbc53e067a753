package chat

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/admin"
	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/examples/internal/httpapi"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/token"
	"github.com/pyrehq/pyre/topics"
)

// webFS is the page; the phoenix.js client it imports is served from
// examples/internal/phoenixjs, the copy both example pages share.
//
//go:embed web
var webFS embed.FS

// TokenMaxAge is how long a login token is valid.
const TokenMaxAge = 14 * 24 * time.Hour

// RoomHistory is what each room keeps for clients that reconnect: its
// chat messages (new_msg) of the last hour, at most 1 000 or 1 MiB.
var RoomHistory = topics.Retention{Count: 1000, Age: time.Hour, Bytes: 1 << 20, Events: []string{"new_msg"}}

// PresenceWindow is how long a room's presence changes gather before they
// leave as one presence_diff once the room is busy: a join storm in one
// room then costs one diff, and one encoded list for its joiners, per
// window. A quiet room's first change goes out at once.
const PresenceWindow = 100 * time.Millisecond

// PresenceWindowMax is how long a big room's window may grow: a room of
// k users gathers for k×PresenceWindowPerKey when that is longer than the
// window (presence.WithCoalesceGrowth). Each window's diff is one write to
// every user in the room, so a window that grows with the room keeps a
// storm's writes a second level (a room of 8 000 gathers for 400 ms, not
// 100); the bound keeps what a user sees at most that late. A quiet
// room's first change still goes out at once.
const (
	PresenceWindowMax    = 400 * time.Millisecond
	PresenceWindowPerKey = 50 * time.Microsecond
)

// Config configures the chat app.
type Config struct {
	// AdminKey guards /api/broadcast and /api/disconnect; empty disables them.
	AdminKey string
	// Secret signs login tokens; empty means a random one (tokens die with
	// the process).
	Secret []byte
	// AssetsDir, if set, holds the phoenix.mjs the page loads instead of
	// the copy built into the binary (npm's phoenix/priv/static has one).
	AssetsDir string
	Logger    zerolog.Logger
	Node      string
	// Cluster, when set, is the node's PubSub (single node, embedded NATS or
	// a NATS cluster) and names the node; /healthz reports its state.
	// Without it the app runs a single node on its own in-process PubSub.
	Cluster *cluster.Node
	// SocketOptions are added to the socket handler's options.
	SocketOptions []socket.Option
	// PresenceWindow replaces the package's PresenceWindow when positive;
	// negative broadcasts every presence change at once.
	PresenceWindow time.Duration
	// PresenceWindowMax replaces the package's PresenceWindowMax when
	// positive; negative keeps every room's window at PresenceWindow.
	PresenceWindowMax time.Duration
}

// App is the running chat server.
type App struct {
	cfg     Config
	signer  *token.Signer
	pubsub  *topics.PubSub
	tracker *presence.Tracker
	socket  *socket.Handler
	mux     *http.ServeMux
}

// New builds the app.
func New(cfg Config) (*App, error) {
	secret := cfg.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	signer, err := token.NewSigner(secret, "user socket", token.WithMaxAge(TokenMaxAge))
	if err != nil {
		return nil, err
	}
	ps := topics.New()
	if cfg.Cluster != nil {
		ps = cfg.Cluster.PubSub()
		if cfg.Node == "" {
			cfg.Node = cfg.Cluster.Name()
		}
	}
	window := PresenceWindow
	if cfg.PresenceWindow != 0 {
		window = max(cfg.PresenceWindow, 0)
	}
	popts := []presence.Option{presence.WithLogger(cfg.Logger), presence.WithCoalesce(window)}
	most := PresenceWindowMax
	if cfg.PresenceWindowMax != 0 {
		most = max(cfg.PresenceWindowMax, 0)
	}
	if window > 0 && most > window {
		popts = append(popts, presence.WithCoalesceGrowth(PresenceWindowPerKey, most))
	}
	if cfg.Node != "" {
		popts = append(popts, presence.WithNode(cfg.Node))
	}
	if cfg.Cluster != nil && cfg.Cluster.Conn() != nil {
		// Presence replicates to the other nodes over the same NATS.
		popts = append(popts, presence.WithNATS(cfg.Cluster.Conn(), cfg.Cluster.Prefix()))
	}
	tracker, err := presence.New(ps, popts...)
	if err != nil {
		return nil, err
	}
	router := actors.NewRouter()
	// Rooms keep their last messages, so a client that comes back after a
	// drop gets what it missed (web/recover.mjs on the page).
	router.MustHandle("room:*", func() actors.Channel { return &Room{} }, actors.WithHistory(RoomHistory))
	router.MustHandle("notifications:*", func() actors.Channel { return Notifications{} })
	// bench:* is room:* without presence, for load tests of the fan-out
	// path alone (presence in one room of n users costs O(n) per join).
	router.MustHandle("bench:*", func() actors.Channel { return &Room{noPresence: true} })
	// bench-history:* is bench:* with a history of its bench events, to
	// measure what recovery costs the fan-out.
	router.MustHandle("bench-history:*", func() actors.Channel { return &Room{noPresence: true} },
		actors.WithHistory(topics.Retention{Count: 1000, Events: []string{"bench"}}))

	opts := []socket.Option{
		socket.WithPubSub(ps),
		socket.WithPresence(tracker),
		socket.WithLogger(cfg.Logger),
		socket.WithConnect(func(_ context.Context, params url.Values, info socket.ConnInfo) (actors.Assigns, error) {
			data, err := signer.Verify(socketToken(params, info))
			if err != nil {
				return nil, err
			}
			return actors.Assigns{"user": string(data)}, nil
		}),
		socket.WithID(func(a actors.Assigns) string { return "users_socket:" + a["user"].(string) }),
	}
	if cfg.Node != "" {
		opts = append(opts, socket.WithNode(cfg.Node))
	}
	if cfg.Cluster != nil && cfg.Cluster.Conn() != nil {
		// A long-poll request that lands on another node is relayed to
		// the node that holds its session.
		opts = append(opts, socket.WithLongPollRelay(cfg.Cluster.Conn(), cfg.Cluster.Name(), cfg.Cluster.Prefix()))
	}
	sh, err := socket.New(router, append(opts, cfg.SocketOptions...)...)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, signer: signer, pubsub: ps, tracker: tracker, socket: sh, mux: http.NewServeMux()}
	if err := a.routes(); err != nil {
		return nil, errors.Join(err, tracker.Close())
	}
	return a, nil
}

// socketToken is the login token a socket brings: phoenix.js's authToken
// (the page's way, out of the URL), else the "token" parameter.
func socketToken(params url.Values, info socket.ConnInfo) string {
	if info.Token != "" {
		return info.Token
	}
	return params.Get("token")
}

// ServeHTTP serves the page, the API and the socket.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Socket returns the socket handler.
func (a *App) Socket() *socket.Handler { return a.socket }

// Shutdown drains the sockets and stops the presence tracker.
func (a *App) Shutdown(ctx context.Context) error {
	err := a.socket.Shutdown(ctx)
	return errors.Join(err, a.tracker.Close())
}

func (a *App) routes() error {
	if a.cfg.AdminKey != "" {
		// The live admin view at /admin; in a cluster it lists the nodes.
		var opts []admin.Option
		if a.cfg.Cluster != nil {
			opts = append(opts, admin.WithCluster(a.cfg.Cluster))
		}
		view, err := admin.New(a.socket, a.cfg.AdminKey, opts...)
		if err != nil {
			return err
		}
		a.mux.Handle("/admin", view)
		a.mux.Handle("/admin/", view)
	}
	a.mux.Handle("/socket/", a.socket)
	httpapi.ServePage(a.mux, webFS, a.cfg.AssetsDir)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		body := map[string]any{"status": "ok", "sockets": a.socket.Len()}
		if a.cfg.Cluster != nil {
			h := a.cfg.Cluster.Health()
			body["cluster"] = h
			body["presence_peers"] = a.tracker.Peers()
			if !h.OK {
				// Local rooms still work; other nodes are out of reach.
				body["status"] = "degraded"
			}
		}
		httpapi.WriteJSON(w, http.StatusOK, body)
	})
	a.mux.HandleFunc("POST /api/login", a.login)
	a.mux.HandleFunc("POST /api/broadcast", httpapi.RequireBearer(a.cfg.AdminKey, a.broadcast))
	a.mux.HandleFunc("POST /api/disconnect", httpapi.RequireBearer(a.cfg.AdminKey, a.disconnect))
	return nil
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User string `json:"user"`
	}
	if !httpapi.DecodeBody(w, r, &in) {
		return
	}
	in.User = strings.TrimSpace(in.User)
	if problem := httpapi.CheckName(in.User); problem != "" {
		httpapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": problem})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"token": a.signer.Sign([]byte(in.User))})
}

func (a *App) broadcast(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Topic   string          `json:"topic"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if !httpapi.DecodeBody(w, r, &in) {
		return
	}
	if in.Topic == "" || in.Event == "" {
		httpapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "topic and event are required"})
		return
	}
	if err := a.socket.Broadcast(in.Topic, in.Event, in.Payload); err != nil {
		httpapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *App) disconnect(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User string `json:"user"`
	}
	if !httpapi.DecodeBody(w, r, &in) {
		return
	}
	if in.User == "" {
		httpapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "user is required"})
		return
	}
	_ = a.socket.Broadcast("users_socket:"+in.User, "disconnect", nil)
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
