package donations

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/examples/internal/httpapi"
	"github.com/pyrehq/pyre/socket"
)

// How long tokens stay valid.
const (
	TokenMaxAge      = 14 * 24 * time.Hour
	AdminTokenMaxAge = 12 * time.Hour
)

// errBadToken refuses a socket whose token is neither a user's nor an
// admin's.
var errBadToken = errors.New("donations: invalid or expired token")

// connect admits a socket with a user or an admin token and records which
// in its assigns. The two kinds are signed under different salts, so a
// user token can never pass as an admin one. The token is phoenix.js's
// authToken, or else the "token" parameter.
func (a *App) connect(_ context.Context, params url.Values, info socket.ConnInfo) (actors.Assigns, error) {
	tok := info.Token
	if tok == "" {
		tok = params.Get("token")
	}
	if user, err := a.users.Verify(tok); err == nil {
		return actors.Assigns{"user": string(user), "admin": false}, nil
	}
	if user, err := a.admins.Verify(tok); err == nil {
		return actors.Assigns{"user": string(user), "admin": true}, nil
	}
	return nil, errBadToken
}

// userName reads and checks the {"user": name} body of the login requests.
func userName(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		User string `json:"user"`
	}
	if !httpapi.DecodeBody(w, r, &in) {
		return "", false
	}
	in.User = strings.TrimSpace(in.User)
	if problem := httpapi.CheckName(in.User); problem != "" {
		httpapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": problem})
		return "", false
	}
	return in.User, true
}

// login issues a user token to anyone: POST /api/login {"user"}.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	if user, ok := userName(w, r); ok {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"token": a.users.Sign([]byte(user))})
	}
}

// adminLogin issues an admin token to the holder of the admin key:
// POST /api/admin-login {"user"}.
func (a *App) adminLogin(w http.ResponseWriter, r *http.Request) {
	if user, ok := userName(w, r); ok {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"token": a.admins.Sign([]byte(user))})
	}
}
