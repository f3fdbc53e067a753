package token

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

// termEqual reports whether two decoded terms are the same, with the same
// Go types: *big.Int by value, floats by bits (so -0.0 is not 0.0).
func termEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool, int64, string, Atom:
		return a == b
	case float64:
		bf, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(bf)
	case *big.Int:
		bb, ok := b.(*big.Int)
		return ok && a.Cmp(bb) == 0
	case []any:
		bl, ok := b.([]any)
		return ok && sliceEqual(a, bl)
	case Tuple:
		bt, ok := b.(Tuple)
		return ok && sliceEqual(a, bt)
	case map[string]any:
		bm, ok := b.(map[string]any)
		return ok && mapEqual(a, bm)
	case map[Atom]any:
		bm, ok := b.(map[Atom]any)
		return ok && mapEqual(a, bm)
	case map[any]any:
		bm, ok := b.(map[any]any)
		return ok && mapEqual(a, bm)
	}
	return false
}

func sliceEqual[S ~[]any](a, b S) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !termEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func mapEqual[K comparable](a, b map[K]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !termEqual(v, w) {
			return false
		}
	}
	return true
}

// mustHex decodes a hex literal or fails the test.
func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// termFromJSON turns the tagged JSON form used by phoenix_vectors.mjs
// ({"int": "42"}, {"list": [...]}, …) into the Go value decodeTerm returns
// for that term.
func termFromJSON(tb testing.TB, raw json.RawMessage) any {
	tb.Helper()
	var t map[string]json.RawMessage
	if err := json.Unmarshal(raw, &t); err != nil || len(t) != 1 {
		tb.Fatalf("bad tagged term %s: %v", raw, err)
	}
	str := func(r json.RawMessage) string {
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			tb.Fatalf("bad string %s: %v", r, err)
		}
		return s
	}
	elems := func(r json.RawMessage) []any {
		var rs []json.RawMessage
		if err := json.Unmarshal(r, &rs); err != nil {
			tb.Fatalf("bad array %s: %v", r, err)
		}
		out := make([]any, len(rs))
		for i, e := range rs {
			out[i] = termFromJSON(tb, e)
		}
		return out
	}
	for tag, r := range t {
		switch tag {
		case "int":
			n, ok := new(big.Int).SetString(str(r), 10)
			if !ok {
				tb.Fatalf("bad int %s", r)
			}
			if n.IsInt64() {
				return n.Int64()
			}
			return n
		case "float":
			var f float64
			if err := json.Unmarshal(r, &f); err != nil {
				tb.Fatalf("bad float %s: %v", r, err)
			}
			return f
		case "binary":
			return str(r)
		case "binary_hex":
			return string(mustHex(tb, str(r)))
		case "atom":
			switch a := str(r); a {
			case "true":
				return true
			case "false":
				return false
			case "nil":
				return nil
			default:
				return Atom(a)
			}
		case "list":
			return elems(r)
		case "tuple":
			return Tuple(elems(r))
		case "map":
			var pairs [][2]json.RawMessage
			if err := json.Unmarshal(r, &pairs); err != nil {
				tb.Fatalf("bad map %s: %v", r, err)
			}
			allBinary, allAtom := true, true
			for _, p := range pairs {
				if !bytes.Contains(p[0], []byte(`"binary`)) {
					allBinary = false
				}
				if !bytes.Contains(p[0], []byte(`"atom"`)) {
					allAtom = false
				}
			}
			switch {
			case allBinary:
				m := map[string]any{}
				for _, p := range pairs {
					m[termFromJSON(tb, p[0]).(string)] = termFromJSON(tb, p[1])
				}
				return m
			case allAtom:
				m := map[Atom]any{}
				for _, p := range pairs {
					m[atomName(termFromJSON(tb, p[0]))] = termFromJSON(tb, p[1])
				}
				return m
			default:
				m := map[any]any{}
				for _, p := range pairs {
					m[termFromJSON(tb, p[0])] = termFromJSON(tb, p[1])
				}
				return m
			}
		}
	}
	tb.Fatalf("unknown tagged term %s", raw)
	return nil
}

func TestDecodeTermAcceptsOtherEncodings(t *testing.T) {
	// Encodings term_to_binary does not write (older atom tags,
	// non-minimal integers, lists spelled out), which binary_to_term reads
	// all the same.
	tests := []struct {
		name string
		hex  string
		want any
	}{
		{name: "ATOM_EXT Latin-1", hex: "83 64 0004 636166e9", want: Atom("café")},
		{name: "SMALL_ATOM_EXT", hex: "83 73 02 6f6b", want: Atom("ok")},
		{name: "ATOM_EXT true", hex: "83 64 0004 74727565", want: true},
		{name: "ATOM_UTF8_EXT nil", hex: "83 76 0003 6e696c", want: nil},
		{name: "SMALL_BIG small value", hex: "83 6e 01 00 05", want: int64(5)},
		{name: "SMALL_BIG zero padded", hex: "83 6e 04 01 05000000", want: int64(-5)},
		{name: "SMALL_BIG negative zero", hex: "83 6e 01 01 00", want: int64(0)},
		{name: "SMALL_BIG no digits", hex: "83 6e 00 00", want: int64(0)},
		{name: "SMALL_BIG int64 min", hex: "83 6e 08 01 0000000000000080", want: int64(math.MinInt64)},
		{name: "SMALL_BIG padded beyond 8 bytes", hex: "83 6e 0a 00 ffffffffffffff7f 0000", want: int64(math.MaxInt64)},
		{name: "LARGE_BIG small value", hex: "83 6f 00000001 00 07", want: int64(7)},
		{name: "INTEGER_EXT small value", hex: "83 62 00000001", want: int64(1)},
		{name: "INTEGER_EXT negative", hex: "83 62 ffffffff", want: int64(-1)},
		{name: "LIST_EXT of bytes", hex: "83 6c 00000002 6168 6169 6a", want: []any{int64(104), int64(105)}},
		{name: "LARGE_TUPLE_EXT", hex: "83 69 00000001 6101", want: Tuple{int64(1)}},
		{name: "negative zero float", hex: "83 46 8000000000000000", want: math.Copysign(0, -1)},
		{name: "map keys out of order", hex: "83 74 00000002 6d00000001 62 6101 6d00000001 61 6102", want: map[string]any{"a": int64(2), "b": int64(1)}},
		{name: "compressed", hex: "83 50 00000002 789c4b64000000c40062", want: int64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTerm(mustHex(t, tt.hex))
			if err != nil {
				t.Fatalf("decodeTerm error = %v", err)
			}
			if !termEqual(got, tt.want) {
				t.Errorf("decodeTerm = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeTermRejects(t *testing.T) {
	deep := func(n int, open, close string) string {
		return "83" + strings.Repeat(open, n) + "6a" + strings.Repeat(close, n)
	}
	tests := []struct {
		name string
		hex  string
	}{
		{name: "empty", hex: ""},
		{name: "version only", hex: "83"},
		{name: "wrong version", hex: "82 61 01"},
		{name: "no version", hex: "61 01"},
		{name: "trailing byte", hex: "83 61 01 00"},
		{name: "two terms", hex: "83 61 01 61 02"},
		{name: "unknown tag", hex: "83 ff"},
		{name: "old FLOAT_EXT", hex: "83 63" + strings.Repeat("30", 31)},
		{name: "pid", hex: "83 58 770d 6e6f6e6f6465406e6f686f7374 00000001 00000000 00000000"},
		{name: "reference", hex: "83 5a 0001 7703 612340 00000000 00000001"},
		{name: "export fun", hex: "83 71 7701 6d 7701 66 6101"},
		{name: "bit binary", hex: "83 4d 00000001 03 e0"},
		{name: "atom cache ref", hex: "83 52 00"},
		{name: "nested compressed", hex: "83 68 01 50 00000001 00"},
		{name: "improper list", hex: "83 6c 00000001 6101 6102"},
		{name: "list tail missing", hex: "83 6c 00000001 6101"},
		{name: "list longer than input", hex: "83 6c ffffffff 6a"},
		{name: "tuple longer than input", hex: "83 69 ffffffff"},
		{name: "map longer than input", hex: "83 74 ffffffff 6a6a"},
		{name: "binary longer than input", hex: "83 6d ffffffff 00"},
		{name: "string longer than input", hex: "83 6b ffff 00"},
		{name: "large big longer than input", hex: "83 6f ffffffff 00 01"},
		{name: "bad bignum sign", hex: "83 6e 01 02 05"},
		{name: "NaN", hex: "83 46 7ff8000000000000"},
		{name: "infinity", hex: "83 46 7ff0000000000000"},
		{name: "negative infinity", hex: "83 46 fff0000000000000"},
		{name: "truncated float", hex: "83 46 00000000"},
		{name: "atom not UTF-8", hex: "83 77 02 c328"},
		{name: "atom of 256 characters", hex: "83 76 0100" + strings.Repeat("61", 256)},
		{name: "Latin-1 atom of 256 characters", hex: "83 64 0100" + strings.Repeat("61", 256)},
		{name: "duplicate binary key", hex: "83 74 00000002 6d0000000161 6101 6d0000000161 6102"},
		{name: "duplicate atom key", hex: "83 74 00000002 770161 6101 640001 61 6102"},
		{name: "duplicate integer key", hex: "83 74 00000002 6101 6101 62 00000001 6102"},
		{name: "duplicate mixed key spelled twice", hex: "83 74 00000003 6101 6101 6d00000000 6a 6e010001 6102"},
		{name: "zero and negative zero keys", hex: "83 74 00000002 460000000000000000 6101 468000000000000000 6102"},
		{name: "list key", hex: "83 74 00000001 6a 6101"},
		{name: "tuple key", hex: "83 74 00000001 6800 6101"},
		{name: "map key", hex: "83 74 00000001 7400000000 6101"},
		{name: "bignum key", hex: "83 74 00000001 6e09000000000000000000ff 6101"},
		{name: "compressed size too large", hex: "83 50 00010001 789c"},
		{name: "compressed truncated size", hex: "83 50 0000"},
		{name: "compressed bad zlib", hex: "83 50 00000002 0000"},
		{name: "compressed size too small", hex: "83 50 00000001 789c4b64000000c40062"},
		{name: "compressed size too big", hex: "83 50 00000003 789c4b64000000c40062"},
		{name: "compressed bad checksum", hex: "83 50 00000002 789c4b64000000c40063"},
		{name: "compressed trailing bytes", hex: "83 50 00000002 789c4b64000000c40062 00"},
		{name: "list nested 65 deep", hex: deep(65, "6c00000001", "6a")},
		{name: "tuple nested 65 deep", hex: "83" + strings.Repeat("6801", 65) + "6a"},
		{name: "map nested 65 deep", hex: "83" + strings.Repeat("74000000016101", 65) + "6a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTerm(mustHex(t, tt.hex))
			if !errors.Is(err, errTerm) {
				t.Fatalf("decodeTerm = %#v, %v; want error %v", got, err, errTerm)
			}
		})
	}

	// Limits are inclusive: 64 nested containers are fine.
	if _, err := decodeTerm(mustHex(t, deep(64, "6c00000001", "6a"))); err != nil {
		t.Errorf("64 nested lists: %v", err)
	}
}

func TestDecodeTermEveryTruncation(t *testing.T) {
	b, err := encodeTerm(Tuple{
		map[string]any{"rooms": []any{"lobby", int64(1) << 40, 2.5}},
		Atom("ok"), []any{int64(1), int64(2)}, new(big.Int).Lsh(big.NewInt(1), 80), true, nil, "",
	})
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if v, err := decodeTerm(b[:n]); err == nil {
			t.Errorf("decodeTerm of the first %d of %d bytes = %#v, want error", n, len(b), v)
		}
	}
	if _, err := decodeTerm(b); err != nil {
		t.Errorf("decodeTerm of the whole term: %v", err)
	}
}

func TestEncodeTermGoTypes(t *testing.T) {
	type userID int32
	type role string
	type blob []byte
	// Each value must encode exactly like its canonical counterpart, the
	// value decodeTerm would return.
	tests := []struct {
		name  string
		value any
		like  any
	}{
		{name: "int", value: int(-3), like: int64(-3)},
		{name: "int8", value: int8(-128), like: int64(-128)},
		{name: "int16", value: int16(300), like: int64(300)},
		{name: "int32", value: int32(math.MinInt32), like: int64(math.MinInt32)},
		{name: "uint", value: uint(7), like: int64(7)},
		{name: "uint8", value: uint8(255), like: int64(255)},
		{name: "uint16", value: uint16(65535), like: int64(65535)},
		{name: "uint32", value: uint32(math.MaxUint32), like: int64(math.MaxUint32)},
		{name: "uint64 max", value: uint64(math.MaxUint64), like: new(big.Int).SetUint64(math.MaxUint64)},
		{name: "uintptr", value: uintptr(9), like: int64(9)},
		{name: "named int", value: userID(42), like: int64(42)},
		{name: "small *big.Int", value: big.NewInt(-9), like: int64(-9)},
		{name: "float32", value: float32(1.5), like: 1.5},
		{name: "named string", value: role("admin"), like: "admin"},
		{name: "[]byte", value: []byte{0, 1}, like: "\x00\x01"},
		{name: "named []byte", value: blob("hi"), like: "hi"},
		{name: "byte array", value: [3]byte{'a', 'b', 'c'}, like: "abc"},
		{name: "nil []byte", value: []byte(nil), like: ""},
		{name: "[]string", value: []string{"a", "b"}, like: []any{"a", "b"}},
		{name: "[]int charlist", value: []int{104, 105}, like: []any{int64(104), int64(105)}},
		{name: "[]int list", value: []int{1, 1000}, like: []any{int64(1), int64(1000)}},
		{name: "[]any of mixed small ints", value: []any{uint8(1), int64(2), big.NewInt(3), userID(4)}, like: []any{int64(1), int64(2), int64(3), int64(4)}},
		{name: "nil []any", value: []any(nil), like: []any{}},
		{name: "int array", value: [2]int{1, 2}, like: []any{int64(1), int64(2)}},
		{name: "named bool", value: struct{ B bool }{true}.B, like: true},
		{name: "map[string]string", value: map[string]string{"b": "2", "a": "1"}, like: map[string]any{"a": "1", "b": "2"}},
		{name: "map[role]int", value: map[role]int{"x": 1}, like: map[string]any{"x": int64(1)}},
		{name: "map[Atom]any", value: map[Atom]any{"z": 1, "a": nil, "true": false}, like: map[Atom]any{"a": nil, "true": false, "z": int64(1)}},
		{name: "map[int]string", value: map[int]string{3: "c", -1: "a", 1000: "d"}, like: map[any]any{int64(3): "c", int64(-1): "a", int64(1000): "d"}},
		{name: "map[any]any", value: map[any]any{"s": 1, Atom("a"): 2, 1.5: 3, 2: 4, true: 5}, like: map[any]any{"s": int64(1), Atom("a"): int64(2), 1.5: int64(3), int64(2): int64(4), true: int64(5)}},
		{name: "nil map", value: map[string]any(nil), like: map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeTerm(tt.value)
			if err != nil {
				t.Fatalf("encodeTerm(%#v): %v", tt.value, err)
			}
			want, err := encodeTerm(tt.like)
			if err != nil {
				t.Fatalf("encodeTerm(%#v): %v", tt.like, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encodeTerm(%#v) = %x, want %x", tt.value, got, want)
			}
			back, err := decodeTerm(got)
			if err != nil || !termEqual(back, tt.like) {
				t.Errorf("decodeTerm(encodeTerm(%#v)) = %#v, %v; want %#v", tt.value, back, err, tt.like)
			}
		})
	}
}

func TestEncodeTermListForms(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		elem    any
		wantTag byte
	}{
		{name: "empty", n: 0, elem: 1, wantTag: tagNil},
		{name: "65535 bytes", n: maxStringExt, elem: 1, wantTag: tagString},
		{name: "65536 bytes", n: maxStringExt + 1, elem: 1, wantTag: tagList},
		{name: "one atom", n: 1, elem: Atom("a"), wantTag: tagList},
		{name: "one negative int", n: 1, elem: -1, wantTag: tagList},
		{name: "one 256", n: 1, elem: 256, wantTag: tagList},
		{name: "one bool", n: 1, elem: true, wantTag: tagList},
		{name: "one float", n: 1, elem: 1.0, wantTag: tagList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := make([]any, tt.n)
			for i := range l {
				l[i] = tt.elem
			}
			b, err := encodeTerm(l)
			if err != nil {
				t.Fatal(err)
			}
			if got := b[1]; got != tt.wantTag {
				t.Errorf("tag = %d, want %d", got, tt.wantTag)
			}
			back, err := decodeTerm(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(back.([]any)); got != tt.n {
				t.Errorf("decoded %d elements, want %d", got, tt.n)
			}
		})
	}
}

func TestEncodeTermRejects(t *testing.T) {
	cycle := []any{nil}
	cycle[0] = cycle
	cyclicMap := map[string]any{}
	cyclicMap["self"] = cyclicMap
	deepTuple := any(int64(1))
	for range maxTermDepth + 1 {
		deepTuple = Tuple{deepTuple}
	}
	x := 1
	tests := []struct {
		name  string
		value any
	}{
		{name: "struct", value: struct{ A int }{1}},
		{name: "pointer", value: &x},
		{name: "channel", value: make(chan int)},
		{name: "func", value: func() {}},
		{name: "complex", value: complex(1, 2)},
		{name: "nil *big.Int", value: (*big.Int)(nil)},
		{name: "NaN", value: math.NaN()},
		{name: "infinity", value: math.Inf(1)},
		{name: "float32 infinity", value: float32(math.Inf(-1))},
		{name: "atom not UTF-8", value: Atom("\xff")},
		{name: "atom of 256 characters", value: Atom(strings.Repeat("a", 256))},
		{name: "cyclic list", value: cycle},
		{name: "cyclic map", value: cyclicMap},
		{name: "nested too deeply", value: deepTuple},
		{name: "struct inside a list", value: []any{1, struct{}{}}},
		{name: "struct inside a map", value: map[string]any{"a": struct{}{}}},
		{name: "keys equal as terms", value: map[any]any{1: "a", int64(1): "b"}},
		{name: "true and atom true", value: map[any]any{true: 1, Atom("true"): 2}},
		{name: "array key", value: map[[2]int]int{{1, 2}: 3}},
		{name: "struct key", value: map[struct{}]int{{}: 1}},
		{name: "bad atom key", value: map[Atom]int{"\xff": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := encodeTerm(tt.value)
			if !errors.Is(err, errTerm) {
				t.Fatalf("encodeTerm = %x, %v; want error %v", b, err, errTerm)
			}
		})
	}

	// 64 levels are fine, as for the decoder: the value below is 64
	// tuples around an integer.
	ok := any(int64(1))
	for range maxTermDepth {
		ok = Tuple{ok}
	}
	if _, err := encodeTerm(ok); err != nil {
		t.Errorf("64 nested tuples: %v", err)
	}
}

func TestEncodeTermMapKeyOrder(t *testing.T) {
	// Erlang orders map keys numbers < atoms < binaries; numbers by value
	// (an integer before an equal float), atoms and binaries by bytes.
	m := map[any]any{
		"b": 0, "ab": 0, "": 0, Atom("b"): 0, Atom("a"): 0, nil: 0, true: 0,
		2: 0, 1.0: 0, 1: 0, -3.5: 0, new(big.Int).Lsh(big.NewInt(1), 70): 0, 1e30: 0,
	}
	b, err := encodeTerm(m)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	d := decoder{b: b[6:]} // past version, tag and count
	for range len(m) {
		k, err := d.term(0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.term(0); err != nil {
			t.Fatal(err)
		}
		switch k := k.(type) {
		case float64:
			keys = append(keys, "f"+big.NewFloat(k).String())
		case *big.Int:
			keys = append(keys, "i"+k.String())
		case int64:
			keys = append(keys, "i"+big.NewInt(k).String())
		case Atom, bool, nil:
			keys = append(keys, "a"+string(atomName(k)))
		case string:
			keys = append(keys, "b"+k)
		}
	}
	want := "f-3.5 i1 f1 i2 i1180591620717411303424 f1e+30 aa ab anil atrue b bab bb"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("key order = %s\nwant        %s", got, want)
	}
}

// FuzzDecodeTerm feeds arbitrary bytes to the decoder. It must not panic;
// whatever it accepts must encode again, and decode from that encoding to
// the same value (the encoding itself may differ: binary_to_term accepts
// several spellings of one term).
func FuzzDecodeTerm(f *testing.F) {
	for _, tt := range loadVectors(f).Terms {
		f.Add(mustHex(f, tt.EtfHex))
	}
	for _, s := range []string{
		"", "83", "8361ff", "83740000000177016161ff", "83 50 00000002 789c4b64000000c40062",
		"836c000000016101 6102", "83646f6b", "836e080100000000000000 80",
	} {
		f.Add(mustHex(f, strings.ReplaceAll(s, " ", "")))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeTerm(b)
		if err != nil {
			if !errors.Is(err, errTerm) {
				t.Fatalf("decodeTerm(%x) error %v does not wrap errTerm", b, err)
			}
			return
		}
		again, err := encodeTerm(v)
		if err != nil {
			t.Fatalf("decodeTerm(%x) = %#v, which does not encode: %v", b, v, err)
		}
		back, err := decodeTerm(again)
		if err != nil || !termEqual(back, v) {
			t.Fatalf("decodeTerm(%x) = %#v, but re-encoded %x decodes to %#v, %v", b, v, again, back, err)
		}
		if third, err := encodeTerm(back); err != nil || !bytes.Equal(third, again) {
			t.Fatalf("encoding is not stable: %x then %x (%v)", again, third, err)
		}
	})
}
