package loadgen

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

func TestAppendFrame(t *testing.T) {
	for _, tc := range []struct {
		joinRef, ref uint64
		topic, event string
		payload      string
		want         string
	}{
		{1, 1, "room:lobby", "phx_join", "", `["1","1","room:lobby","phx_join",{}]`},
		{0, 7, "phoenix", "heartbeat", "{}", `[null,"7","phoenix","heartbeat",{}]`},
		{3, 9, `room:"q"`, "bench", `{"s":1}`, `["3","9","room:\"q\"","bench",{"s":1}]`},
		{3, 9, "room:é", "ping", `{}`, `["3","9","room:é","ping",{}]`},
	} {
		got := string(appendFrame(nil, tc.joinRef, tc.ref, tc.topic, tc.event, []byte(tc.payload)))
		if got != tc.want {
			t.Errorf("appendFrame(%d, %d, %q, %q) = %s, want %s", tc.joinRef, tc.ref, tc.topic, tc.event, got, tc.want)
		}
		// The server's decoder reads back what was written.
		m, err := protocol.V2().Decode([]byte(got), false)
		if err != nil || m.Topic != tc.topic || m.Event != tc.event {
			t.Errorf("protocol.V2().Decode(%s) = %+v, %v", got, m, err)
		}
	}
}

func TestDecodeFrame(t *testing.T) {
	for _, tc := range []struct {
		in                                  string
		fast                                bool
		joinRef, ref, topic, event, payload string
	}{
		{`["1","2","room:a","phx_reply",{"status":"ok","response":{}}]`, true, `"1"`, `"2"`, "room:a", "phx_reply", `{"status":"ok","response":{}}`},
		{`[null,null,"room:a","bench",{"s":1,"t":2,"p":"x]"}]`, true, "", "", "room:a", "bench", `{"s":1,"t":2,"p":"x]"}`},
		{` [ 5 , -1.5e3 , "t" , "e" , [1, {"a": "]"}] ] `, true, "5", "-1.5e3", "t", "e", `[1, {"a": "]"}]`},
		{`["1","1","t","e","str"]`, true, `"1"`, `"1"`, "t", "e", `"str"`},
		// The fast path declines this; protocol.V2() reads it.
		{`["1","1","room:\u00e9","e",{}]`, false, `"1"`, `"1"`, "room:é", "e", `{}`},
		// The payload is not scanned: a sixth element becomes part of it.
		{`["1","1","t","e",{},"extra"]`, true, `"1"`, `"1"`, "t", "e", `{},"extra"`},
	} {
		_, fast := scanFrame([]byte(tc.in))
		if fast != tc.fast {
			t.Errorf("scanFrame(%s) ok = %v, want %v", tc.in, fast, tc.fast)
		}
		f, err := decodeFrame([]byte(tc.in))
		if err != nil {
			t.Errorf("decodeFrame(%s): %v", tc.in, err)
			continue
		}
		if string(f.joinRef) != tc.joinRef || string(f.ref) != tc.ref || string(f.topic) != tc.topic ||
			string(f.event) != tc.event || string(f.payload) != tc.payload {
			t.Errorf("decodeFrame(%s) = [%s %s %s %s %s]", tc.in, f.joinRef, f.ref, f.topic, f.event, f.payload)
		}
	}
	for _, in := range []string{``, `[`, `{}`, `["1","1","t","e"]`, `["1","1",3,"e",{}]`, `[true,"1","t","e",{}]`} {
		if f, err := decodeFrame([]byte(in)); err == nil {
			t.Errorf("decodeFrame(%s) = %+v, want an error", in, f)
		}
	}
}

// The fast path never disagrees with the server's own decoder: whatever
// frame of five elements protocol.V2() accepts, decodeFrame reads the same
// way.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`["1","2","room:a","phx_reply",{"status":"ok","response":{}}]`,
		`[null,null,"room:a","bench",{"s":1,"t":2,"p":"x]"}]`,
		` [ 5 , -1.5e3 , "t" , "e" , [1, {"a": "]"}] ] `,
		`["1","1","room:\u00e9","e",{}]`,
		`["1","1","t","e",{},"extra"]`,
		`["1","1","t","e",{"a":"\"}"}]`,
		`["1","1","t","e",nul]`,
		`["1",null,"t","e",{ }]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.V2().Decode(data, false)
		got, gotErr := decodeFrame(data)
		if err != nil {
			return // malformed for the server; what we make of it does not matter
		}
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil || len(elems) != 5 {
			return // extra elements end up in the payload, by design
		}
		if gotErr != nil {
			t.Fatalf("protocol.V2() reads %q, decodeFrame fails: %v", data, gotErr)
		}
		null := func(r protocol.Ref) string {
			if r.IsNull() {
				return ""
			}
			return string(r)
		}
		if string(got.joinRef) != null(m.JoinRef) || string(got.ref) != null(m.Ref) || string(got.topic) != m.Topic ||
			string(got.event) != m.Event || !bytes.Equal(got.payload, m.Payload.Bytes()) {
			t.Fatalf("%q:\n decodeFrame [%s %s %q %q %s]\nprotocol.V2 [%s %s %q %q %s]", data,
				got.joinRef, got.ref, got.topic, got.event, got.payload, m.JoinRef, m.Ref, m.Topic, m.Event, m.Payload.Bytes())
		}
	})
}

func TestParseReply(t *testing.T) {
	for _, tc := range []struct{ in, status, response string }{
		{`{"status":"ok","response":{"s":3}}`, "ok", `{"s":3}`},
		{`{"response":{"reason":"unauthorized"},"status":"error"}`, "error", `{"reason":"unauthorized"}`},
		{`{"status": "ok", "response": {}}`, "ok", `{}`},
		{`nonsense`, "malformed", `nonsense`},
	} {
		r := parseReply([]byte(tc.in))
		if r.status != tc.status || string(r.response) != tc.response {
			t.Errorf("parseReply(%s) = %q %s, want %q %s", tc.in, r.status, r.response, tc.status, tc.response)
		}
	}
}

func TestParseStamp(t *testing.T) {
	for _, tc := range []struct {
		in      string
		seq, ts int64
		ok      bool
	}{
		{`{"s":12,"t":3456,"p":"xx"}`, 12, 3456, true},
		{`{"p":"xx","s":12,"t":3456}`, 12, 3456, true}, // Phoenix's key order
		{`{"t" : 7, "s" : 8}`, 8, 7, true},
		{`{"p":"s","s":1}`, 0, 0, false},
		{`{"s":99999999999999999999,"t":1}`, 0, 0, false},
		{`{}`, 0, 0, false},
	} {
		seq, ts, ok := parseStamp([]byte(tc.in))
		if seq != tc.seq || ts != tc.ts || ok != tc.ok {
			t.Errorf("parseStamp(%s) = %d, %d, %v; want %d, %d, %v", tc.in, seq, ts, ok, tc.seq, tc.ts, tc.ok)
		}
	}
}

func TestRefNumber(t *testing.T) {
	for in, want := range map[string]uint64{`"12"`: 12, `7`: 7} {
		if got, ok := refNumber([]byte(in)); !ok || got != want {
			t.Errorf("refNumber(%s) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{``, `"a"`, `-1`, `"1`} {
		if got, ok := refNumber([]byte(in)); ok {
			t.Errorf("refNumber(%s) = %d, want no number", in, got)
		}
	}
}

func BenchmarkDecodeBench(b *testing.B) {
	msg := []byte(`[null,null,"room:fanout","bench",{"s":123456,"t":987654321,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]`)
	b.ReportAllocs()
	for b.Loop() {
		f, err := decodeFrame(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, ok := parseStamp(f.payload); !ok {
			b.Fatal("no stamp")
		}
	}
}
