package chat

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/token"
	"github.com/pyrehq/pyre/topics"
)

// webFS is the page. Its phoenix/ directory holds the official phoenix.js
// client, which is not ours and not in the repository: the build (make
// build) copies it there from the npm package before compiling, and a
// binary built without that step has none (see EmbeddedClient).
//
//go:embed web
var webFS embed.FS

// clientFile is the phoenix.js client the page imports, as /assets/phoenix.mjs.
const clientFile = "phoenix.mjs"

// EmbeddedClient reports whether this binary carries the page's phoenix.js
// client. Without it, and without Config.AssetsDir, the page's script
// cannot load.
func EmbeddedClient() bool {
	_, err := fs.Stat(webFS, "web/phoenix/"+clientFile)
	return err == nil
}

// TokenMaxAge is how long a login token is valid.
const TokenMaxAge = 14 * 24 * time.Hour

// RoomHistory is what each room keeps for clients that reconnect: its
// chat messages (new_msg) of the last hour, at most 1 000 or 1 MiB.
var RoomHistory = topics.Retention{Count: 1000, Age: time.Hour, Bytes: 1 << 20, Events: []string{"new_msg"}}

// Config configures the chat app.
type Config struct {
	// AdminKey guards /api/broadcast and /api/disconnect; empty disables them.
	AdminKey string
	// Secret signs login tokens; empty means a random one (tokens die with
	// the process).
	Secret []byte
	// AssetsDir, if set, holds the phoenix.mjs the page loads (npm's
	// phoenix/priv/static); empty means the copy built into the binary.
	AssetsDir string
	Logger    zerolog.Logger
	Node      string
	// Cluster, when set, is the node's PubSub (single node, embedded NATS or
	// a NATS cluster) and names the node; /healthz reports its state.
	// Without it the app runs a single node on its own in-process PubSub.
	Cluster *cluster.Node
	// SocketOptions are added to the socket handler's options.
	SocketOptions []socket.Option
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
	popts := []presence.Option{presence.WithLogger(cfg.Logger)}
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
	a.routes()
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

func (a *App) routes() {
	web, _ := fs.Sub(webFS, "web")
	a.mux.Handle("/socket/", a.socket)
	a.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "index.html")
	})
	a.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web)))
	client, _ := fs.Sub(webFS, "web/phoenix")
	if a.cfg.AssetsDir != "" {
		client = os.DirFS(a.cfg.AssetsDir)
	}
	a.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(client)))
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
		writeJSON(w, http.StatusOK, body)
	})
	a.mux.HandleFunc("POST /api/login", a.login)
	a.mux.HandleFunc("POST /api/broadcast", a.admin(a.broadcast))
	a.mux.HandleFunc("POST /api/disconnect", a.admin(a.disconnect))
}

const maxBody = 1 << 20

// decodeBody decodes a JSON request body of at most maxBody bytes into v,
// or answers 413 (too large) or 400 (not JSON) and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", maxBody)})
		return false
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body"})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User string `json:"user"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	in.User = strings.TrimSpace(in.User)
	if problem := checkName(in.User); problem != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": problem})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": a.signer.Sign([]byte(in.User))})
}

// checkName says what is wrong with a user name, or "" if nothing: 1 to 64
// bytes once trimmed, and no control or format characters (Unicode Cc,
// Cf), which would hide in a name as shown: "admin\x00" looks like admin.
func checkName(name string) string {
	if name == "" || len(name) > 64 {
		return "user must be 1 to 64 characters"
	}
	for _, r := range name {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			return "user must not contain control or format characters"
		}
	}
	return ""
}

func (a *App) admin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if a.cfg.AdminKey == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.AdminKey)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next(w, r)
	}
}

func (a *App) broadcast(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Topic   string          `json:"topic"`
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Topic == "" || in.Event == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "topic and event are required"})
		return
	}
	if err := a.socket.Broadcast(in.Topic, in.Event, in.Payload); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *App) disconnect(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User string `json:"user"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.User == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "user is required"})
		return
	}
	_ = a.socket.Broadcast("users_socket:"+in.User, "disconnect", nil)
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
