// Package httpapi holds the few HTTP helpers the example apps share: for
// their JSON APIs, bounded JSON bodies, JSON answers, the admin key check
// and the rule for user names; for their pages, serving the embedded page
// and phoenix.js client. It is part of the examples, not of pyre.
package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// MaxBody is the largest request body the APIs read.
const MaxBody = 1 << 20

// DecodeBody decodes a JSON request body of at most MaxBody bytes into v,
// or answers 413 (too large) or 400 (not JSON) and returns false.
func DecodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody)).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", MaxBody)})
		return false
	case err != nil:
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body"})
		return false
	}
	return true
}

// WriteJSON answers with status and v encoded as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// RequireBearer lets through requests whose Authorization header is
// "Bearer KEY"; others, and every request when key is empty, get 401.
func RequireBearer(key string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if key == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
			return
		}
		next(w, r)
	}
}

// CheckName says what is wrong with a user name, or "" if nothing: 1 to 64
// bytes once trimmed, and no control or format characters (Unicode Cc,
// Cf), which would hide in a name as shown: "admin\x00" looks like admin.
func CheckName(name string) string {
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
