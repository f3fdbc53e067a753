package token

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"math"
	"math/big"
	"strings"
	"time"
)

// Phoenix signs and verifies tokens in the format of Elixir's
// Phoenix.Token.sign/4 and Phoenix.Token.verify/4 (which delegate to
// Plug.Crypto.sign/4 and verify/4), so that a pyre service and a Phoenix
// application configured with the same secret_key_base and salt accept each
// other's tokens. The data is any Erlang term; see [Phoenix.Sign] and
// [Phoenix.Verify] for how Go values map onto terms.
//
// Like a [Signer], a Phoenix holds no mutable state after NewPhoenix
// returns and may be shared by any number of goroutines.
type Phoenix struct {
	key []byte // PBKDF2(secret_key_base, salt), derived once in NewPhoenix
	now func() time.Time
}

const (
	// phoenixHS256 is base64url("HS256"), the first part of every token
	// Phoenix.Token.sign writes; phoenixHS384 and phoenixHS512 name the
	// other digests Plug.Crypto.MessageVerifier accepts.
	phoenixHS256 = "SFMyNTY"
	phoenixHS384 = "SFMzODQ"
	phoenixHS512 = "SFM1MTI"

	// phoenixMaxAge is the max_age Phoenix.Token.sign embeds by default
	// and the one assumed for legacy tokens that carry none.
	phoenixMaxAge = 86400 * time.Second

	// Phoenix's key derivation defaults (:key_iterations, :key_length;
	// :key_digest defaults to SHA-256).
	phoenixIterations = 1000
	phoenixKeyLength  = 32

	// phoenixMaxKeyLength bounds WithKeyLength; Plug.Crypto allows up to
	// 2^32-1 bytes, far more than an HMAC key can use.
	phoenixMaxKeyLength = 1024

	// phoenixMinKeyBase is the shortest secret_key_base Phoenix.Token
	// accepts when given as a literal string.
	phoenixMinKeyBase = 20
)

// phoenixOptions collects the settings applied by PhoenixOption values.
type phoenixOptions struct {
	iterations int
	keyLength  int
	digest     func() hash.Hash
	now        func() time.Time
}

// PhoenixOption adjusts a Phoenix under construction. An option that
// returns an error makes NewPhoenix fail with that error.
type PhoenixOption func(*phoenixOptions) error

// WithKeyIterations sets the PBKDF2 iteration count, Phoenix's
// :key_iterations option (default 1000). n must be at least 1.
func WithKeyIterations(n int) PhoenixOption {
	return func(o *phoenixOptions) error {
		if n < 1 {
			return fmt.Errorf("token: key iterations must be at least 1, got %d", n)
		}
		o.iterations = n
		return nil
	}
}

// WithKeyLength sets the length in bytes of the derived key, Phoenix's
// :key_length option (default 32). n must be between 1 and 1024.
func WithKeyLength(n int) PhoenixOption {
	return func(o *phoenixOptions) error {
		if n < 1 || n > phoenixMaxKeyLength {
			return fmt.Errorf("token: key length must be between 1 and %d, got %d", phoenixMaxKeyLength, n)
		}
		o.keyLength = n
		return nil
	}
}

// WithKeyDigest sets the hash PBKDF2 uses, Phoenix's :key_digest option
// (default sha256.New; :sha384 and :sha512 are sha512.New384 and
// sha512.New). It affects only key derivation: tokens are always signed
// with HMAC-SHA256, as Phoenix.Token does.
func WithKeyDigest(h func() hash.Hash) PhoenixOption {
	return func(o *phoenixOptions) error {
		if h == nil {
			return errors.New("token: key digest must not be nil")
		}
		o.digest = h
		return nil
	}
}

// WithPhoenixClock replaces time.Now as the source of the current time,
// for signing without SignedAt and for checking expiry. It exists mainly
// for tests; now must not be nil and must be safe for concurrent use if
// the Phoenix is shared.
func WithPhoenixClock(now func() time.Time) PhoenixOption {
	return func(o *phoenixOptions) error {
		if now == nil {
			return errors.New("token: clock must not be nil")
		}
		o.now = now
		return nil
	}
}

// NewPhoenix returns a Phoenix whose key is derived, as Plug.Crypto does,
// with PBKDF2 from secretKeyBase (the endpoint's secret_key_base, at least
// 20 bytes) and salt (the namespace passed to Phoenix.Token, such as
// "user socket"; it must not be empty). The key is derived once, here, so
// NewPhoenix takes a fraction of a millisecond with the default 1000
// iterations while Sign and Verify do not repeat the work. The secret is
// not retained.
func NewPhoenix(secretKeyBase []byte, salt string, opts ...PhoenixOption) (*Phoenix, error) {
	if len(secretKeyBase) < phoenixMinKeyBase {
		return nil, fmt.Errorf("token: secret_key_base must be at least %d bytes, got %d", phoenixMinKeyBase, len(secretKeyBase))
	}
	if salt == "" {
		return nil, errors.New("token: salt must not be empty")
	}
	o := phoenixOptions{
		iterations: phoenixIterations,
		keyLength:  phoenixKeyLength,
		digest:     sha256.New,
		now:        time.Now,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	key, err := pbkdf2.Key(o.digest, string(secretKeyBase), []byte(salt), o.iterations, o.keyLength)
	if err != nil {
		return nil, fmt.Errorf("token: deriving the Phoenix key: %w", err)
	}
	return &Phoenix{key: key, now: o.now}, nil
}

// signOptions collects the settings applied by SignOption values.
type signOptions struct {
	signedAt time.Time // zero means the Phoenix's clock
	maxAge   any       // int64 seconds or Atom("infinity")
}

// SignOption adjusts one call to [Phoenix.Sign].
type SignOption func(*signOptions) error

// SignedAt records t as the signing time, Phoenix's :signed_at option. It
// is kept at millisecond precision. t must not be the zero time.
func SignedAt(t time.Time) SignOption {
	return func(o *signOptions) error {
		if t.IsZero() {
			return errors.New("token: signed-at time must not be zero")
		}
		o.signedAt = t
		return nil
	}
}

// SignMaxAge sets the max age written into the token, Phoenix's :max_age
// option when signing (default 86400 seconds). Phoenix stores it in
// seconds, so d must be a positive whole number of seconds. A verifier
// that passes its own max age ignores this one.
func SignMaxAge(d time.Duration) SignOption {
	return func(o *signOptions) error {
		if d < time.Second || d%time.Second != 0 {
			return fmt.Errorf("token: Phoenix max age must be a positive whole number of seconds, got %v", d)
		}
		o.maxAge = int64(d / time.Second)
		return nil
	}
}

// SignMaxAgeInfinity writes max_age :infinity into the token: it never
// expires unless the verifier passes a max age of its own.
func SignMaxAgeInfinity() SignOption {
	return func(o *signOptions) error {
		o.maxAge = Atom("infinity")
		return nil
	}
}

// Sign returns a token carrying data, exactly as Phoenix.Token.sign would
// for the same term, secret, salt, signing time and max age. data is
// converted to an Erlang term (see below) and is readable, not encrypted.
// Sign fails if data cannot be converted, if an option fails, or if the
// token would be longer than the 8 KiB that Verify accepts.
//
// Go values become terms as follows: strings and []byte become binaries
// (Elixir strings); integers of any Go type and *big.Int become integers;
// finite floats become floats; true, false and nil become those atoms;
// [Atom] becomes an atom and [Tuple] a tuple; other slices and arrays
// become lists; maps whose keys are numbers, atoms or strings become maps
// (map[string]any gives Elixir string keys, map[Atom]any atom keys).
// Structs and pointers other than *big.Int are refused. The bytes are
// those term_to_binary writes, atoms encoded as OTP 26 and later encode
// them and map entries in key order; Erlang itself orders maps with atom
// keys, or more than 32 keys, differently, which changes the bytes but not
// the term. Data that Verify returns signs back to the same token, given
// the same signing time and max age.
func (p *Phoenix) Sign(data any, opts ...SignOption) (string, error) {
	o := signOptions{maxAge: int64(phoenixMaxAge / time.Second)}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return "", err
		}
	}
	at := o.signedAt
	if at.IsZero() {
		at = p.now()
	}
	plain, err := encodeTerm(Tuple{data, at.UnixMilli(), o.maxAge})
	if err != nil {
		return "", err
	}
	tok := p.seal(plain)
	if len(tok) > maxTokenLen {
		return "", fmt.Errorf("token: data too large: token would be %d bytes, Verify accepts at most %d", len(tok), maxTokenLen)
	}
	return tok, nil
}

// seal renders "SFMyNTY.<payload>.<HMAC-SHA256 of the first two parts>",
// each part unpadded base64url, as Plug.Crypto.MessageVerifier.sign does.
func (p *Phoenix) seal(plain []byte) string {
	out := make([]byte, 0, len(phoenixHS256)+2+enc.EncodedLen(len(plain))+enc.EncodedLen(sha256.Size))
	out = append(out, phoenixHS256...)
	out = append(out, '.')
	out = enc.AppendEncode(out, plain)
	m := hmac.New(sha256.New, p.key)
	m.Write(out)
	var mac [sha256.Size]byte
	out = append(out, '.')
	out = enc.AppendEncode(out, m.Sum(mac[:0]))
	return string(out)
}

// maxAge is a max age as Plug.Crypto applies it.
type maxAge struct {
	infinite bool  // :infinity, never expires
	expired  bool  // zero or negative: every token has expired
	ms       int64 // otherwise trunc(seconds * 1000), saturated at MaxInt64
}

// verifyOptions collects the settings applied by VerifyOption values.
type verifyOptions struct {
	maxAge *maxAge // nil: use the one in the token
}

// VerifyOption adjusts one call to [Phoenix.Verify].
type VerifyOption func(*verifyOptions) error

// VerifyMaxAge makes Verify accept only tokens signed at most d ago,
// whatever max age they carry: Phoenix's :max_age option when verifying
// (common in Phoenix apps: max_age: 1209600 for two weeks). d counts at
// millisecond precision; zero or negative rejects every token as expired,
// as Phoenix does.
func VerifyMaxAge(d time.Duration) VerifyOption {
	return func(o *verifyOptions) error {
		if d <= 0 {
			o.maxAge = &maxAge{expired: true}
		} else {
			o.maxAge = &maxAge{ms: d.Milliseconds()}
		}
		return nil
	}
}

// VerifyMaxAgeInfinity makes Verify accept authentic tokens of any age,
// Phoenix's max_age: :infinity. Use it with care: such tokens can only be
// revoked by changing the secret or the salt.
func VerifyMaxAgeInfinity() VerifyOption {
	return func(o *verifyOptions) error {
		o.maxAge = &maxAge{infinite: true}
		return nil
	}
}

// Verify checks a token made by Phoenix.Token.sign (or by [Phoenix.Sign])
// and returns its data. Failures are ErrMissing (empty string), ErrExpired
// (authentic but too old) and ErrInvalid (malformed, longer than 8 KiB,
// signed with another secret, salt or key option, altered, holding a term
// this package cannot represent, or signed more than a minute in the
// future); only a failing option returns another error.
//
// Like Phoenix, Verify accepts the SFMyNTY (HMAC-SHA256), SFMzODQ
// (SHA-384) and SFM1MTI (SHA-512) headers, the current payload
// {data, signed_at_ms, max_age} and the legacy {data, signed_at_ms} and
// %{data: data, signed: signed_at_ms}, which count as max age 86400.
// Without [VerifyMaxAge] the max age written in the token applies; a token
// expires once more than that many seconds have passed since it was
// signed. Tokens carrying max_age :infinity, or checked with
// [VerifyMaxAgeInfinity], never expire and are not checked for a future
// signing time.
//
// The data comes back as Go values: binaries as string, integers as int64
// (or *big.Int beyond its range), floats as float64, true/false/nil as
// bool and nil, other atoms as [Atom], lists (charlists included) as
// []any, tuples as [Tuple], and maps as map[string]any when every key is a
// binary, map[Atom]any when every key is an atom, and map[any]any
// otherwise. So an Elixir integer user id arrives as int64 and
// %{"id" => 1} as map[string]any{"id": int64(1)}.
func (p *Phoenix) Verify(tok string, opts ...VerifyOption) (any, error) {
	var o verifyOptions
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if tok == "" {
		return nil, ErrMissing
	}
	plain, ok := p.open(tok)
	if !ok {
		return nil, ErrInvalid
	}
	data, signedAtMS, embedded, ok := parsePhoenixPayload(plain)
	if !ok {
		return nil, ErrInvalid
	}
	// As in Plug.Crypto, the token's own max age is not even looked at
	// when the caller gives one.
	var age maxAge
	if o.maxAge != nil {
		age = *o.maxAge
	} else if age, ok = parseMaxAge(embedded); !ok {
		return nil, ErrInvalid
	}
	if err := p.checkAge(signedAtMS, age); err != nil {
		return nil, err
	}
	return data, nil
}

// open splits tok, checks its MAC in constant time and returns the decoded
// payload bytes. It does not look inside them.
func (p *Phoenix) open(tok string) ([]byte, bool) {
	if len(tok) > maxTokenLen {
		return nil, false
	}
	header, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, false
	}
	p64, m64, ok := strings.Cut(rest, ".")
	if !ok || !urlSafe(p64) || !urlSafe(m64) {
		return nil, false // urlSafe also refuses a third '.'
	}
	var h func() hash.Hash
	switch header {
	case phoenixHS256:
		h = sha256.New
	case phoenixHS384:
		h = sha512.New384
	case phoenixHS512:
		h = sha512.New
	default:
		return nil, false
	}

	var got [sha512.Size]byte
	if enc.DecodedLen(len(m64)) > len(got) {
		return nil, false
	}
	n, err := enc.Decode(got[:], []byte(m64))
	if err != nil {
		return nil, false
	}
	m := hmac.New(h, p.key)
	m.Write([]byte(tok[:len(header)+1+len(p64)])) // the MAC covers the text "header.payload"
	var want [sha512.Size]byte
	if !hmac.Equal(got[:n], m.Sum(want[:0])) {
		return nil, false
	}
	plain, err := enc.DecodeString(p64)
	if err != nil {
		return nil, false
	}
	return plain, true
}

// parsePhoenixPayload decodes an authenticated payload and takes it apart
// the way Plug.Crypto's decode does, returning the max age term as it is
// (int64(86400) for the legacy shapes that carry none).
func parsePhoenixPayload(plain []byte) (data any, signedAtMS int64, maxAgeTerm any, ok bool) {
	term, err := decodeTerm(plain)
	if err != nil {
		return nil, 0, nil, false
	}
	legacy := any(int64(phoenixMaxAge / time.Second))
	var signed, age any
	switch t := term.(type) {
	case Tuple:
		switch len(t) {
		case 3:
			data, signed, age = t[0], t[1], t[2]
		case 2:
			data, signed, age = t[0], t[1], legacy
		default:
			return nil, 0, nil, false
		}
	case map[Atom]any: // %{data: data, signed: signed}, extra keys allowed
		d, hasData := t["data"]
		sg, hasSigned := t["signed"]
		if !hasData || !hasSigned {
			return nil, 0, nil, false
		}
		data, signed, age = d, sg, legacy
	case map[any]any: // the same with some non-atom keys besides
		d, hasData := t[Atom("data")]
		sg, hasSigned := t[Atom("signed")]
		if !hasData || !hasSigned {
			return nil, 0, nil, false
		}
		data, signed, age = d, sg, legacy
	default:
		return nil, 0, nil, false
	}
	s, isInt := signed.(int64)
	if !isInt {
		return nil, 0, nil, false
	}
	return data, s, age, true
}

// parseMaxAge interprets the max age embedded in a token: seconds as an
// integer or float, or :infinity.
func parseMaxAge(v any) (maxAge, bool) {
	switch v := v.(type) {
	case Atom:
		return maxAge{infinite: true}, v == "infinity"
	case int64:
		switch {
		case v <= 0:
			return maxAge{expired: true}, true
		case v > math.MaxInt64/1000:
			return maxAge{ms: math.MaxInt64}, true
		}
		return maxAge{ms: v * 1000}, true
	case *big.Int:
		if v.Sign() <= 0 {
			return maxAge{expired: true}, true
		}
		return maxAge{ms: math.MaxInt64}, true // beyond int64 seconds
	case float64:
		switch ms := v * 1000; {
		case v <= 0:
			return maxAge{expired: true}, true
		case ms >= math.MaxInt64:
			return maxAge{ms: math.MaxInt64}, true
		default:
			return maxAge{ms: int64(ms)}, true // conversion truncates, like trunc/1
		}
	}
	return maxAge{}, false
}

// checkAge applies Plug.Crypto's expiry rule, plus pyre's clock-skew
// allowance: a token signed up to maxClockSkew in the future is accepted.
func (p *Phoenix) checkAge(signedAtMS int64, age maxAge) error {
	switch {
	case age.infinite:
		return nil
	case age.expired:
		return ErrExpired
	}
	nowMS := p.now().UnixMilli()
	// Subtracting as uint64 gives the exact distance whenever the
	// minuend is the larger, and unlike signed+maxAge cannot overflow.
	if signedAtMS > nowMS && uint64(signedAtMS)-uint64(nowMS) > uint64(maxClockSkew.Milliseconds()) {
		return ErrInvalid
	}
	if nowMS > signedAtMS && uint64(nowMS)-uint64(signedAtMS) > uint64(age.ms) {
		return ErrExpired
	}
	return nil
}
