package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	testSalt   = "user socket"
	// t0 is the fixed "now" of most tests; it has a sub-millisecond part on
	// purpose, to show that only millisecond precision is kept.
	t0 = time.Date(2025, 3, 14, 15, 9, 26, 535_897_000, time.UTC)
)

// fixedClock returns a clock that always reads t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// newTestSigner builds a signer or fails the test.
func newTestSigner(tb testing.TB, secret []byte, salt string, opts ...Option) *Signer {
	tb.Helper()
	s, err := NewSigner(secret, salt, opts...)
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	return s
}

// flip returns tok with the byte at i replaced by a different base64url
// character, so the result is still well formed but carries other bits.
func flip(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// forge builds a token with an arbitrary payload under s's key, for
// exercising checks that sit behind the MAC.
func forge(s *Signer, payload []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write(payload)
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	data := []byte("user:42")
	signer := newTestSigner(t, testSecret, testSalt, WithMaxAge(time.Hour), WithClock(fixedClock(t0)))
	good := signer.SignAt(data, t0)
	dot := strings.IndexByte(good, '.')

	// header lays out a v1 payload by hand.
	header := func(v byte, signedAt time.Time, maxAge time.Duration, d []byte) []byte {
		p := []byte{v}
		p = binary.BigEndian.AppendUint64(p, uint64(signedAt.UnixMilli()))
		p = binary.BigEndian.AppendUint64(p, uint64(maxAge.Milliseconds()))
		return append(p, d...)
	}

	tests := []struct {
		name     string
		verifier *Signer // nil means signer
		now      time.Time
		tok      string
		want     []byte
		wantErr  error
	}{
		{name: "round trip", now: t0, tok: good, want: data},
		{name: "round trip empty data", now: t0, tok: signer.SignAt(nil, t0), want: []byte{}},
		{name: "round trip binary data", now: t0, tok: signer.SignAt([]byte{0, 0xff, '.', '\n'}, t0), want: []byte{0, 0xff, '.', '\n'}},
		{name: "valid at exactly max age", now: t0.Add(time.Hour), tok: good, want: data},
		{name: "expired one ms after max age", now: t0.Add(time.Hour + time.Millisecond), tok: good, wantErr: ErrExpired},
		{name: "expired long ago", now: t0.Add(30 * 24 * time.Hour), tok: good, wantErr: ErrExpired},
		{name: "signed in the past", now: t0, tok: signer.SignAt(data, t0.Add(-59*time.Minute)), want: data},
		{name: "tampered payload", now: t0, tok: flip(good, dot-2), wantErr: ErrInvalid},
		{name: "tampered header", now: t0, tok: flip(good, 3), wantErr: ErrInvalid},
		{name: "tampered mac", now: t0, tok: flip(good, dot+5), wantErr: ErrInvalid},
		{name: "swapped halves", now: t0, tok: good[dot+1:] + "." + good[:dot], wantErr: ErrInvalid},
		{
			name:     "wrong salt",
			verifier: newTestSigner(t, testSecret, "admin socket", WithMaxAge(time.Hour), WithClock(fixedClock(t0))),
			now:      t0, tok: good, wantErr: ErrInvalid,
		},
		{
			name:     "wrong secret",
			verifier: newTestSigner(t, []byte("fedcba9876543210fedcba9876543210"), testSalt, WithMaxAge(time.Hour), WithClock(fixedClock(t0))),
			now:      t0, tok: good, wantErr: ErrInvalid,
		},
		{name: "missing", now: t0, tok: "", wantErr: ErrMissing},
		{name: "garbage", now: t0, tok: "not a token", wantErr: ErrInvalid},
		{name: "only a dot", now: t0, tok: ".", wantErr: ErrInvalid},
		{name: "no dot", now: t0, tok: strings.Replace(good, ".", "", 1), wantErr: ErrInvalid},
		{name: "two dots", now: t0, tok: good + ".", wantErr: ErrInvalid},
		{name: "padding", now: t0, tok: good + "=", wantErr: ErrInvalid},
		{name: "standard base64 alphabet", now: t0, tok: strings.NewReplacer("-", "+", "_", "/").Replace(signer.SignAt([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff}, t0)), wantErr: ErrInvalid},
		{name: "newline inside", now: t0, tok: good[:4] + "\n" + good[4:], wantErr: ErrInvalid},
		{name: "non-canonical mac encoding", now: t0, tok: good[:len(good)-1] + "B", wantErr: ErrInvalid},
		{name: "impossible payload length", now: t0, tok: good[:dot] + "A" + good[dot:], wantErr: ErrInvalid},
		{name: "truncated mac", now: t0, tok: good[:len(good)-1], wantErr: ErrInvalid},
		{name: "payload shorter than header", now: t0, tok: forge(signer, []byte{1, 2, 3}), wantErr: ErrInvalid},
		{name: "too long", now: t0, tok: strings.Repeat("A", maxTokenLen+1), wantErr: ErrInvalid},
		{name: "too long though authentic", now: t0, tok: signer.SignAt(make([]byte, maxTokenLen), t0), wantErr: ErrInvalid},
		{name: "unknown version", now: t0, tok: forge(signer, header(2, t0, time.Hour, data)), wantErr: ErrInvalid},
		{name: "version zero", now: t0, tok: forge(signer, header(0, t0, time.Hour, data)), wantErr: ErrInvalid},
		{name: "future within skew", now: t0, tok: signer.SignAt(data, t0.Add(time.Minute)), want: data},
		{name: "future beyond skew", now: t0, tok: signer.SignAt(data, t0.Add(time.Minute+time.Millisecond)), wantErr: ErrInvalid},
		{name: "far future", now: t0, tok: signer.SignAt(data, t0.AddDate(100, 0, 0)), wantErr: ErrInvalid},
		{
			// Token says 1h, the verifying signer only allows 10m.
			name:     "max age from signer",
			verifier: newTestSigner(t, testSecret, testSalt, WithMaxAge(10*time.Minute)),
			now:      t0.Add(11 * time.Minute), tok: good, wantErr: ErrExpired,
		},
		{
			name:     "max age from signer not yet reached",
			verifier: newTestSigner(t, testSecret, testSalt, WithMaxAge(10*time.Minute)),
			now:      t0.Add(10 * time.Minute), tok: good, want: data,
		},
		{
			// Token says 1h, the verifying signer allows 24h: the token wins.
			name:     "max age from token",
			verifier: newTestSigner(t, testSecret, testSalt),
			now:      t0.Add(61 * time.Minute), tok: good, wantErr: ErrExpired,
		},
		{name: "zero max age in token", now: t0.Add(time.Millisecond), tok: forge(signer, header(1, t0, 0, data)), wantErr: ErrExpired},
		{name: "huge max age in token", now: t0.Add(2 * time.Hour), tok: forge(signer, header(1, t0, 1<<62, data)), wantErr: ErrExpired},
		{name: "signed at epoch", now: t0, tok: signer.SignAt(data, time.Unix(0, 0)), wantErr: ErrExpired},
		{name: "signed at zero time", now: t0, tok: signer.SignAt(data, time.Time{}), wantErr: ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.verifier
			if v == nil {
				v = signer
			}
			// Same key and max age, but reading this case's clock.
			clocked := *v
			clocked.now = fixedClock(tt.now)

			got, err := clocked.Verify(tt.tok)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("Verify data = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSignUsesClock(t *testing.T) {
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newTestSigner(t, testSecret, testSalt, WithMaxAge(time.Minute), WithClock(clock))

	tok := s.Sign([]byte("x"))
	if got, want := tok, s.SignAt([]byte("x"), t0); got != want {
		t.Errorf("Sign = %q, want SignAt(now) = %q", got, want)
	}

	mu.Lock()
	now = t0.Add(time.Minute + time.Millisecond)
	mu.Unlock()
	if _, err := s.Verify(tok); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify after max age: error = %v, want %v", err, ErrExpired)
	}
}

func TestTokenIsURLSafe(t *testing.T) {
	s := newTestSigner(t, testSecret, testSalt, WithClock(fixedClock(t0)))
	// Bytes chosen so that standard base64 would produce '+' and '/'.
	tok := s.Sign([]byte{0xfb, 0xff, 0xbf, 0xfe, 0xfb, 0xff})
	if got, want := strings.Count(tok, "."), 1; got != want {
		t.Errorf("dots in %q = %d, want %d", tok, got, want)
	}
	if i := strings.IndexFunc(tok, func(r rune) bool {
		return !(r == '.' || r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}); i >= 0 {
		t.Errorf("token %q has a non URL-safe character at %d", tok, i)
	}
}

func TestTokenLayout(t *testing.T) {
	s := newTestSigner(t, testSecret, testSalt, WithMaxAge(90*time.Second))
	tok := s.SignAt([]byte("hi"), t0)
	p64, m64, _ := strings.Cut(tok, ".")
	payload, err := enc.DecodeString(p64)
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	want := []byte{1}
	want = binary.BigEndian.AppendUint64(want, uint64(t0.UnixMilli()))
	want = binary.BigEndian.AppendUint64(want, 90_000)
	want = append(want, "hi"...)
	if !bytes.Equal(payload, want) {
		t.Errorf("payload = %x, want %x", payload, want)
	}

	key := hmac.New(sha256.New, testSecret)
	key.Write([]byte("pyre token v1|" + testSalt))
	m := hmac.New(sha256.New, key.Sum(nil))
	m.Write(want)
	if got, want := m64, enc.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("mac = %s, want %s", got, want)
	}
}

func TestSaltChangesKey(t *testing.T) {
	a := newTestSigner(t, testSecret, "a")
	b := newTestSigner(t, testSecret, "b")
	if bytes.Equal(a.key, b.key) {
		t.Error("different salts derived the same key")
	}
	if got, want := a.SignAt(nil, t0) == b.SignAt(nil, t0), false; got != want {
		t.Errorf("tokens equal across salts = %v, want %v", got, want)
	}
}

func TestNewSigner(t *testing.T) {
	tests := []struct {
		name       string
		secret     []byte
		salt       string
		opts       []Option
		wantErr    bool
		wantMaxAge time.Duration
	}{
		{name: "defaults", secret: testSecret, salt: testSalt, wantMaxAge: 24 * time.Hour},
		{name: "16 byte secret", secret: testSecret[:16], salt: testSalt, wantMaxAge: 24 * time.Hour},
		{name: "15 byte secret", secret: testSecret[:15], salt: testSalt, wantErr: true},
		{name: "nil secret", secret: nil, salt: testSalt, wantErr: true},
		{name: "empty salt", secret: testSecret, salt: "", wantErr: true},
		{name: "max age", secret: testSecret, salt: testSalt, opts: []Option{WithMaxAge(5 * time.Minute)}, wantMaxAge: 5 * time.Minute},
		{name: "max age truncated to ms", secret: testSecret, salt: testSalt, opts: []Option{WithMaxAge(1500 * time.Microsecond)}, wantMaxAge: time.Millisecond},
		{name: "last max age wins", secret: testSecret, salt: testSalt, opts: []Option{WithMaxAge(time.Hour), WithMaxAge(time.Second)}, wantMaxAge: time.Second},
		{name: "zero max age", secret: testSecret, salt: testSalt, opts: []Option{WithMaxAge(0)}, wantErr: true},
		{name: "negative max age", secret: testSecret, salt: testSalt, opts: []Option{WithMaxAge(-time.Second)}, wantErr: true},
		{name: "sub-millisecond max age", secret: testSecret, salt: testSalt, opts: []Option{WithMaxAge(time.Microsecond)}, wantErr: true},
		{name: "nil clock", secret: testSecret, salt: testSalt, opts: []Option{WithClock(nil)}, wantErr: true},
		{name: "nil option ignored", secret: testSecret, salt: testSalt, opts: []Option{nil}, wantMaxAge: 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSigner(tt.secret, tt.salt, tt.opts...)
			if got, want := err != nil, tt.wantErr; got != want {
				t.Fatalf("NewSigner error = %v, want error: %v", err, want)
			}
			if err != nil {
				if s != nil {
					t.Errorf("NewSigner returned a signer alongside error %v", err)
				}
				return
			}
			if got, want := s.MaxAge(), tt.wantMaxAge; got != want {
				t.Errorf("MaxAge = %v, want %v", got, want)
			}
		})
	}
}

func TestSecretNotRetained(t *testing.T) {
	secret := bytes.Clone(testSecret)
	s := newTestSigner(t, secret, testSalt, WithClock(fixedClock(t0)))
	tok := s.Sign([]byte("x"))
	for i := range secret {
		secret[i] = 0
	}
	got, err := s.Verify(tok)
	if err != nil || string(got) != "x" {
		t.Errorf("Verify after caller cleared secret = %q, %v; want %q, nil", got, err, "x")
	}
}

func TestConcurrentUse(t *testing.T) {
	s := newTestSigner(t, testSecret, testSalt)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				want := []byte{byte(g), byte(i)}
				got, err := s.Verify(s.Sign(want))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("goroutine %d: Verify(Sign(%x)) = %x, %v", g, want, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzVerify feeds arbitrary strings to Verify. Verify must never panic,
// and anything it accepts must be exactly the token this signer would
// produce for the same data, signing time and max age: there is one valid
// spelling of each token.
func FuzzVerify(f *testing.F) {
	s := newTestSigner(f, testSecret, testSalt, WithMaxAge(time.Hour), WithClock(fixedClock(t0)))
	for _, d := range [][]byte{nil, []byte("user:42"), {0, 1, 2, 0xff}, bytes.Repeat([]byte("ab"), 100)} {
		f.Add(s.SignAt(d, t0))
		f.Add(s.SignAt(d, t0.Add(-30*time.Minute)))
		f.Add(s.SignAt(d, t0.Add(-2*time.Hour)))
		f.Add(s.SignAt(d, t0.Add(2*time.Minute)))
	}
	f.Add("")
	f.Add(".")
	f.Add("garbage")
	f.Add(strings.Repeat("A", 23) + "." + strings.Repeat("A", 43))

	f.Fuzz(func(t *testing.T, tok string) {
		data, err := s.Verify(tok)
		if err != nil {
			if data != nil {
				t.Fatalf("Verify(%q) returned data %q with error %v", tok, data, err)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrMissing) {
				t.Fatalf("Verify(%q) returned unexpected error %v", tok, err)
			}
			return
		}

		// Rebuild the token from what was accepted; it must match byte for byte.
		payload, signedAtMS, maxAgeMS, err := s.open(tok)
		if err != nil {
			t.Fatalf("open(%q) failed after Verify accepted it: %v", tok, err)
		}
		if !bytes.Equal(payload[headerLen:], data) {
			t.Fatalf("Verify data = %q, payload data = %q", data, payload[headerLen:])
		}
		if again := s.encode(signedAtMS, maxAgeMS, data); again != tok {
			t.Fatalf("accepted %q but re-encoding gives %q", tok, again)
		}

		// And the data must survive a fresh Sign/Verify cycle.
		back, err := s.Verify(s.Sign(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("Verify(Sign(%q)) = %q, %v", data, back, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	s := newTestSigner(b, testSecret, testSalt, WithClock(fixedClock(t0)))
	tok := s.Sign([]byte("user:1234567890"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s := newTestSigner(b, testSecret, testSalt, WithClock(fixedClock(t0)))
	data := []byte("user:1234567890")
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign(data)
	}
}

// The signer reuses its keyed HMACs: concurrent signs and verifies of
// different data, valid and tampered, each get their own answer.
func TestPooledMACsAreIndependent(t *testing.T) {
	s := newTestSigner(t, []byte("0123456789abcdef0123456789abcdef"), "user socket", WithClock(fixedClock(t0)))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				data := []byte(strings.Repeat("x", g*7+i))
				tok := s.Sign(data)
				got, err := s.Verify(tok)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("goroutine %d, token %d: Verify = %q, %v; want %q", g, i, got, err, data)
					return
				}
				if _, err := s.Verify(flip(tok, len(tok)-10)); !errors.Is(err, ErrInvalid) {
					t.Errorf("goroutine %d, token %d: a tampered token verified: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
