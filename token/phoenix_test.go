package token

import (
	"bytes"
	"compress/zlib"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

var testKeyBase = []byte("a Phoenix secret_key_base, 64 bytes long in real deployments....")

// newTestPhoenix builds a Phoenix reading a fixed clock at t0, or fails.
func newTestPhoenix(tb testing.TB, opts ...PhoenixOption) *Phoenix {
	tb.Helper()
	p, err := NewPhoenix(testKeyBase, testSalt, append([]PhoenixOption{WithPhoenixClock(fixedClock(t0))}, opts...)...)
	if err != nil {
		tb.Fatalf("NewPhoenix: %v", err)
	}
	return p
}

// at returns a copy of p whose clock reads now.
func at(p *Phoenix, now time.Time) *Phoenix {
	c := *p
	c.now = fixedClock(now)
	return &c
}

// mustSign signs or fails the test.
func mustSign(tb testing.TB, p *Phoenix, data any, opts ...SignOption) string {
	tb.Helper()
	tok, err := p.Sign(data, opts...)
	if err != nil {
		tb.Fatalf("Sign(%#v): %v", data, err)
	}
	return tok
}

// mustTerm encodes a term or fails the test.
func mustTerm(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := encodeTerm(v)
	if err != nil {
		tb.Fatalf("encodeTerm(%#v): %v", v, err)
	}
	return b
}

func TestNewPhoenix(t *testing.T) {
	tests := []struct {
		name    string
		keyBase []byte
		salt    string
		opts    []PhoenixOption
		wantErr bool
	}{
		{name: "defaults", keyBase: testKeyBase, salt: testSalt},
		{name: "20 byte key base", keyBase: testKeyBase[:20], salt: testSalt},
		{name: "19 byte key base", keyBase: testKeyBase[:19], salt: testSalt, wantErr: true},
		{name: "nil key base", salt: testSalt, wantErr: true},
		{name: "empty salt", keyBase: testKeyBase, wantErr: true},
		{name: "one iteration", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyIterations(1)}},
		{name: "zero iterations", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyIterations(0)}, wantErr: true},
		{name: "negative iterations", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyIterations(-1)}, wantErr: true},
		{name: "key length 1", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyLength(1)}},
		{name: "key length 1024", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyLength(1024)}},
		{name: "key length 0", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyLength(0)}, wantErr: true},
		{name: "key length 1025", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyLength(1025)}, wantErr: true},
		{name: "sha512 digest", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyDigest(sha512.New)}},
		{name: "nil digest", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithKeyDigest(nil)}, wantErr: true},
		{name: "nil clock", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{WithPhoenixClock(nil)}, wantErr: true},
		{name: "nil option ignored", keyBase: testKeyBase, salt: testSalt, opts: []PhoenixOption{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPhoenix(tt.keyBase, tt.salt, tt.opts...)
			if got, want := err != nil, tt.wantErr; got != want {
				t.Fatalf("NewPhoenix error = %v, want error: %v", err, want)
			}
			if (p == nil) == (err == nil) {
				t.Errorf("NewPhoenix = %v, %v: want exactly one of them", p, err)
			}
		})
	}
}

func TestPhoenixKeyOptionsMatter(t *testing.T) {
	base := newTestPhoenix(t)
	tok := mustSign(t, base, "x")
	for name, opt := range map[string]PhoenixOption{
		"iterations": WithKeyIterations(999),
		"length":     WithKeyLength(31),
		"digest":     WithKeyDigest(sha512.New),
	} {
		t.Run(name, func(t *testing.T) {
			p := newTestPhoenix(t, opt)
			if _, err := p.Verify(tok); err != ErrInvalid {
				t.Errorf("Verify with other %s: error = %v, want %v", name, err, ErrInvalid)
			}
			if data, err := p.Verify(mustSign(t, p, "x")); err != nil || data != "x" {
				t.Errorf("round trip with other %s = %#v, %v", name, data, err)
			}
		})
	}
}

func TestPhoenixRoundTrip(t *testing.T) {
	type userID int64
	p := newTestPhoenix(t)
	huge := new(big.Int).Lsh(big.NewInt(3), 200)
	tests := []struct {
		name string
		data any
		want any
	}{
		{name: "int", data: 42, want: int64(42)},
		{name: "named int", data: userID(-7), want: int64(-7)},
		{name: "uint64 max", data: uint64(math.MaxUint64), want: new(big.Int).SetUint64(math.MaxUint64)},
		{name: "big", data: huge, want: huge},
		{name: "string", data: "user:42", want: "user:42"},
		{name: "bytes", data: []byte{0, 0xff}, want: "\x00\xff"},
		{name: "float", data: -2.5, want: -2.5},
		{name: "bools and nil", data: []any{true, false, nil}, want: []any{true, false, nil}},
		{name: "atom", data: Atom("admin"), want: Atom("admin")},
		{name: "tuple", data: Tuple{Atom("ok"), 1}, want: Tuple{Atom("ok"), int64(1)}},
		{name: "charlist", data: []int{104, 105}, want: []any{int64(104), int64(105)}},
		{name: "string slice", data: []string{"a", "b"}, want: []any{"a", "b"}},
		{name: "string map", data: map[string]any{"id": 1, "roles": []string{"x"}}, want: map[string]any{"id": int64(1), "roles": []any{"x"}}},
		{name: "atom map", data: map[Atom]any{"id": 1}, want: map[Atom]any{"id": int64(1)}},
		{name: "int map", data: map[int]string{1: "a"}, want: map[any]any{int64(1): "a"}},
		{name: "empty map", data: map[string]int{}, want: map[string]any{}},
		{name: "nil slice", data: []string(nil), want: []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := mustSign(t, p, tt.data)
			got, err := p.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !termEqual(got, tt.want) {
				t.Errorf("Verify = %#v, want %#v", got, tt.want)
			}
			// Decoded data signs to the same token (same time, same age).
			if again := mustSign(t, p, got); again != tok {
				t.Errorf("re-signing the decoded data gives\n%s\nwant\n%s", again, tok)
			}
		})
	}
}

func TestPhoenixSignErrors(t *testing.T) {
	p := newTestPhoenix(t)
	tests := []struct {
		name    string
		data    any
		opts    []SignOption
		termErr bool // the error must wrap errTerm
	}{
		{name: "struct", data: struct{}{}, termErr: true},
		{name: "NaN", data: math.NaN(), termErr: true},
		{name: "map with struct value", data: map[string]any{"a": struct{}{}}, termErr: true},
		{name: "too large", data: strings.Repeat("x", maxTokenLen)},
		{name: "zero max age", data: 1, opts: []SignOption{SignMaxAge(0)}},
		{name: "negative max age", data: 1, opts: []SignOption{SignMaxAge(-time.Second)}},
		{name: "sub-second max age", data: 1, opts: []SignOption{SignMaxAge(500 * time.Millisecond)}},
		{name: "fractional max age", data: 1, opts: []SignOption{SignMaxAge(1500 * time.Millisecond)}},
		{name: "zero signed at", data: 1, opts: []SignOption{SignedAt(time.Time{})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := p.Sign(tt.data, tt.opts...)
			if err == nil {
				t.Fatalf("Sign = %q, want an error", tok)
			}
			if tok != "" {
				t.Errorf("Sign returned %q along with %v", tok, err)
			}
			if got := errors.Is(err, errTerm); got != tt.termErr {
				t.Errorf("Sign error %v wraps errTerm: %v, want %v", err, got, tt.termErr)
			}
		})
	}

	// The largest data that fits gives a token Verify accepts; one byte
	// more is refused.
	start := maxTokenLen * 3 / 4
	for n := start; n > 0; n-- {
		tok, err := p.Sign(strings.Repeat("x", n))
		if err != nil {
			continue
		}
		if n == start {
			t.Fatalf("Sign of %d bytes succeeded; the search must start above the limit", n)
		}
		if len(tok) > maxTokenLen || len(tok) < maxTokenLen-4 {
			t.Fatalf("largest token is %d bytes, want just under %d", len(tok), maxTokenLen)
		}
		if _, err := p.Verify(tok); err != nil {
			t.Fatalf("Verify(largest token): %v", err)
		}
		break
	}
}

func TestPhoenixSignOptions(t *testing.T) {
	p := newTestPhoenix(t)
	payload := func(tok string) Tuple {
		t.Helper()
		plain, ok := p.open(tok)
		if !ok {
			t.Fatalf("open(%q) failed", tok)
		}
		v, err := decodeTerm(plain)
		if err != nil {
			t.Fatal(err)
		}
		return v.(Tuple)
	}
	tests := []struct {
		name string
		opts []SignOption
		want Tuple
	}{
		{name: "defaults", want: Tuple{"d", t0.UnixMilli(), int64(86400)}},
		{name: "signed at", opts: []SignOption{SignedAt(time.UnixMilli(1_700_000_000_123).Add(999 * time.Microsecond))}, want: Tuple{"d", int64(1_700_000_000_123), int64(86400)}},
		{name: "max age", opts: []SignOption{SignMaxAge(14 * 24 * time.Hour)}, want: Tuple{"d", t0.UnixMilli(), int64(1_209_600)}},
		{name: "max age infinity", opts: []SignOption{SignMaxAgeInfinity()}, want: Tuple{"d", t0.UnixMilli(), Atom("infinity")}},
		{name: "last max age wins", opts: []SignOption{SignMaxAgeInfinity(), SignMaxAge(time.Second)}, want: Tuple{"d", t0.UnixMilli(), int64(1)}},
		{name: "nil option ignored", opts: []SignOption{nil}, want: Tuple{"d", t0.UnixMilli(), int64(86400)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := payload(mustSign(t, p, "d", tt.opts...)); !termEqual(got, tt.want) {
				t.Errorf("payload = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestPhoenixVerifyAge(t *testing.T) {
	p := newTestPhoenix(t)
	// forged builds an authentic token around an arbitrary payload term.
	forged := func(v any) string { return p.seal(mustTerm(t, v)) }
	ms := t0.UnixMilli()
	day := int64(86_400_000)

	tests := []struct {
		name    string
		tok     string
		now     time.Time
		opts    []VerifyOption
		wantErr error
	}{
		{name: "fresh", tok: mustSign(t, p, 1), now: t0},
		{name: "at the max age", tok: mustSign(t, p, 1), now: t0.Add(24 * time.Hour)},
		{name: "1 ms past the max age", tok: mustSign(t, p, 1), now: t0.Add(24*time.Hour + time.Millisecond), wantErr: ErrExpired},
		{name: "verify max age shorter", tok: mustSign(t, p, 1), now: t0.Add(time.Hour + time.Millisecond), opts: []VerifyOption{VerifyMaxAge(time.Hour)}, wantErr: ErrExpired},
		{name: "verify max age longer", tok: mustSign(t, p, 1), now: t0.Add(13 * 24 * time.Hour), opts: []VerifyOption{VerifyMaxAge(14 * 24 * time.Hour)}},
		{name: "verify max age in milliseconds", tok: mustSign(t, p, 1), now: t0.Add(1500 * time.Millisecond), opts: []VerifyOption{VerifyMaxAge(1500*time.Millisecond + 999*time.Microsecond)}},
		{name: "verify max age under 1 ms, same ms", tok: mustSign(t, p, 1), now: t0, opts: []VerifyOption{VerifyMaxAge(time.Microsecond)}},
		{name: "verify max age under 1 ms, next ms", tok: mustSign(t, p, 1), now: t0.Add(time.Millisecond), opts: []VerifyOption{VerifyMaxAge(time.Microsecond)}, wantErr: ErrExpired},
		{name: "verify max age zero", tok: mustSign(t, p, 1), now: t0, opts: []VerifyOption{VerifyMaxAge(0)}, wantErr: ErrExpired},
		{name: "verify max age negative", tok: mustSign(t, p, 1), now: t0, opts: []VerifyOption{VerifyMaxAge(-time.Hour)}, wantErr: ErrExpired},
		{name: "verify infinity", tok: mustSign(t, p, 1), now: t0.AddDate(50, 0, 0), opts: []VerifyOption{VerifyMaxAgeInfinity()}},
		{name: "last verify option wins", tok: mustSign(t, p, 1), now: t0.AddDate(1, 0, 0), opts: []VerifyOption{VerifyMaxAgeInfinity(), VerifyMaxAge(time.Hour)}, wantErr: ErrExpired},
		{name: "nil verify option", tok: mustSign(t, p, 1), now: t0, opts: []VerifyOption{nil}},
		{name: "token infinity", tok: mustSign(t, p, 1, SignMaxAgeInfinity()), now: t0.AddDate(50, 0, 0)},
		{name: "future within skew", tok: mustSign(t, p, 1, SignedAt(t0.Add(time.Minute))), now: t0},
		{name: "future beyond skew", tok: mustSign(t, p, 1, SignedAt(t0.Add(time.Minute+time.Millisecond))), now: t0, wantErr: ErrInvalid},
		{name: "future, token infinity", tok: mustSign(t, p, 1, SignedAt(t0.AddDate(1, 0, 0)), SignMaxAgeInfinity()), now: t0},
		{name: "future, verify infinity", tok: mustSign(t, p, 1, SignedAt(t0.AddDate(1, 0, 0))), now: t0, opts: []VerifyOption{VerifyMaxAgeInfinity()}},
		{name: "future, max age zero", tok: forged(Tuple{1, ms + day, 0}), now: t0, wantErr: ErrExpired},
		{name: "signed at int64 min", tok: forged(Tuple{1, int64(math.MinInt64), int64(math.MaxInt64)}), now: t0, wantErr: ErrExpired},
		{name: "signed at int64 max", tok: forged(Tuple{1, int64(math.MaxInt64), int64(math.MaxInt64)}), now: t0, wantErr: ErrInvalid},
		{name: "max age int64 max seconds", tok: forged(Tuple{1, int64(0), int64(math.MaxInt64)}), now: t0},
		{name: "max age just over the int64 ms range", tok: forged(Tuple{1, int64(0), int64(math.MaxInt64/1000 + 1)}), now: t0},
		{name: "max age bignum", tok: forged(Tuple{1, int64(0), new(big.Int).Lsh(big.NewInt(1), 100)}), now: t0},
		{name: "max age negative bignum", tok: forged(Tuple{1, ms, new(big.Int).Lsh(big.NewInt(-1), 100)}), now: t0, wantErr: ErrExpired},
		{name: "max age huge float", tok: forged(Tuple{1, int64(0), 1e300}), now: t0},
		{name: "max age float", tok: forged(Tuple{1, ms, 1.5}), now: t0.Add(1500 * time.Millisecond)},
		{name: "max age float, 1 ms late", tok: forged(Tuple{1, ms, 1.5}), now: t0.Add(1501 * time.Millisecond), wantErr: ErrExpired},
		{name: "max age tiny float", tok: forged(Tuple{1, ms, 1e-9}), now: t0},
		{name: "max age negative zero float", tok: forged(Tuple{1, ms, math.Copysign(0, -1)}), now: t0, wantErr: ErrExpired},
		{name: "max age nil", tok: forged(Tuple{1, ms, nil}), now: t0, wantErr: ErrInvalid},
		{name: "max age string", tok: forged(Tuple{1, ms, "86400"}), now: t0, wantErr: ErrInvalid},
		{name: "max age nil, verify max age given", tok: forged(Tuple{1, ms, nil}), now: t0, opts: []VerifyOption{VerifyMaxAge(time.Hour)}},
		{name: "max age atom, verify infinity", tok: forged(Tuple{1, ms, Atom("forever")}), now: t0, opts: []VerifyOption{VerifyMaxAgeInfinity()}},
		{name: "signed at bignum", tok: forged(Tuple{1, new(big.Int).Lsh(big.NewInt(1), 70), 86400}), now: t0, wantErr: ErrInvalid},
		{name: "signed at float", tok: forged(Tuple{1, float64(ms), 86400}), now: t0, wantErr: ErrInvalid},
		{name: "legacy tuple", tok: forged(Tuple{"d", ms}), now: t0.Add(24 * time.Hour)},
		{name: "legacy tuple expired", tok: forged(Tuple{"d", ms}), now: t0.Add(24*time.Hour + time.Millisecond), wantErr: ErrExpired},
		{name: "legacy map", tok: forged(map[Atom]any{"data": "d", "signed": ms}), now: t0},
		{name: "legacy map with nil data", tok: forged(map[Atom]any{"data": nil, "signed": ms}), now: t0},
		{name: "legacy map with extra keys", tok: forged(map[Atom]any{"data": "d", "signed": ms, "v": 2}), now: t0},
		{name: "legacy map with mixed keys", tok: forged(map[any]any{Atom("data"): "d", Atom("signed"): ms, "x": 1}), now: t0},
		{name: "legacy map expired", tok: forged(map[Atom]any{"data": "d", "signed": ms}), now: t0.Add(25 * time.Hour), wantErr: ErrExpired},
		{name: "legacy map without data", tok: forged(map[Atom]any{"signed": ms}), now: t0, wantErr: ErrInvalid},
		{name: "legacy map without signed", tok: forged(map[Atom]any{"data": "d"}), now: t0, wantErr: ErrInvalid},
		{name: "mixed map without data", tok: forged(map[any]any{Atom("signed"): ms, "data": "d"}), now: t0, wantErr: ErrInvalid},
		{name: "map with string keys", tok: forged(map[string]any{"data": "d", "signed": ms}), now: t0, wantErr: ErrInvalid},
		{name: "1-tuple", tok: forged(Tuple{"d"}), now: t0, wantErr: ErrInvalid},
		{name: "list", tok: forged([]any{"d", ms, 86400}), now: t0, wantErr: ErrInvalid},
		{name: "bare data", tok: forged("d"), now: t0, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := at(p, tt.now).Verify(tt.tok, tt.opts...)
			if err != tt.wantErr {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && got != nil {
				t.Errorf("Verify data = %#v with error %v", got, err)
			}
		})
	}
}

func TestPhoenixVerifyMalformed(t *testing.T) {
	p := newTestPhoenix(t)
	good := mustSign(t, p, "user:42")
	h, rest, _ := strings.Cut(good, ".")
	pl, mac, _ := strings.Cut(rest, ".")
	tests := []struct {
		name string
		tok  string
	}{
		{name: "garbage", tok: "not a token"},
		{name: "dots only", tok: ".."},
		{name: "header only", tok: "SFMyNTY"},
		{name: "empty payload and MAC", tok: "SFMyNTY.."},
		{name: "lowercase header", tok: strings.ToLower(h) + "." + rest},
		{name: "padded header", tok: "SFMyNTY=." + rest},
		{name: "newline in payload", tok: h + "." + pl[:3] + "\n" + pl[3:] + "." + mac},
		{name: "newline in MAC", tok: h + "." + pl + "." + mac[:3] + "\r\n" + mac[3:]},
		{name: "space", tok: good + " "},
		{name: "non-canonical MAC", tok: h + "." + pl + "." + mac[:len(mac)-1] + "B"},
		{name: "MAC too long to decode", tok: h + "." + pl + "." + strings.Repeat("A", 100)},
		{name: "empty MAC", tok: h + "." + pl + "."},
		{name: "swapped parts", tok: h + "." + mac + "." + pl},
		{name: "too long", tok: strings.Repeat("A", maxTokenLen+1)},
		{name: "pyre Signer token", tok: newTestSigner(t, testSecret, testSalt).Sign([]byte("user:42"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := p.Verify(tt.tok); err != ErrInvalid || got != nil {
				t.Errorf("Verify = %#v, %v; want nil, %v", got, err, ErrInvalid)
			}
		})
	}
	if _, err := p.Verify(""); err != ErrMissing {
		t.Errorf("Verify(\"\") error = %v, want %v", err, ErrMissing)
	}
}

func TestPhoenixCompressedPayload(t *testing.T) {
	p := newTestPhoenix(t)
	data := map[string]any{"rooms": []any{strings.Repeat("lobby ", 200), int64(1)}}
	body := mustTerm(t, Tuple{data, t0.UnixMilli(), 86400})[1:]
	// compressed builds term_to_binary(..., [compressed]) by hand with a
	// declared size and extra bytes after the zlib stream.
	compressed := func(declared int, trailing []byte) string {
		var z bytes.Buffer
		w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
		w.Write(body)
		w.Close()
		plain := []byte{etfVersion, tagCompressed}
		plain = binary.BigEndian.AppendUint32(plain, uint32(declared))
		plain = append(plain, z.Bytes()...)
		return p.seal(append(plain, trailing...))
	}
	good := compressed(len(body), nil)
	if len(good) >= len(mustSign(t, p, data)) {
		t.Fatalf("compressed token (%d bytes) is not shorter than plain", len(good))
	}
	got, err := p.Verify(good)
	if err != nil || !termEqual(got, data) {
		t.Fatalf("Verify(compressed) = %#v, %v; want %#v", got, err, data)
	}
	for name, tok := range map[string]string{
		"declared size too small": compressed(len(body)-1, nil),
		"declared size too large": compressed(len(body)+1, nil),
		"trailing bytes":          compressed(len(body), []byte{0}),
	} {
		if _, err := p.Verify(tok); err != ErrInvalid {
			t.Errorf("Verify(%s) error = %v, want %v", name, err, ErrInvalid)
		}
	}

	// A zlib bomb: 8 KiB that would inflate to 8 MiB is refused up front
	// because it declares more than maxUncompressed.
	var z bytes.Buffer
	w, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	w.Write(make([]byte, 8<<20))
	w.Close()
	bomb := binary.BigEndian.AppendUint32([]byte{etfVersion, tagCompressed}, 8<<20)
	if _, err := p.Verify(p.seal(append(bomb, z.Bytes()...))); err != ErrInvalid {
		t.Errorf("Verify(zlib bomb) error = %v, want %v", err, ErrInvalid)
	}
}

func TestPhoenixSaltAndSecretSeparate(t *testing.T) {
	p := newTestPhoenix(t)
	tok := mustSign(t, p, "x")
	other, err := NewPhoenix(testKeyBase, "admin socket", WithPhoenixClock(fixedClock(t0)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(tok); err != ErrInvalid {
		t.Errorf("other salt: error = %v, want %v", err, ErrInvalid)
	}
	keyBase := bytes.Clone(testKeyBase)
	keyBase[0] ^= 1
	other, err = NewPhoenix(keyBase, testSalt, WithPhoenixClock(fixedClock(t0)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(tok); err != ErrInvalid {
		t.Errorf("other secret: error = %v, want %v", err, ErrInvalid)
	}
	// Clearing the caller's copy of the secret changes nothing.
	for i := range keyBase {
		keyBase[i] = 0
	}
	if data, err := other.Verify(mustSign(t, other, "y")); err != nil || data != "y" {
		t.Errorf("after clearing the secret: %#v, %v", data, err)
	}
}

func TestPhoenixUsesClock(t *testing.T) {
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p, err := NewPhoenix(testKeyBase, testSalt, WithPhoenixClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	tok := mustSign(t, p, "x", SignMaxAge(time.Minute))
	if want := mustSign(t, p, "x", SignMaxAge(time.Minute), SignedAt(t0)); tok != want {
		t.Errorf("Sign = %q, want SignedAt(now) = %q", tok, want)
	}
	mu.Lock()
	now = t0.Add(time.Minute + time.Millisecond)
	mu.Unlock()
	if _, err := p.Verify(tok); err != ErrExpired {
		t.Errorf("Verify after the max age: error = %v, want %v", err, ErrExpired)
	}
}

func TestPhoenixConcurrentUse(t *testing.T) {
	p := newTestPhoenix(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				want := map[string]any{"g": int64(g), "i": int64(i)}
				tok, err := p.Sign(want)
				if err != nil {
					t.Errorf("Sign: %v", err)
					return
				}
				got, err := p.Verify(tok)
				if err != nil || !termEqual(got, want) {
					t.Errorf("goroutine %d: Verify(Sign(%v)) = %v, %v", g, want, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// checkVerifyResult fails unless (data, err) is a possible Verify answer.
func checkVerifyResult(t *testing.T, data any, err error) {
	t.Helper()
	if err != nil {
		if data != nil {
			t.Fatalf("Verify returned data %#v with error %v", data, err)
		}
		if err != ErrInvalid && err != ErrExpired && err != ErrMissing {
			t.Fatalf("Verify returned unexpected error %v", err)
		}
	}
}

// FuzzPhoenixVerify feeds arbitrary strings to Verify: it must not panic
// and may only answer with the package's sentinels. Anything accepted must
// have been signed with the key (the seeds are), so its data signs again.
func FuzzPhoenixVerify(f *testing.F) {
	p := newTestPhoenix(f)
	for _, tv := range loadVectors(f).Tokens {
		f.Add(tv.Token)
	}
	for _, d := range []any{1, "user:42", map[string]any{"a": []any{1.5, Atom("b")}}, Tuple{nil, true}} {
		f.Add(mustSign(f, p, d))
		f.Add(mustSign(f, p, d, SignedAt(t0.Add(-48*time.Hour))))
	}
	f.Add("")
	f.Add("SFMyNTY..")
	f.Add("SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.x2GV8fzmggTQdkMlzdkfE2mSNoVoWKMMirhPRqMzXSc")
	f.Fuzz(func(t *testing.T, tok string) {
		data, err := p.Verify(tok)
		checkVerifyResult(t, data, err)
		if err != nil {
			return
		}
		tok2, err := p.Sign(data)
		if err != nil {
			if errors.Is(err, errTerm) {
				t.Fatalf("accepted %q but its data %#v does not encode: %v", tok, data, err)
			}
			return // a compressed token's data can be too large to sign plainly
		}
		if again, err := p.Verify(tok2); err != nil || !termEqual(again, data) {
			t.Fatalf("accepted %q with data %#v, which does not survive Sign/Verify: %#v, %v", tok, data, again, err)
		}
	})
}

// FuzzPhoenixVerifyPayload signs arbitrary payload bytes with the right
// key, so the fuzzer explores everything behind the MAC check: the term
// decoder, the payload shapes and the age rules.
func FuzzPhoenixVerifyPayload(f *testing.F) {
	p := newTestPhoenix(f)
	for _, tt := range loadVectors(f).Terms {
		f.Add(mustTerm(f, Tuple{termFromJSON(f, tt.Term), t0.UnixMilli(), int64(86400)}), int64(0))
	}
	f.Add(mustTerm(f, Tuple{"d", t0.UnixMilli()}), int64(1000))
	f.Add(mustTerm(f, map[Atom]any{"data": 1, "signed": t0.UnixMilli()}), int64(-1000))
	f.Add(mustTerm(f, Tuple{"d", t0.UnixMilli(), Atom("infinity")}), int64(math.MaxInt64))
	f.Add(mustTerm(f, Tuple{"d", t0.UnixMilli(), 0.5}), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, plain []byte, nowOffsetMS int64) {
		v := at(p, time.UnixMilli(t0.UnixMilli()+nowOffsetMS%(1<<50)))
		if len(plain) > maxTokenLen {
			plain = plain[:maxTokenLen]
		}
		tok := v.seal(plain)
		data, err := v.Verify(tok)
		checkVerifyResult(t, data, err)
		if err == nil {
			if _, err := decodeTerm(plain); err != nil {
				t.Fatalf("Verify accepted a payload decodeTerm rejects: %x", plain)
			}
		}
	})
}

func BenchmarkPhoenixSign(b *testing.B) {
	p := newTestPhoenix(b)
	data := map[string]any{"user_id": 1234567890, "role": "member"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Sign(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPhoenixSignInt(b *testing.B) {
	p := newTestPhoenix(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Sign(1234567890); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPhoenixVerify(b *testing.B) {
	p := newTestPhoenix(b)
	tok := mustSign(b, p, map[string]any{"user_id": 1234567890, "role": "member"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPhoenixVerifyInt(b *testing.B) {
	p := newTestPhoenix(b)
	tok := mustSign(b, p, 1234567890)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewPhoenix(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewPhoenix(testKeyBase, testSalt); err != nil {
			b.Fatal(err)
		}
	}
}
