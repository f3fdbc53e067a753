package protocol

import (
	"bytes"
	"testing"
)

func sameMessage(a, b Message) bool {
	return a.JoinRef.Equal(b.JoinRef) && bytes.Equal(a.JoinRef, b.JoinRef) &&
		bytes.Equal(a.Ref, b.Ref) && a.Topic == b.Topic && a.Event == b.Event &&
		a.Payload.IsBinary() == b.Payload.IsBinary() && bytes.Equal(a.Payload.Bytes(), b.Payload.Bytes())
}

func TestV2FastPath(t *testing.T) {
	tests := []struct {
		frame string
		fast  bool
	}{
		{`["1","2","room:lobby","new_msg",{"body":"hi"}]`, true},
		{`[null,"7","phoenix","heartbeat",{}]`, true},
		{` [ "1" , null , "t" , "e" , [1,2] ] `, true},
		{`["1","2","t","e","string payload"]`, true},
		{`[1,"2","t","e",{}]`, false},           // numeric ref
		{`["1","2","t\u0041","e",{}]`, false},   // escape
		{`["1","2","tö","e",{}]`, false},        // non-ASCII
		{`["1","2","t","e",{},"extra"]`, false}, // six elements
		{`["1","2","t","e",{]`, false},          // bad payload
		{`["1","2","t","e"]`, false},            // four elements
		{`{"topic":"t"}`, false},
	}
	for _, tt := range tests {
		fm, ok := decodeV2Fast([]byte(tt.frame))
		if ok != tt.fast {
			t.Errorf("fast path on %s: %v, want %v", tt.frame, ok, tt.fast)
			continue
		}
		gm, err := decodeV2([]byte(tt.frame))
		if ok && (err != nil || !sameMessage(fm, gm)) {
			t.Errorf("%s: fast %+v, general %+v %v", tt.frame, fm, gm, err)
		}
	}
}

func TestV2FastDoesNotShareInput(t *testing.T) {
	in := []byte(`["1","2","room:1","ev",{"a":1}]`)
	m, ok := decodeV2Fast(in)
	if !ok {
		t.Fatal("fast path refused a plain frame")
	}
	for i := range in {
		in[i] = 'x'
	}
	if string(m.JoinRef) != `"1"` || string(m.Ref) != `"2"` || m.Topic != "room:1" || string(m.Payload.Bytes()) != `{"a":1}` {
		t.Fatalf("decoded message changed with its input: %+v", m)
	}
}

// FuzzV2FastMatchesGeneral: whenever the fast path accepts a frame, the
// general decoder accepts it too and decodes the same message.
func FuzzV2FastMatchesGeneral(f *testing.F) {
	for _, s := range []string{
		`["1","2","room:lobby","new_msg",{"body":"hi"}]`, `[null,null,"t","e",null]`,
		`["1","2","t","e",{},"x"]`, `[ "a" ,"b","c","d", 1 ]`, `["","","","",""]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fm, ok := decodeV2Fast(data)
		if !ok {
			return
		}
		gm, err := decodeV2(data)
		if err != nil {
			t.Fatalf("fast path accepted %q, general decoder refused: %v", data, err)
		}
		if !sameMessage(fm, gm) {
			t.Fatalf("%q: fast %+v, general %+v", data, fm, gm)
		}
	})
}

func BenchmarkV2DecodeGeneral(b *testing.B) {
	frame := []byte(`["3","17","room:lobby","new_msg",{"body":"hello, everyone in the room","user":"alice"}]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := decodeV2(frame); err != nil {
			b.Fatal(err)
		}
	}
}
