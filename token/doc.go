// Package token issues and checks short-lived, tamper-proof tokens, meant
// for authenticating WebSocket connections: the page fetches a token over an
// already authenticated HTTP request, passes it in the socket's query string
// (phoenix.js: new Socket("/socket", {params: {token}})), and the connect
// callback verifies it before the socket is accepted.
//
// A token binds arbitrary bytes (typically a user id) to the moment it was
// signed, using HMAC-SHA256. The bytes are readable by anyone who holds the
// token but cannot be changed without the signature failing, and the token
// stops being accepted once its maximum age has passed. Nothing is stored on
// the server: a [Signer] built from the same secret and salt can verify a
// token on any node.
//
//	s, err := token.NewSigner(secret, "user socket", token.WithMaxAge(2*time.Hour))
//	if err != nil {
//		return err
//	}
//	tok := s.Sign([]byte(userID)) // hand to the browser
//
//	// later, when the socket connects:
//	id, err := s.Verify(params.Get("token"))
//	switch {
//	case errors.Is(err, token.ErrMissing), errors.Is(err, token.ErrExpired):
//		// ask the client to fetch a fresh token
//	case err != nil:
//		// forged or corrupted: refuse
//	}
//
// # Secret and salt
//
// The secret should be at least 32 random bytes kept out of source control;
// NewSigner refuses anything shorter than 16. The salt is not secret; it
// names the purpose of the tokens, and the MAC key is derived from both, so
// a token minted for one purpose is rejected by a Signer with another salt.
// Rotating the secret invalidates every outstanding token.
//
// # Format
//
// A token is two unpadded base64url strings joined by a dot: the payload,
// then its MAC. The payload is a version byte (1), the signing time and the
// maximum age as big-endian 64-bit millisecond counts, and then the data.
// Verify rejects tokens longer than 8 KiB before decoding them, which bounds
// the data a token can usefully carry to about 6 KiB. Tokens signed more
// than a minute in the future of the verifier's clock are rejected as
// invalid rather than accepted for an unexpectedly long time.
//
// # Concurrency
//
// A Signer never changes after NewSigner returns, so Sign, SignAt, Verify
// and MaxAge may be called from any number of goroutines at once without
// locking. The only caveat is a clock installed with [WithClock]: the
// Signer calls it from whichever goroutine is signing or verifying, so it
// must itself be safe for concurrent use.
package token
