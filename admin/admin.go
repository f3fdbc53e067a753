package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/supervisor"
)

//go:embed web
var webFS embed.FS

// Errors of New and its options.
var (
	ErrNoHandler = errors.New("admin: nil socket handler")
	ErrNoKey     = errors.New("admin: empty key")
)

// Option configures New.
type Option func(*options) error

type options struct {
	prefix  string
	cluster *cluster.Node
	trees   []namedTree
	secrets map[string]bool
	timeout time.Duration
}

type namedTree struct {
	name string
	tree *supervisor.Tree
}

// WithCluster lists the cluster's nodes (cluster.Node.Members) in
// /admin/api/nodes; without it the node lists itself only.
func WithCluster(n *cluster.Node) Option {
	return func(o *options) error {
		if n == nil {
			return errors.New("admin: nil cluster node")
		}
		o.cluster = n
		return nil
	}
}

// WithTree registers a supervision tree under name, for /admin/api/trees.
func WithTree(name string, t *supervisor.Tree) Option {
	return func(o *options) error {
		if name == "" || t == nil {
			return errors.New("admin: a tree needs a name and a tree")
		}
		for _, nt := range o.trees {
			if nt.name == name {
				return fmt.Errorf("admin: tree %q registered twice", name)
			}
		}
		o.trees = append(o.trees, namedTree{name: name, tree: t})
		return nil
	}
}

// WithSecretAssigns names assign keys (and presence meta keys) whose
// values the admin view never shows, at any depth of a nested map,
// besides those it always hides (see Redacted).
func WithSecretAssigns(keys ...string) Option {
	return func(o *options) error {
		for _, k := range keys {
			if k == "" {
				return errors.New("admin: empty secret assign key")
			}
			o.secrets[k] = true
		}
		return nil
	}
}

// WithPrefix is the path the handler is mounted at (default "/admin"): it
// serves PREFIX (the page) and everything under PREFIX/.
func WithPrefix(p string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Trim(p, prefixChars) != "" {
			return fmt.Errorf("admin: prefix %q must start and not end with /, and hold only letters, digits and /._-", p)
		}
		o.prefix = p
		return nil
	}
}

const prefixChars = "/._-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// WithTimeout bounds the gathering of one answer (asking the sockets and
// the trees through their mailboxes); default 2 s.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return errors.New("admin: timeout must be positive")
		}
		o.timeout = d
		return nil
	}
}

// Handler serves the admin view of one socket handler. It is an
// http.Handler; mount it at its prefix and below it:
//
//	mux.Handle("/admin", a)
//	mux.Handle("/admin/", a)
type Handler struct {
	h       *socket.Handler
	key     [sha256.Size]byte
	opt     options
	mux     *http.ServeMux
	started time.Time
}

// New returns the admin view of h, guarded by key: every request must
// carry "Authorization: Bearer KEY", or Basic credentials with KEY as the
// password (any user name), which is how a browser opens the page.
func New(h *socket.Handler, key string, opts ...Option) (*Handler, error) {
	if h == nil {
		return nil, ErrNoHandler
	}
	if key == "" {
		return nil, ErrNoKey
	}
	o := options{prefix: "/admin", secrets: map[string]bool{}, timeout: 2 * time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	a := &Handler{h: h, key: sha256.Sum256([]byte(key)), opt: o, mux: http.NewServeMux(), started: time.Now()}
	a.routes()
	return a, nil
}

func (a *Handler) routes() {
	p := a.opt.prefix
	a.mux.HandleFunc("GET "+p+"/api/node", a.node)
	a.mux.HandleFunc("GET "+p+"/api/nodes", a.nodes)
	a.mux.HandleFunc("GET "+p+"/api/sockets", a.sockets)
	a.mux.HandleFunc("GET "+p+"/api/topics", a.topics)
	a.mux.HandleFunc("GET "+p+"/api/presence", a.presence)
	a.mux.HandleFunc("GET "+p+"/api/crashes", a.crashes)
	a.mux.HandleFunc("GET "+p+"/api/trees", a.trees)
	a.mux.HandleFunc(p+"/api/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such admin endpoint"})
	})
	static, _ := fs.Sub(webFS, "web")
	a.mux.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static/", http.FileServerFS(static)))
	a.mux.HandleFunc("GET "+p+"/{$}", a.page)
	a.mux.HandleFunc("GET "+p, a.page)
}

// ServeHTTP checks the key, then serves the page or the API.
func (a *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="pyre admin", charset="UTF-8"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin key missing or wrong"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	a.mux.ServeHTTP(w, r)
}

// authorized compares the request's key with the handler's in constant
// time (both hashed first, so their lengths do not show either).
func (a *Handler) authorized(r *http.Request) bool {
	var given string
	auth := r.Header.Get("Authorization")
	if k, ok := strings.CutPrefix(auth, "Bearer "); ok {
		given = k
	} else if _, pw, ok := r.BasicAuth(); ok {
		given = pw
	} else {
		return false
	}
	sum := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(sum[:], a.key[:]) == 1
}

// page serves the page shell, which names its prefix for its script.
func (a *Handler) page(w http.ResponseWriter, _ *http.Request) {
	body, err := webFS.ReadFile("web/index.html")
	if err != nil {
		http.Error(w, "admin page missing", http.StatusInternalServerError)
		return
	}
	html := strings.ReplaceAll(string(body), "{{PREFIX}}", a.opt.prefix)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:")
	_, _ = w.Write([]byte(html))
}

// gather is the context one answer is gathered in.
func (a *Handler) gather(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.opt.timeout)
}
