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
// # Phoenix interop
//
// A [Phoenix] reads and writes the tokens of Elixir's Phoenix.Token
// (sign/4 and verify/4), so a pyre service can accept the tokens an
// existing Phoenix app hands to its pages, and mint tokens that app
// accepts. Give it the app's secret_key_base and the salt the app uses:
//
//	p, err := token.NewPhoenix(secretKeyBase, "user socket")
//	if err != nil {
//		return err
//	}
//	// Phoenix: Phoenix.Token.verify(socket, "user socket", token, max_age: 1_209_600)
//	data, err := p.Verify(params.Get("token"), token.VerifyMaxAge(14*24*time.Hour))
//	if err != nil {
//		return err // ErrMissing, ErrExpired or ErrInvalid, as for a Signer
//	}
//	userID, ok := data.(int64) // Elixir integers arrive as int64
//
//	// Phoenix: Phoenix.Token.verify(endpoint, "user socket", tok) gets %{"id" => 42}
//	tok, err := p.Sign(map[string]any{"id": 42})
//
// The format is Plug.Crypto's: the MAC key is PBKDF2-HMAC-SHA256 of the
// secret_key_base and salt (1000 iterations, 32 bytes; see
// [WithKeyIterations], [WithKeyLength] and [WithKeyDigest] for apps that
// change them), derived once in NewPhoenix. The payload is the Erlang
// term_to_binary encoding of {data, signed_at_ms, max_age_seconds}, and
// the token is "SFMyNTY." (base64 of "HS256"), the payload in unpadded
// base64url, a dot and the base64url HMAC-SHA256 of everything before it.
// Tokens are signed, not encrypted: anyone can read the data.
//
// The data is an Erlang term. Sign converts Go values (strings, integers,
// floats, bools, nil, [Atom], [Tuple], slices, maps) and writes exactly the
// bytes term_to_binary would; Verify returns string, int64 (*big.Int when
// larger), float64, bool, nil, [Atom], []any, [Tuple] and maps keyed by
// string, [Atom] or any. Terms with no Go counterpart (pids, references,
// funs, improper lists) make a token invalid, though Phoenix would accept
// them. The decoder bounds nesting at 64 levels and a compressed term at
// 64 KiB, and never panics on hostile input (it is fuzzed, but it only
// ever sees payloads whose MAC already checked out).
//
// Expiry follows Phoenix: a token expires once more than its max age has
// passed since signed_at; the max age is the one given to Verify with
// [VerifyMaxAge] or, without it, the one written into the token (86400
// seconds unless the signer chose another with [SignMaxAge]). A max age of
// :infinity ([SignMaxAgeInfinity], [VerifyMaxAgeInfinity]) never expires.
// Tokens signed more than a minute in the verifier's future are invalid,
// as for a Signer (the unreleased plug_crypto main branch rejects any
// future time; plug_crypto 2.1 accepts them). Unlike Phoenix, Verify
// rejects tokens longer than 8 KiB, and Sign refuses to make one.
//
// # Concurrency
//
// A Signer never changes after NewSigner returns, so Sign, SignAt, Verify
// and MaxAge may be called from any number of goroutines at once without
// locking. The same holds for a Phoenix after NewPhoenix returns. The only
// caveat is a clock installed with [WithClock] or [WithPhoenixClock]: it
// is called from whichever goroutine is signing or verifying, so it must
// itself be safe for concurrent use. Sign must also not race with writes
// to the data it is converting (a map being filled by another goroutine).
package token
