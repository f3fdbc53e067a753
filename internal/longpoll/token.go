package longpoll

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
)

// Session tokens: "lp1." + base64url(node) + "." + a token signed over
// node + "\x00" + session id. The node part is readable without the key,
// so that any node can route a request to the owner, which alone verifies
// the signature.

func (lp *Transport) sign(id string) string {
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(lp.node)) + "." +
		lp.signer.Sign([]byte(lp.node+"\x00"+id))
}

// verify returns the session id of an authentic token of this node.
func (lp *Transport) verify(tok string) (string, bool) {
	node, signed, ok := splitToken(tok)
	if !ok || node != lp.node {
		return "", false
	}
	data, err := lp.signer.Verify(signed)
	if err != nil {
		return "", false
	}
	id, ok := bytes.CutPrefix(data, []byte(node+"\x00"))
	if !ok || len(id) == 0 {
		return "", false
	}
	return string(id), true
}

// tokenNode returns the node a session token names, without verifying it.
func tokenNode(tok string) (string, bool) {
	node, _, ok := splitToken(tok)
	return node, ok
}

func splitToken(tok string) (node, signed string, ok bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok {
		return "", "", false
	}
	enc, signed, ok := strings.Cut(rest, ".")
	// Go's base64 decoders skip CR and LF even when strict, so a token with
	// a line break in its node part would otherwise verify as well as the
	// one the node signed.
	if !ok || enc == "" || len(enc) > base64.RawURLEncoding.EncodedLen(MaxNodeName) || strings.ContainsAny(enc, "\r\n") {
		return "", "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	return string(raw), signed, true
}

// sessionToken returns the request's session token: the header phoenix.js
// may send, else the last "token" query value, as Phoenix reads it. A value
// that is not a session token (the connect parameter phoenix.js also sends
// as "token") means there is no session yet.
func sessionToken(r *http.Request) string {
	tok := r.Header.Get(tokenHeader)
	if tok == "" {
		if v := r.URL.Query()["token"]; len(v) > 0 {
			tok = v[len(v)-1]
		}
	}
	if !strings.HasPrefix(tok, tokenPrefix) {
		return ""
	}
	return tok
}

// auth is the auth token of a long-poll request: phoenix.js's authToken
// option, which it sends in the X-Phoenix-AuthToken header of every poll
// (its posts carry none). A session keeps the one it opened with as a
// digest, and each later request is held to it.
type auth struct {
	sent bool
	sum  [sha256.Size]byte
}

func newAuth(token string, sent bool) auth {
	if !sent {
		return auth{}
	}
	return auth{sent: true, sum: sha256.Sum256([]byte(token))}
}

// requestAuth reads the auth header of r.
func requestAuth(r *http.Request) (string, bool) {
	v := r.Header.Values(authHeader)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// admits reports whether a request of the session carrying got may go on:
// a poll must carry the session's token (none if it opened without one);
// a post may carry none, since phoenix.js sends none with its posts.
func (a auth) admits(got auth, poll bool) bool {
	if !got.sent {
		return !poll || !a.sent
	}
	return a.sent && subtle.ConstantTimeCompare(a.sum[:], got.sum[:]) == 1
}
