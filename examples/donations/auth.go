package donations

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/pyrehq/pyre/actors"
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
	if !decodeBody(w, r, &in) {
		return "", false
	}
	in.User = strings.TrimSpace(in.User)
	if problem := checkName(in.User); problem != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": problem})
		return "", false
	}
	return in.User, true
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

// login issues a user token to anyone: POST /api/login {"user"}.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	if user, ok := userName(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]string{"token": a.users.Sign([]byte(user))})
	}
}

// adminLogin issues an admin token to the holder of the admin key:
// POST /api/admin-login {"user"}.
func (a *App) adminLogin(w http.ResponseWriter, r *http.Request) {
	if user, ok := userName(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]string{"token": a.admins.Sign([]byte(user))})
	}
}

// withAdminKey lets through requests bearing the admin key.
func (a *App) withAdminKey(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if a.cfg.AdminKey == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.AdminKey)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next(w, r)
	}
}
