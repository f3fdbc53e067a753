package protocol_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

func TestRefIsNull(t *testing.T) {
	tests := []struct {
		ref  protocol.Ref
		want bool
	}{
		{nil, true},
		{protocol.Ref{}, true},
		{protocol.Ref("null"), true},
		{protocol.Ref(`"1"`), false},
		{protocol.Ref(`1`), false},
		{protocol.Ref(`""`), false},
		{protocol.Ref(`"null"`), false},
		{protocol.StringRef(""), false},
	}
	for _, tt := range tests {
		if got := tt.ref.IsNull(); got != tt.want {
			t.Errorf("Ref(%q).IsNull() = %v, want %v", tt.ref, got, tt.want)
		}
	}
}

func TestRefEqual(t *testing.T) {
	tests := []struct {
		a, b protocol.Ref
		want bool
	}{
		{nil, nil, true},
		{nil, protocol.Ref("null"), true},
		{protocol.Ref{}, protocol.Ref("null"), true},
		{protocol.Ref(`"1"`), protocol.Ref(`"1"`), true},
		{protocol.Ref(`1`), protocol.Ref(`1`), true},
		{protocol.StringRef("1"), protocol.Ref(`"1"`), true},
		// Phoenix compares refs as terms: the string "1" is not the number 1.
		{protocol.Ref(`"1"`), protocol.Ref(`1`), false},
		{protocol.Ref(`"1"`), protocol.Ref(`"2"`), false},
		{protocol.Ref(`"1"`), nil, false},
		{nil, protocol.Ref(`"1"`), false},
		{protocol.Ref(`""`), nil, false},
		{protocol.Ref(`"null"`), protocol.Ref("null"), false},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("Ref(%q).Equal(%q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := tt.b.Equal(tt.a); got != tt.want {
			t.Errorf("Ref(%q).Equal(%q) = %v, want %v (not symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestRefString(t *testing.T) {
	tests := []struct {
		ref  protocol.Ref
		want string
	}{
		{nil, ""},
		{protocol.Ref("null"), ""},
		{protocol.Ref(`"abc"`), "abc"},
		{protocol.Ref(`""`), ""},
		{protocol.Ref(`"a\"b\\c"`), `a"b\c`},
		{protocol.Ref(`"\u00e9\n"`), "é\n"},
		{protocol.Ref(`42`), "42"},
		{protocol.Ref(`-1.5e3`), "-1.5e3"},
		// Not a valid JSON string: the token is returned as it stands.
		{protocol.Ref(`"abc`), `"abc`},
	}
	for _, tt := range tests {
		if got := tt.ref.String(); got != tt.want {
			t.Errorf("Ref(%q).String() = %q, want %q", tt.ref, got, tt.want)
		}
	}
}

func TestStringRef(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"1", `"1"`},
		{"", `""`},
		{"null", `"null"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\n\r\t\x00\x1f", `"\n\r\t\u0000\u001f"`},
		{"é 😀", `"é 😀"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"<&>/", `"<&>/"`},
		{"a\xffb", `"a\ufffdb"`},
	}
	for _, tt := range tests {
		r := protocol.StringRef(tt.in)
		if got := string(r); got != tt.want {
			t.Errorf("StringRef(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if !json.Valid(r) {
			t.Errorf("StringRef(%q) = %s is not valid JSON", tt.in, r)
		}
		var back string
		if err := json.Unmarshal(r, &back); err != nil {
			t.Errorf("StringRef(%q): %v", tt.in, err)
		} else if back != r.String() {
			t.Errorf("StringRef(%q).String() = %q, encoding/json reads %q", tt.in, r.String(), back)
		}
	}
	// Valid UTF-8 comes back unchanged.
	for _, s := range []string{"1", "", `a"b\c`, "é 😀\u2028\x00"} {
		if got := protocol.StringRef(s).String(); got != s {
			t.Errorf("StringRef(%q).String() = %q", s, got)
		}
	}
}

func TestRawJSON(t *testing.T) {
	p := protocol.RawJSON([]byte(`{"a":1}`))
	if got, want := string(p.Bytes()), `{"a":1}`; got != want {
		t.Errorf("Bytes() = %s, want %s", got, want)
	}
	if p.IsBinary() {
		t.Error("RawJSON payload reports binary")
	}
	// No bytes at all means the empty object.
	for _, b := range [][]byte{nil, {}} {
		if got, want := string(protocol.RawJSON(b).Bytes()), `{}`; got != want {
			t.Errorf("RawJSON(%q).Bytes() = %s, want %s", b, got, want)
		}
	}
	if got, want := string(protocol.Payload{}.Bytes()), `{}`; got != want {
		t.Errorf("Payload{}.Bytes() = %s, want %s", got, want)
	}
	if got, want := string(protocol.EmptyObject().Bytes()), `{}`; got != want {
		t.Errorf("EmptyObject.Bytes() = %s, want %s", got, want)
	}
}

func TestBinary(t *testing.T) {
	p := protocol.Binary([]byte{0, 1, 0xff})
	if got, want := string(p.Bytes()), "\x00\x01\xff"; got != want {
		t.Errorf("Bytes() = %q, want %q", got, want)
	}
	if !p.IsBinary() {
		t.Error("Binary payload does not report binary")
	}
	// Empty binary stays empty: it is not replaced by {}.
	if got := protocol.Binary(nil).Bytes(); len(got) != 0 {
		t.Errorf("Binary(nil).Bytes() = %q, want empty", got)
	}
}

type chatMessage struct {
	Body   string `json:"body"`
	Count  int    `json:"n"`
	Hidden string `json:"-"`
	Empty  string `json:"empty,omitempty"`
}

func TestMarshal(t *testing.T) {
	tests := []struct {
		name       string
		in         any
		want       string
		wantBinary bool
	}{
		{"nil", nil, `{}`, false},
		{"struct", chatMessage{Body: "hi", Count: 2, Hidden: "x"}, `{"body":"hi","n":2}`, false},
		{"struct pointer", &chatMessage{Body: "<&>"}, `{"body":"\u003c\u0026\u003e","n":0}`, false},
		{"map sorts keys", map[string]any{"b": 1, "a": []int{1}}, `{"a":[1],"b":1}`, false},
		{"nil map", map[string]any(nil), `null`, false},
		{"string", "x", `"x"`, false},
		{"RawMessage verbatim", json.RawMessage(`{ "kept" : true }`), `{ "kept" : true }`, false},
		{"empty RawMessage", json.RawMessage(nil), `{}`, false},
		{"JSON Payload", protocol.RawJSON([]byte(`[1]`)), `[1]`, false},
		{"binary Payload", protocol.Binary([]byte("ABC")), "ABC", true},
		{"nested Payload", map[string]any{"p": protocol.RawJSON([]byte(`{"x":1}`))}, `{"p":{"x":1}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := protocol.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal error: %v", err)
			}
			if got := string(p.Bytes()); got != tt.want {
				t.Errorf("Marshal(%v) = %s, want %s", tt.in, got, tt.want)
			}
			if p.IsBinary() != tt.wantBinary {
				t.Errorf("Marshal(%v).IsBinary() = %v, want %v", tt.in, p.IsBinary(), tt.wantBinary)
			}
		})
	}
}

func TestMarshalError(t *testing.T) {
	for _, v := range []any{make(chan int), func() {}, map[string]any{"c": make(chan int)}} {
		p, err := protocol.Marshal(v)
		if err == nil {
			t.Errorf("Marshal(%T) = %s, want an error", v, p.Bytes())
			continue
		}
		var ute *json.UnsupportedTypeError
		if !errors.As(err, &ute) {
			t.Errorf("Marshal(%T) error %v does not wrap the encoding/json error", v, err)
		}
	}
}

func TestIsObject(t *testing.T) {
	tests := []struct {
		name string
		p    protocol.Payload
		want bool
	}{
		{"empty object", protocol.EmptyObject(), true},
		{"zero Payload", protocol.Payload{}, true},
		{"object", protocol.RawJSON([]byte(`{"a":1}`)), true},
		{"object after spaces", protocol.RawJSON([]byte(" \t\r\n{}")), true},
		{"array", protocol.RawJSON([]byte(`[]`)), false},
		{"string", protocol.RawJSON([]byte(`"{"`)), false},
		{"null", protocol.RawJSON([]byte(`null`)), false},
		{"number", protocol.RawJSON([]byte(`1`)), false},
		{"only spaces", protocol.RawJSON([]byte("   ")), false},
		{"binary holding {}", protocol.Binary([]byte(`{}`)), false},
	}
	for _, tt := range tests {
		if got := tt.p.IsObject(); got != tt.want {
			t.Errorf("%s: IsObject() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPayloadDecode(t *testing.T) {
	var got chatMessage
	if err := protocol.RawJSON([]byte(`{"body":"hi","n":3}`)).Decode(&got); err != nil {
		t.Fatalf("Decode error: %v", err)
	}
	if want := (chatMessage{Body: "hi", Count: 3}); got != want {
		t.Errorf("Decode = %+v, want %+v", got, want)
	}

	var m map[string]any
	if err := (protocol.Payload{}).Decode(&m); err != nil || m == nil || len(m) != 0 {
		t.Errorf("zero Payload Decode = %v, %v; want an empty map", m, err)
	}

	if err := protocol.Binary([]byte(`{}`)).Decode(&m); err == nil {
		t.Error("Decode of a binary payload succeeded, want an error")
	}
	var syntax *json.SyntaxError
	if err := protocol.RawJSON([]byte(`{bad`)).Decode(&m); !errors.As(err, &syntax) {
		t.Errorf("Decode of bad JSON error = %v, want a *json.SyntaxError", err)
	}
}

func TestPayloadMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		p    protocol.Payload
		want string
	}{
		{"object embedded as is", protocol.RawJSON([]byte(`{"a":[1,2]}`)), `{"p":{"a":[1,2]}}`},
		{"zero Payload", protocol.Payload{}, `{"p":{}}`},
		{"binary as base64", protocol.Binary([]byte{0, 1, 0xff}), `{"p":"AAH/"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(struct {
			P protocol.Payload `json:"p"`
		}{tt.p})
		if err != nil {
			t.Errorf("%s: json.Marshal error: %v", tt.name, err)
			continue
		}
		if got := string(b); got != tt.want {
			t.Errorf("%s: json.Marshal = %s, want %s", tt.name, got, tt.want)
		}
	}
	// encoding/json validates what MarshalJSON returns, so a RawJSON that is
	// not JSON fails when embedded rather than producing a broken document.
	if b, err := json.Marshal([]protocol.Payload{protocol.RawJSON([]byte(`{bad`))}); err == nil {
		t.Errorf("json.Marshal of invalid RawJSON = %s, want an error", b)
	}
}

func TestFrameLen(t *testing.T) {
	if got := (protocol.Frame{}).Len(); got != 0 {
		t.Errorf("Frame{}.Len() = %d, want 0", got)
	}
	if got := (protocol.Frame{Data: []byte("abc"), Binary: true}).Len(); got != 3 {
		t.Errorf("Len() = %d, want 3", got)
	}
}

func TestWithMember(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{}`, `{"_pos":"e.1"}`},
		{` { } `, ` {"_pos":"e.1"}`},
		{`{"a":1}`, `{"a":1,"_pos":"e.1"}`},
		{`{"a":{"b":2}} `, `{"a":{"b":2},"_pos":"e.1"}`},
	} {
		got, err := protocol.WithMember(protocol.RawJSON([]byte(tc.in)), "_pos", []byte(`"e.1"`))
		if err != nil || string(got.Bytes()) != tc.want {
			t.Errorf("protocol.WithMember(%s) = %s, %v; want %s", tc.in, got.Bytes(), err, tc.want)
		}
	}
	for _, p := range []protocol.Payload{protocol.RawJSON([]byte(`[1]`)), protocol.RawJSON([]byte(`"s"`)), protocol.Binary([]byte("{}"))} {
		if _, err := protocol.WithMember(p, "k", []byte("1")); !errors.Is(err, protocol.ErrNotObject) {
			t.Errorf("protocol.WithMember(%q) err = %v, want protocol.ErrNotObject", p.Bytes(), err)
		}
	}
}
