package client

import "testing"

// Whatever a server sends, decoding returns a frame or an error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`[null,null,"room:1","msg",{"n":1,"_pos":"a.1"}]`,
		`["1","1","room:1","phx_reply",{"status":"ok","response":{}}]`,
		`{"topic":"room:1","event":"msg","payload":{},"ref":null}`,
		"\x00\x02\x05\x05" + "12topicevent" + "abc",
		"\x01\x02\x03\x05\x02" + "12123topicok" + "abc",
		"\x02\x05\x05" + "topicevent" + "abc",
		`[1,2]`, ``, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, vsn := range []string{V1, V2} {
			if fr, err := decodeText(vsn, data); err == nil {
				_ = position(fr.payload)
			}
		}
		if fr, err := decodeBinary(data); err == nil && len(fr.payload) > len(data) {
			t.Fatalf("payload longer than the frame")
		}
	})
}

// A binary push the client encodes decodes as the server reads it: kind 0
// and four sizes.
func TestEncodeBinary(t *testing.T) {
	b, err := encodeBinary("12", "123", "topic", "event", []byte("abc"))
	if err != nil || string(b) != "\x00\x02\x03\x05\x05"+"12123topicevent"+"abc" {
		t.Fatalf("%q, %v", b, err)
	}
	long := make([]byte, 256)
	if _, err := encodeBinary("", "", string(long), "e", nil); err == nil {
		t.Error("a 256-byte topic was encoded")
	}
}

// The server's binary frames, as Phoenix's serializer tests write them.
func TestDecodeBinary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want frame
	}{
		{"\x00\x02\x05\x05" + "12topicevent" + "abc", frame{joinRef: "12", topic: "topic", event: "event", payload: []byte("abc"), binary: true}},
		{"\x01\x02\x03\x05\x02" + "12123topicok" + "abc", frame{joinRef: "12", ref: "123", topic: "topic", event: eventReply, status: "ok", payload: []byte("abc"), binary: true}},
		{"\x02\x05\x05" + "topicevent" + "abc", frame{topic: "topic", event: "event", payload: []byte("abc"), binary: true}},
	} {
		got, err := decodeBinary([]byte(tc.in))
		if err != nil || got.joinRef != tc.want.joinRef || got.ref != tc.want.ref || got.topic != tc.want.topic ||
			got.event != tc.want.event || got.status != tc.want.status || string(got.payload) != string(tc.want.payload) || !got.binary {
			t.Errorf("decode %q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
