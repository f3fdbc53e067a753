package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// Errors returned by [Signer.Verify]. They are returned as is, so both ==
// and errors.Is work; they deliberately say nothing about which check
// failed, since the caller usually echoes them to an unauthenticated client.
var (
	// ErrInvalid means the token was malformed, too long, carried a
	// signature that does not match (altered data, another secret or
	// another salt), used an unknown version, or claims to have been
	// signed further in the future than the allowed clock skew.
	ErrInvalid = errors.New("token: invalid")
	// ErrExpired means the token is authentic but older than its maximum age.
	ErrExpired = errors.New("token: expired")
	// ErrMissing means the token string was empty.
	ErrMissing = errors.New("token: missing")
)

const (
	// version is the first byte of every payload this package writes.
	version byte = 1

	// headerLen is version (1) + signed_at (8) + max_age (8).
	headerLen = 1 + 8 + 8

	// macLen is the size of an HMAC-SHA256 tag.
	macLen = sha256.Size

	// maxTokenLen is the longest token string Verify will look at; anything
	// longer is rejected as ErrInvalid before any decoding. Sign does not
	// enforce it, so keep the signed data below roughly 6 KiB.
	maxTokenLen = 8 << 10

	// defaultMaxAge is the lifetime of tokens when WithMaxAge is not given.
	defaultMaxAge = 24 * time.Hour

	// maxClockSkew is how far in the future a token's signing time may lie
	// (signers on other hosts may run slightly ahead) before Verify
	// rejects it as ErrInvalid.
	maxClockSkew = time.Minute

	// keyContext is mixed with the salt when deriving the MAC key.
	keyContext = "pyre token v1|"
)

// enc is unpadded base64url in strict mode, so every byte string has exactly
// one accepted encoding (non-zero trailing bits are refused).
var enc = base64.RawURLEncoding.Strict()

// Lengths of the two encoded parts that Verify checks before decoding.
var (
	minPayloadEncLen = enc.EncodedLen(headerLen)
	macEncLen        = enc.EncodedLen(macLen)
)

// Signer issues and checks tokens for a single secret and salt. It holds
// no mutable state after NewSigner returns, so one Signer may be shared by
// any number of goroutines.
type Signer struct {
	key      []byte // HMAC-SHA256(secret, keyContext+salt)
	maxAgeMS int64  // maximum age in whole milliseconds, > 0
	now      func() time.Time
	macs     *sync.Pool // hash.Hash: HMAC-SHA256 keyed with key, reset before use
}

// options collects the settings applied by Option values.
type options struct {
	maxAge time.Duration
	now    func() time.Time
}

// Option adjusts a Signer under construction. An Option that returns an
// error makes NewSigner fail with that error.
type Option func(*options) error

// WithMaxAge sets how long tokens stay valid after they are signed. The
// default is 24 hours. Tokens carry only millisecond precision, so d is
// truncated to a whole number of milliseconds, and a d below one
// millisecond (including zero and negative values) is an error.
//
// The age is also written into every token the Signer issues; Verify uses
// the smaller of that embedded value and the Signer's own, so shortening
// the max age takes effect for tokens already handed out.
func WithMaxAge(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("token: max age must be positive, got %v", d)
		}
		if d < time.Millisecond {
			return fmt.Errorf("token: max age must be at least 1ms, got %v", d)
		}
		o.maxAge = d
		return nil
	}
}

// WithClock replaces time.Now as the Signer's source of the current time.
// It exists mainly for tests. now must not be nil and must be safe to call
// from several goroutines at once if the Signer is shared.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("token: clock must not be nil")
		}
		o.now = now
		return nil
	}
}

// NewSigner returns a Signer whose MAC key is derived from secret and salt.
// The secret must be at least 16 bytes and should come from a
// cryptographically secure random source; the salt must not be empty and
// separates uses of the same secret (for example "user socket" versus
// "admin socket"), since a token signed under one salt never verifies
// under another. The secret is not retained.
func NewSigner(secret []byte, salt string, opts ...Option) (*Signer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("token: secret must be at least 16 bytes, got %d", len(secret))
	}
	if salt == "" {
		return nil, errors.New("token: salt must not be empty")
	}
	o := options{maxAge: defaultMaxAge, now: time.Now}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Signer{
		key:      deriveKey(secret, salt),
		maxAgeMS: o.maxAge.Milliseconds(),
		now:      o.now,
		macs:     new(sync.Pool),
	}, nil
}

// deriveKey turns the caller's secret into the MAC key for one salt.
func deriveKey(secret []byte, salt string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(keyContext))
	m.Write([]byte(salt))
	return m.Sum(nil)
}

// MaxAge reports how long tokens from this Signer remain valid, truncated
// to whole milliseconds as they are stored in the token.
func (s *Signer) MaxAge() time.Duration {
	return time.Duration(s.maxAgeMS) * time.Millisecond
}

// Sign returns a token carrying data, signed at the Signer's current time.
// The result contains only URL-safe characters and a single '.', so it can
// be put in a query string without escaping. data is not encrypted: anyone
// holding the token can read it.
func (s *Signer) Sign(data []byte) string {
	return s.SignAt(data, s.now())
}

// SignAt is like Sign but records at as the signing time (at millisecond
// precision). It is useful for tests and for issuing tokens whose lifetime
// should count from an earlier event.
func (s *Signer) SignAt(data []byte, at time.Time) string {
	return s.encode(at.UnixMilli(), uint64(s.maxAgeMS), data)
}

// encode lays out the payload, appends its MAC and renders both halves.
func (s *Signer) encode(signedAtMS int64, maxAgeMS uint64, data []byte) string {
	payload := make([]byte, headerLen+len(data))
	payload[0] = version
	binary.BigEndian.PutUint64(payload[1:9], uint64(signedAtMS))
	binary.BigEndian.PutUint64(payload[9:17], maxAgeMS)
	copy(payload[headerLen:], data)

	var mac [macLen]byte
	s.sum(mac[:0], payload)

	out := make([]byte, 0, enc.EncodedLen(len(payload))+1+macEncLen)
	out = enc.AppendEncode(out, payload)
	out = append(out, '.')
	out = enc.AppendEncode(out, mac[:])
	return string(out)
}

// sum appends HMAC-SHA256(key, payload) to dst.
// The keyed HMACs are pooled: making one allocates about half a kilobyte,
// once per connect otherwise.
func (s *Signer) sum(dst, payload []byte) []byte {
	m, _ := s.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.key)
	} else {
		m.Reset()
	}
	m.Write(payload)
	dst = m.Sum(dst)
	s.macs.Put(m)
	return dst
}

// Verify checks tok and, if it is authentic, current and well formed,
// returns the data it was signed with. Failures are reported as ErrMissing
// (empty string), ErrExpired (authentic but too old) or ErrInvalid
// (everything else). The returned slice belongs to the caller.
//
// A token expires once the current time is past its signing time plus the
// smaller of the max age written into it and this Signer's MaxAge.
func (s *Signer) Verify(tok string) ([]byte, error) {
	payload, signedAtMS, maxAgeMS, err := s.open(tok)
	if err != nil {
		return nil, err
	}

	nowMS := s.now().UnixMilli()
	if signedAtMS > nowMS && uint64(signedAtMS)-uint64(nowMS) > uint64(maxClockSkew.Milliseconds()) {
		return nil, ErrInvalid
	}
	limit := min(maxAgeMS, uint64(s.maxAgeMS))
	// Two's-complement subtraction gives the exact distance here because
	// nowMS >= signedAtMS, and it cannot overflow the way signedAt+limit can.
	if nowMS > signedAtMS && uint64(nowMS)-uint64(signedAtMS) > limit {
		return nil, ErrExpired
	}
	return payload[headerLen:], nil
}

// open decodes tok, checks its MAC and version, and returns the payload
// with its parsed header fields. It does not look at the clock.
func (s *Signer) open(tok string) (payload []byte, signedAtMS int64, maxAgeMS uint64, err error) {
	if tok == "" {
		return nil, 0, 0, ErrMissing
	}
	if len(tok) > maxTokenLen {
		return nil, 0, 0, ErrInvalid
	}
	p64, m64, ok := strings.Cut(tok, ".")
	if !ok || len(p64) < minPayloadEncLen || len(m64) != macEncLen {
		return nil, 0, 0, ErrInvalid
	}
	// The base64 decoder silently skips '\r' and '\n'; refusing anything
	// outside the URL alphabet keeps each token's encoding unique.
	if !urlSafe(p64) || !urlSafe(m64) {
		return nil, 0, 0, ErrInvalid
	}

	var got [macLen]byte
	if n, err := enc.Decode(got[:], []byte(m64)); err != nil || n != macLen {
		return nil, 0, 0, ErrInvalid
	}
	payload = make([]byte, enc.DecodedLen(len(p64)))
	n, err := enc.Decode(payload, []byte(p64))
	if err != nil || n < headerLen {
		return nil, 0, 0, ErrInvalid
	}
	payload = payload[:n]

	var want [macLen]byte
	if !hmac.Equal(got[:], s.sum(want[:0], payload)) {
		return nil, 0, 0, ErrInvalid
	}
	// Only trust the contents once the MAC has been checked.
	if payload[0] != version {
		return nil, 0, 0, ErrInvalid
	}
	signedAtMS = int64(binary.BigEndian.Uint64(payload[1:9]))
	maxAgeMS = binary.BigEndian.Uint64(payload[9:17])
	return payload, signedAtMS, maxAgeMS, nil
}

// urlSafe reports whether s uses only the base64url alphabet.
func urlSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
