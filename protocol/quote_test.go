package protocol_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/pyrehq/pyre/protocol"
)

func TestAppendBytes(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"plain", `"plain"`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\n\r\t", `"\n\r\t"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"é\u2028\u2029", `"é\u2028\u2029"`},
		{"bad\xffbyte", `"bad\ufffdbyte"`},
		{"cut\xe2\x80", `"cut\ufffd\ufffd"`},
	}
	for _, tt := range tests {
		got := protocol.AppendBytes([]byte("x"), []byte(tt.in))
		if string(got) != "x"+tt.want {
			t.Errorf("AppendBytes(%q) = %s, want %s", tt.in, got[1:], tt.want)
		}
		if s := protocol.AppendString(nil, tt.in); string(s) != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, s, tt.want)
		}
		if n := protocol.QuotedLen([]byte(tt.in)); n != len(tt.want) {
			t.Errorf("QuotedLen(%q) = %d, want %d", tt.in, n, len(tt.want))
		}
	}
}

// FuzzAppendBytes: the byte and string forms agree, QuotedLen predicts the
// size, and valid UTF-8 comes back unchanged from a JSON decoder.
func FuzzAppendBytes(f *testing.F) {
	f.Add([]byte(`["1",null,"t","e",{"a":"x\ny\"z\\"}]`))
	f.Add([]byte("\x00\x1f\x7f\u2028\xff\xe2\x80"))
	f.Fuzz(func(t *testing.T, s []byte) {
		enc := protocol.AppendBytes(nil, s)
		if str := protocol.AppendString(nil, string(s)); string(str) != string(enc) {
			t.Fatalf("AppendBytes %s, AppendString %s", enc, str)
		}
		if n := protocol.QuotedLen(s); n != len(enc) {
			t.Fatalf("QuotedLen = %d, encoded %d bytes", n, len(enc))
		}
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if utf8.Valid(s) && back != string(s) {
			t.Fatalf("%q came back as %q", s, back)
		}
	})
}

func BenchmarkAppendBytes(b *testing.B) {
	s := []byte(`["1","2","room:lobby","new_msg",{"body":"héllo \"wörld\"\n"}]`)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = protocol.AppendBytes(buf[:0], s)
	}
}
