package protocol_test

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/pyrehq/pyre/protocol"
)

// The seeds below are also committed under testdata/fuzz/<target>/ so that
// plain `go test` replays them; f.Add keeps them next to the code that reads
// them.

func FuzzDecodeV1(f *testing.F) {
	for _, s := range []string{
		`{"topic":"room:lobby","event":"phx_join","payload":{"user":"ana"},"ref":"1"}`,
		`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}`,
		`{"topic":"t","event":"e","payload":null,"ref":null,"join_ref":"3"}`,
		`{"topic":"a\"\u00e9\ud800","event":"e","payload":[1],"ref":-1.5e3}`,
		` {"ref":7,"payload":"x","event":"e","topic":"t"} `,
		`{"topic":1,"event":"e","payload":{},"ref":"1"}`,
		`{"topic":"t","event":"e","payload":{},"ref":true}`,
		`{"topic":"t","event":"e","payload":{}}`,
		`["1","1","t","e",{}]`,
		`{`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.V1().Decode(data, false)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Close writes its ref argument as the frame's ref, so it carries
		// every field V1 can send back.
		frame, err := protocol.V1().Close(m.Ref, m.Topic, m.Event, m.Payload)
		if err != nil {
			t.Fatalf("Close(%+v) error: %v", viewOf(m), err)
		}
		back, err := protocol.V1().Decode(frame.Data, frame.Binary)
		if err != nil {
			t.Fatalf("re-encoded frame %q does not decode: %v", frame.Data, err)
		}
		want := viewOf(m)
		want.JoinRef = "null" // V1 never writes join_ref
		if got := viewOf(back); got != want {
			t.Fatalf("round trip of %q through %q\n got %+v\nwant %+v", data, frame.Data, got, want)
		}
	})
}

func FuzzDecodeV2(f *testing.F) {
	for _, s := range []string{
		`["1","1","room:lobby","phx_join",{"user":"ana"}]`,
		`[null,"2","phoenix","heartbeat",{}]`,
		`["1","3","room:lobby","new_msg",{"body":"hi"}]`,
		`[7,-8.5e1,"a\"\u00e9\ud800","e",null,"extra"]`,
		` [ "" , null , "t" , "e" , [ 1 ] ] `,
		`["1","1",1,"e",{}]`,
		`[true,"1","t","e",{}]`,
		`["1","1","t","e"]`,
		`{"topic":"t","event":"e","payload":{},"ref":"1"}`,
		`[`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.V2().Decode(data, false)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if m.Payload.IsBinary() {
			t.Fatalf("text frame %q decoded to a binary payload", data)
		}
		// Push carries join_ref, Close carries the ref (as both refs).
		push, err := protocol.V2().Push(m.JoinRef, m.Topic, m.Event, m.Payload)
		if err != nil {
			t.Fatalf("Push(%+v) error: %v", viewOf(m), err)
		}
		closing, err := protocol.V2().Close(m.Ref, m.Topic, m.Event, m.Payload)
		if err != nil {
			t.Fatalf("Close(%+v) error: %v", viewOf(m), err)
		}
		orig := viewOf(m)
		for _, c := range []struct {
			frame protocol.Frame
			want  view
		}{
			{push, view{orig.JoinRef, "null", orig.Topic, orig.Event, orig.Payload, false}},
			{closing, view{orig.Ref, orig.Ref, orig.Topic, orig.Event, orig.Payload, false}},
		} {
			back, err := protocol.V2().Decode(c.frame.Data, c.frame.Binary)
			if err != nil {
				t.Fatalf("re-encoded frame %q does not decode: %v", c.frame.Data, err)
			}
			if got := viewOf(back); got != c.want {
				t.Fatalf("round trip of %q through %q\n got %+v\nwant %+v", data, c.frame.Data, got, c.want)
			}
		}
	})
}

func FuzzDecodeV2Binary(f *testing.F) {
	for _, b := range [][]byte{
		clientBinary("12", "123", "topic", "event", []byte("ABC")),
		clientBinary("1", "2", "room:é", "up", []byte{0, 0xff}),
		clientBinary("", "", "t", "e", nil),
		clientBinary(`a"b`, "\xff", "t\xfe", "e", []byte("p")),
		[]byte("\x00\x01\x01\x01\x02" + "12te"),
		[]byte("\x01\x02\x03\x05\x02" + "12123topicokABC"),
		[]byte("\x02\x05\x05topicevent"),
		[]byte("\x00\x00\x00\x00\x00"),
		[]byte(`["1","1","t","e",{}]`),
		{},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.V2().Decode(data, true)
		if err != nil {
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("Decode error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !m.Payload.IsBinary() || m.Topic == "" || m.Event == "" {
			t.Fatalf("Decode(%q) = %+v: want a binary payload, a topic and an event", data, viewOf(m))
		}
		// The header was accepted, so these slices are in range.
		rawJoinRef := string(data[5 : 5+int(data[1])])
		rawRef := string(data[5+int(data[1]) : 5+int(data[1])+int(data[2])])
		joinRef, ref := m.JoinRef.String(), m.Ref.String()
		for _, r := range []struct {
			raw, got string
			null     bool
		}{{rawJoinRef, joinRef, m.JoinRef.IsNull()}, {rawRef, ref, m.Ref.IsNull()}} {
			if r.null != (r.raw == "") {
				t.Fatalf("ref field %q decoded as null=%v", r.raw, r.null)
			}
			if utf8.ValidString(r.raw) && r.got != r.raw {
				t.Fatalf("ref field %q decoded as %q", r.raw, r.got)
			}
		}
		// Refs become JSON strings, so bytes that are not UTF-8 are replaced
		// by U+FFFD and may grow past what a header field holds; topic, event
		// and payload are kept byte for byte.
		if len(joinRef) > 255 || len(ref) > 255 {
			return
		}

		// The fields decoded are what a client would send again.
		back, err := protocol.V2().Decode(clientBinary(joinRef, ref, m.Topic, m.Event, m.Payload.Bytes()), true)
		if err != nil {
			t.Fatalf("re-encoded client push does not decode: %v", err)
		}
		if got, want := viewOf(back), viewOf(m); got.Topic != want.Topic || got.Event != want.Event ||
			got.Payload != want.Payload || back.JoinRef.String() != joinRef || back.Ref.String() != ref {
			t.Fatalf("client push round trip of %q\n got %+v\nwant %+v", data, got, want)
		}

		// Each server frame kind carries the decoded fields back unchanged.
		payload := string(m.Payload.Bytes())
		for _, c := range []struct {
			name string
			enc  func() (protocol.Frame, error)
			want serverBinary
		}{
			{"push", func() (protocol.Frame, error) { return protocol.V2().Push(m.JoinRef, m.Topic, m.Event, m.Payload) },
				serverBinary{0, joinRef, "", m.Topic, m.Event, payload}},
			{"reply", func() (protocol.Frame, error) {
				return protocol.V2().Reply(m.JoinRef, m.Ref, m.Topic, m.Event, m.Payload)
			}, serverBinary{1, joinRef, ref, m.Topic, m.Event, payload}},
			{"broadcast", func() (protocol.Frame, error) { return protocol.V2().Broadcast(m.Topic, m.Event, m.Payload) },
				serverBinary{2, "", "", m.Topic, m.Event, payload}},
		} {
			f, err := c.enc()
			if err != nil {
				t.Fatalf("%s error: %v", c.name, err)
			}
			if !f.Binary {
				t.Fatalf("%s of a binary payload wrote a text frame", c.name)
			}
			got, err := parseServerBinary(f.Data)
			if err != nil {
				t.Fatalf("%s frame %q: %v", c.name, f.Data, err)
			}
			if got != c.want {
				t.Fatalf("%s of %q\n got %+v\nwant %+v", c.name, data, got, c.want)
			}
		}
	})
}
