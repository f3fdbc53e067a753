package token

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"os"
	"strings"
	"testing"
	"time"
)

// vectorFile is testdata/phoenix_vectors.json, written by
// testdata/phoenix_vectors.mjs (an independent Node.js implementation of
// Phoenix.Token; see the comment at its top). Go never runs Node: the
// JSON is committed.
type vectorFile struct {
	Keys []struct {
		Name          string `json:"name"`
		SecretKeyBase string `json:"secret_key_base"`
		Salt          string `json:"salt"`
		Iterations    int    `json:"iterations"`
		Length        int    `json:"length"`
		Digest        string `json:"digest"`
		KeyHex        string `json:"key_hex"`
	} `json:"keys"`
	Terms []struct {
		Name   string          `json:"name"`
		Term   json.RawMessage `json:"term"`
		EtfHex string          `json:"etf_hex"`
	} `json:"terms"`
	Tokens []tokenVector `json:"tokens"`
}

// tokenVector is one token and how Verify must answer for it.
type tokenVector struct {
	Name          string          `json:"name"`
	SecretKeyBase string          `json:"secret_key_base"`
	Salt          string          `json:"salt"`
	NowMS         int64           `json:"now_ms"`
	Token         string          `json:"token"`
	Want          string          `json:"want"` // ok, expired, invalid or missing
	Data          json.RawMessage `json:"data"` // the data when Want is ok
	VerifyMaxAge  json.RawMessage `json:"verify_max_age"`
	Key           *struct {
		Iterations int    `json:"iterations"`
		Length     int    `json:"length"`
		Digest     string `json:"digest"`
	} `json:"key"`
	// Sign is present when the token was made as Phoenix.Token.sign makes
	// tokens, so Phoenix.Sign must reproduce it from the same inputs.
	Sign *struct {
		Data       json.RawMessage `json:"data"`
		SignedAtMS int64           `json:"signed_at_ms"`
		MaxAge     json.RawMessage `json:"max_age"`
		PayloadHex string          `json:"payload_hex"`
	} `json:"sign"`
	Note string `json:"note"`
}

// loadVectors reads and parses the vector file.
func loadVectors(tb testing.TB) *vectorFile {
	tb.Helper()
	b, err := os.ReadFile("testdata/phoenix_vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	return &v
}

// digestByName maps the digest names Node and Erlang use to Go's hashes.
func digestByName(tb testing.TB, name string) func() hash.Hash {
	tb.Helper()
	switch name {
	case "sha256":
		return sha256.New
	case "sha384":
		return sha512.New384
	case "sha512":
		return sha512.New
	}
	tb.Fatalf("unknown digest %q", name)
	return nil
}

func TestPhoenixVectorKeys(t *testing.T) {
	v := loadVectors(t)
	if got, want := len(v.Keys), 5; got != want {
		t.Fatalf("vector file has %d keys, want %d", got, want)
	}
	for _, k := range v.Keys {
		t.Run(k.Name, func(t *testing.T) {
			p, err := NewPhoenix([]byte(k.SecretKeyBase), k.Salt,
				WithKeyIterations(k.Iterations), WithKeyLength(k.Length), WithKeyDigest(digestByName(t, k.Digest)))
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(p.key); got != k.KeyHex {
				t.Errorf("key = %s, want %s", got, k.KeyHex)
			}
		})
	}
}

func TestPhoenixVectorTerms(t *testing.T) {
	v := loadVectors(t)
	if got, want := len(v.Terms), 50; got != want {
		t.Fatalf("vector file has %d terms, want %d", got, want)
	}
	for _, tt := range v.Terms {
		t.Run(tt.Name, func(t *testing.T) {
			value := termFromJSON(t, tt.Term)
			got, err := encodeTerm(value)
			if err != nil {
				t.Fatalf("encodeTerm(%#v): %v", value, err)
			}
			if got := hex.EncodeToString(got); got != tt.EtfHex {
				t.Errorf("encodeTerm(%#v)\n got %s\nwant %s", value, got, tt.EtfHex)
			}
			back, err := decodeTerm(mustHex(t, tt.EtfHex))
			if err != nil {
				t.Fatalf("decodeTerm: %v", err)
			}
			if !termEqual(back, value) {
				t.Errorf("decodeTerm = %#v, want %#v", back, value)
			}
		})
	}
}

// vectorPhoenix builds the verifier a token vector describes, reading the
// vector's clock.
func vectorPhoenix(t *testing.T, tv tokenVector) *Phoenix {
	t.Helper()
	opts := []PhoenixOption{WithPhoenixClock(fixedClock(time.UnixMilli(tv.NowMS)))}
	if k := tv.Key; k != nil {
		opts = append(opts, WithKeyIterations(k.Iterations), WithKeyLength(k.Length), WithKeyDigest(digestByName(t, k.Digest)))
	}
	p, err := NewPhoenix([]byte(tv.SecretKeyBase), tv.Salt, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// maxAgeOption turns a JSON max age (seconds or "infinity") into the
// matching Sign or Verify option.
func maxAgeOption[O any](t *testing.T, raw json.RawMessage, seconds func(time.Duration) O, infinity func() O) O {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil && s == "infinity" {
		return infinity()
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatalf("bad max age %s: %v", raw, err)
	}
	return seconds(time.Duration(n) * time.Second)
}

func TestPhoenixVectorTokens(t *testing.T) {
	v := loadVectors(t)
	counts := map[string]int{}
	signed := 0
	for _, tv := range v.Tokens {
		counts[tv.Want]++
		t.Run(tv.Name, func(t *testing.T) {
			p := vectorPhoenix(t, tv)
			var opts []VerifyOption
			if tv.VerifyMaxAge != nil {
				opts = append(opts, maxAgeOption(t, tv.VerifyMaxAge, VerifyMaxAge, VerifyMaxAgeInfinity))
			}
			wantErr := map[string]error{"ok": nil, "expired": ErrExpired, "invalid": ErrInvalid, "missing": ErrMissing}[tv.Want]
			if wantErr == nil && tv.Want != "ok" {
				t.Fatalf("unknown want %q", tv.Want)
			}

			got, err := p.Verify(tv.Token, opts...)
			if err != wantErr {
				t.Fatalf("Verify error = %v, want %v (%s)", err, wantErr, tv.Note)
			}
			if wantErr != nil {
				if got != nil {
					t.Errorf("Verify returned data %#v with error %v", got, err)
				}
			} else if want := termFromJSON(t, tv.Data); !termEqual(got, want) {
				t.Errorf("Verify data = %#v, want %#v", got, want)
			}

			if tv.Sign == nil {
				return
			}
			// The other direction: Go signs the same inputs and must
			// produce the payload bytes and the token Node produced.
			data := termFromJSON(t, tv.Sign.Data)
			maxAge := maxAgeOption(t, tv.Sign.MaxAge, SignMaxAge, SignMaxAgeInfinity)
			tok, err := p.Sign(data, SignedAt(time.UnixMilli(tv.Sign.SignedAtMS)), maxAge)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			parts := strings.Split(tok, ".")
			if len(parts) != 3 {
				t.Fatalf("Sign = %q, want three parts", tok)
			}
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(payload); got != tv.Sign.PayloadHex {
				t.Errorf("Go payload\n got %s\nwant %s", got, tv.Sign.PayloadHex)
			}
			if tok != tv.Token {
				t.Errorf("Sign\n got %s\nwant %s", tok, tv.Token)
			}
		})
		if tv.Sign != nil {
			signed++
		}
	}
	// Guard against a truncated or regenerated file quietly testing less.
	for want, n := range map[string]int{"ok": 30, "expired": 13, "invalid": 21, "missing": 1} {
		if counts[want] != n {
			t.Errorf("vectors expecting %s: %d, want %d", want, counts[want], n)
		}
	}
	if signed != 32 {
		t.Errorf("vectors Go re-signs: %d, want 32", signed)
	}
}

// TestPhoenixTokenByHand rebuilds, one byte at a time, a token that
// Phoenix.Token.sign produced in Elixir (PROTOCOL.md 8.5):
//
//	Phoenix.Token.sign(String.duplicate("a", 64), "user auth", 42,
//	                   signed_at: 1_700_000_000)
//
// and checks that the layout below, the Elixir token and Phoenix.Sign all
// agree.
func TestPhoenixTokenByHand(t *testing.T) {
	const elixirToken = "SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.x2GV8fzmggTQdkMlzdkfE2mSNoVoWKMMirhPRqMzXSc"

	// PBKDF2-HMAC-SHA256("aaa…a", "user auth", 1000 iterations, 32 bytes),
	// as computed by Erlang's :crypto.pbkdf2_hmac and by Python's hashlib.
	key := mustHex(t, "31fbb3adecec68c972fd2697491c1a02763359667d5ac06901233fb98a57fb14")

	// :erlang.term_to_binary({42, 1_700_000_000_000, 86400})
	payload := []byte{
		131,    // version of the external term format
		104, 3, // SMALL_TUPLE_EXT of arity 3: {data, signed_at_ms, max_age}
		97, 42, // SMALL_INTEGER_EXT 42: the data
		110, 6, 0, // SMALL_BIG_EXT: 6 bytes, sign 0 (positive): signed_at_ms
		0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, // 1_700_000_000_000 = 0x018b_cfe5_6800, least significant byte first
		98, 0x00, 0x01, 0x51, 0x80, // INTEGER_EXT, 32-bit big-endian: max_age 86400 = 0x015180
	}

	// "HS256" in base64 (its padding dropped) names the MAC; the MAC covers
	// the header, a dot and the base64url payload as text.
	text := base64.RawStdEncoding.EncodeToString([]byte("HS256")) + "." + base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(text))
	byHand := text + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	if byHand != elixirToken {
		t.Fatalf("token built by hand\n got %s\nwant %s", byHand, elixirToken)
	}

	signedAt := time.Unix(1_700_000_000, 0)
	p, err := NewPhoenix([]byte(strings.Repeat("a", 64)), "user auth", WithPhoenixClock(fixedClock(signedAt.Add(time.Hour))))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.key, key) {
		t.Errorf("derived key = %x, want %x", p.key, key)
	}
	tok, err := p.Sign(42, SignedAt(signedAt))
	if err != nil || tok != elixirToken {
		t.Errorf("Sign = %q, %v; want %q", tok, err, elixirToken)
	}
	data, err := p.Verify(elixirToken)
	if err != nil || data != int64(42) {
		t.Errorf("Verify = %#v, %v; want int64(42)", data, err)
	}

	// The second Elixir vector, a string, through the public API only.
	const elixirString = "SFMyNTY.g2gDbQAAAAh1c2VyOjEyM24GAABo5c-LAWIAAVGA.y_caxctyPmUU_VfLxUqzSSUcVnBwgAzAzP8395XgYbU"
	tok, err = p.Sign("user:123", SignedAt(signedAt))
	if err != nil || tok != elixirString {
		t.Errorf("Sign = %q, %v; want %q", tok, err, elixirString)
	}
	late := *p
	late.now = fixedClock(signedAt.Add(24*time.Hour + time.Millisecond))
	if _, err := late.Verify(elixirString); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify a day and 1 ms later: error = %v, want %v", err, ErrExpired)
	}
	if data, err := late.Verify(elixirString, VerifyMaxAgeInfinity()); err != nil || data != "user:123" {
		t.Errorf("Verify with max age infinity = %#v, %v; want %q", data, err, "user:123")
	}
}
