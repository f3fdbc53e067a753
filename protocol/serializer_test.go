package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

// view is a Message flattened into comparable text: each ref as its JSON
// token ("null" for null) and the payload as its bytes.
type view struct {
	JoinRef, Ref, Topic, Event, Payload string
	Binary                              bool
}

func viewOf(m protocol.Message) view {
	return view{
		JoinRef: token(m.JoinRef),
		Ref:     token(m.Ref),
		Topic:   m.Topic,
		Event:   m.Event,
		Payload: string(m.Payload.Bytes()),
		Binary:  m.Payload.IsBinary(),
	}
}

func token(r protocol.Ref) string {
	if r.IsNull() {
		return "null"
	}
	return string(r)
}

// clientBinary lays out a binary push the way phoenix.js binaryEncode does:
// kind 0, four length bytes, join_ref, ref, topic, event, payload.
func clientBinary(joinRef, ref, topic, event string, payload []byte) []byte {
	b := []byte{0, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event))}
	b = append(b, joinRef...)
	b = append(b, ref...)
	b = append(b, topic...)
	b = append(b, event...)
	return append(b, payload...)
}

// serverBinary is a server binary frame read the way phoenix.js binaryDecode
// reads it. Fields a kind does not carry stay empty.
type serverBinary struct {
	Kind    byte
	JoinRef string
	Ref     string
	Topic   string
	Event   string // the status for a reply
	Payload string
}

func parseServerBinary(b []byte) (serverBinary, error) {
	if len(b) == 0 {
		return serverBinary{}, errors.New("empty frame")
	}
	out := serverBinary{Kind: b[0]}
	var fields []*string
	switch b[0] {
	case 0:
		fields = []*string{&out.JoinRef, &out.Topic, &out.Event}
	case 1:
		fields = []*string{&out.JoinRef, &out.Ref, &out.Topic, &out.Event}
	case 2:
		fields = []*string{&out.Topic, &out.Event}
	default:
		return serverBinary{}, fmt.Errorf("unknown kind %d", b[0])
	}
	if len(b) < 1+len(fields) {
		return serverBinary{}, errors.New("frame shorter than its header")
	}
	rest := b[1+len(fields):]
	for i, f := range fields {
		n := int(b[1+i])
		if len(rest) < n {
			return serverBinary{}, fmt.Errorf("field %d overruns the frame", i)
		}
		*f, rest = string(rest[:n]), rest[n:]
	}
	out.Payload = string(rest)
	return out, nil
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		vsn  string
		want protocol.Serializer
	}{
		{"", protocol.V1()},
		{"1.0.0", protocol.V1()},
		{"1.0.7", protocol.V1()},
		{"2.0.0", protocol.V2()},
		{"2.0.3", protocol.V2()},
	}
	for _, tt := range tests {
		got, err := protocol.Negotiate(tt.vsn)
		if err != nil {
			t.Errorf("Negotiate(%q) error: %v", tt.vsn, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Negotiate(%q) = %s, want %s", tt.vsn, got.Version(), tt.want.Version())
		}
	}
}

func TestNegotiateRefuses(t *testing.T) {
	for _, vsn := range []string{
		"2.1.0", "3.0.0", "1.1.0", "0.0.0", "123.1.1",
		"2", "2.0", "2.0.0.0", "v2.0.0", "2.0.x", "2.0.-1", " 2.0.0", "2.0.0 ",
		"2.0.0-rc.1", "2..0", "garbage",
	} {
		got, err := protocol.Negotiate(vsn)
		if !errors.Is(err, protocol.ErrUnsupported) {
			t.Errorf("Negotiate(%q) error = %v, want ErrUnsupported", vsn, err)
		}
		if got != nil {
			t.Errorf("Negotiate(%q) = %s, want nil", vsn, got.Version())
		}
	}
}

func TestVersion(t *testing.T) {
	if got, want := protocol.V1().Version(), "1.0.0"; got != want {
		t.Errorf("V1.Version() = %q, want %q", got, want)
	}
	if got, want := protocol.V2().Version(), "2.0.0"; got != want {
		t.Errorf("V2.Version() = %q, want %q", got, want)
	}
}

type decodeCase struct {
	name string
	in   string
	want view
}

func runDecode(t *testing.T, s protocol.Serializer, binary bool, tests []decodeCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := s.Decode([]byte(tt.in), binary)
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", tt.in, err)
			}
			if got := viewOf(m); got != tt.want {
				t.Errorf("Decode(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestV1Decode(t *testing.T) {
	runDecode(t, protocol.V1(), false, []decodeCase{
		{"join without join_ref",
			`{"topic":"room:lobby","event":"phx_join","payload":{"user":"ana"},"ref":"1"}`,
			view{"null", `"1"`, "room:lobby", "phx_join", `{"user":"ana"}`, false}},
		{"join with join_ref",
			`{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"3","join_ref":"3"}`,
			view{`"3"`, `"3"`, "room:lobby", "phx_join", `{}`, false}},
		{"heartbeat",
			`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"2"}`,
			view{"null", `"2"`, "phoenix", "heartbeat", `{}`, false}},
		{"push with number ref",
			`{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":42}`,
			view{"null", `42`, "room:lobby", "new_msg", `{"body":"hi"}`, false}},
		{"push with null ref",
			`{"topic":"room:lobby","event":"new_msg","payload":{},"ref":null}`,
			view{"null", "null", "room:lobby", "new_msg", `{}`, false}},
		{"explicit null join_ref",
			`{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":null}`,
			view{"null", `"1"`, "t", "e", `{}`, false}},
		{"null payload",
			`{"topic":"t","event":"e","payload":null,"ref":"1"}`,
			view{"null", `"1"`, "t", "e", `null`, false}},
		{"array payload is not checked",
			`{"topic":"t","event":"e","payload":[1,"two"],"ref":"1"}`,
			view{"null", `"1"`, "t", "e", `[1,"two"]`, false}},
		{"keys in any order with spaces",
			" \n{ \"ref\" : 7 , \"payload\" : { \"a\" : 1 } , \"event\" : \"e\" , \"topic\" : \"t\" } ",
			view{"null", `7`, "t", "e", `{ "a" : 1 }`, false}},
		{"escaped topic",
			`{"topic":"room:\"q\"\\ \u00e9 \ud83d\ude00\n","event":"e","payload":{},"ref":"1"}`,
			view{"null", `"1"`, "room:\"q\"\\ é 😀\n", "e", `{}`, false}},
		{"unknown keys are ignored",
			`{"topic":"t","event":"e","payload":{},"ref":"1","extra":[1,{"x":2}]}`,
			view{"null", `"1"`, "t", "e", `{}`, false}},
		{"empty string ref is not null",
			`{"topic":"t","event":"e","payload":{},"ref":""}`,
			view{"null", `""`, "t", "e", `{}`, false}},
	})
}

func TestV2Decode(t *testing.T) {
	runDecode(t, protocol.V2(), false, []decodeCase{
		{"join", `["1","1","room:lobby","phx_join",{"user":"ana"}]`,
			view{`"1"`, `"1"`, "room:lobby", "phx_join", `{"user":"ana"}`, false}},
		{"heartbeat", `[null,"2","phoenix","heartbeat",{}]`,
			view{"null", `"2"`, "phoenix", "heartbeat", `{}`, false}},
		{"push", `["1","3","room:lobby","new_msg",{"body":"hi"}]`,
			view{`"1"`, `"3"`, "room:lobby", "new_msg", `{"body":"hi"}`, false}},
		{"push with null ref", `["1",null,"room:lobby","new_msg",{}]`,
			view{`"1"`, "null", "room:lobby", "new_msg", `{}`, false}},
		{"number refs", `[1,2,"t","e",{}]`,
			view{`1`, `2`, "t", "e", `{}`, false}},
		{"negative and exponent refs", `[-1,2.5e3,"t","e",{}]`,
			view{`-1`, `2.5e3`, "t", "e", `{}`, false}},
		{"empty string refs are not null", `["","","t","e",{}]`,
			view{`""`, `""`, "t", "e", `{}`, false}},
		{"extra elements are ignored", `["1","2","t","e",{"a":1},"extra",[3]]`,
			view{`"1"`, `"2"`, "t", "e", `{"a":1}`, false}},
		{"string payload", `["1","2","t","e","text"]`,
			view{`"1"`, `"2"`, "t", "e", `"text"`, false}},
		{"array payload", `["1","2","t","e",[1,2]]`,
			view{`"1"`, `"2"`, "t", "e", `[1,2]`, false}},
		{"null payload", `["1","2","t","e",null]`,
			view{`"1"`, `"2"`, "t", "e", `null`, false}},
		{"number payload", `["1","2","t","e",3]`,
			view{`"1"`, `"2"`, "t", "e", `3`, false}},
		{"spaces between elements", " [ \"1\" , null , \"t\" , \"e\" , { \"a\" : 1 } ] ",
			view{`"1"`, "null", "t", "e", `{ "a" : 1 }`, false}},
		{"escaped topic", `["1","1","room:\"q\" \u00e9 \ud83d\ude00","e\u2028",{}]`,
			view{`"1"`, `"1"`, "room:\"q\" é 😀", "e\u2028", `{}`, false}},
	})
}

func TestV2DecodeBinary(t *testing.T) {
	runDecode(t, protocol.V2(), true, []decodeCase{
		// The worked example from Phoenix's serializer tests.
		{"push", "\x00\x02\x03\x05\x05" + "12" + "123" + "topic" + "event" + "\x65\x66\x67",
			view{`"12"`, `"123"`, "topic", "event", "efg", true}},
		{"raw bytes payload", string(clientBinary("1", "2", "room:é", "up", []byte{0, 0xff, '"', '\n'})),
			view{`"1"`, `"2"`, "room:é", "up", "\x00\xff\"\n", true}},
		{"empty payload", string(clientBinary("1", "2", "t", "e", nil)),
			view{`"1"`, `"2"`, "t", "e", "", true}},
		// Phoenix itself keeps "" as a string here (PROTOCOL.md §2.4); this
		// package reads an empty ref field as null.
		{"empty refs read as null", string(clientBinary("", "", "t", "e", []byte("x"))),
			view{"null", "null", "t", "e", "x", true}},
		{"refs are JSON strings, escaped", string(clientBinary(`a"b`, `c\d`, "t", "e", nil)),
			view{`"a\"b"`, `"c\\d"`, "t", "e", "", true}},
		{"255-byte fields", string(clientBinary(strings.Repeat("j", 255), strings.Repeat("r", 255),
			strings.Repeat("t", 255), strings.Repeat("e", 255), []byte("p"))),
			view{`"` + strings.Repeat("j", 255) + `"`, `"` + strings.Repeat("r", 255) + `"`,
				strings.Repeat("t", 255), strings.Repeat("e", 255), "p", true}},
	})
}

type malformedCase struct {
	name   string
	in     string
	binary bool
}

func runMalformed(t *testing.T, s protocol.Serializer, tests []malformedCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := s.Decode([]byte(tt.in), tt.binary)
			if !errors.Is(err, protocol.ErrMalformed) {
				t.Fatalf("Decode(%q, %v) error = %v, want ErrMalformed", tt.in, tt.binary, err)
			}
			if got, want := viewOf(m), viewOf(protocol.Message{}); got != want {
				t.Errorf("Decode(%q) returned %+v alongside its error, want the zero Message", tt.in, got)
			}
		})
	}
}

func TestV1DecodeMalformed(t *testing.T) {
	const ok = `{"topic":"t","event":"e","payload":{},"ref":"1"}`
	runMalformed(t, protocol.V1(), []malformedCase{
		{"binary frame", ok, true},
		{"empty", "", false},
		{"only spaces", " \n\t", false},
		{"not JSON", "hello", false},
		{"V2 array", `["1","1","t","e",{}]`, false},
		{"string", `"x"`, false},
		{"null", `null`, false},
		{"truncated", `{"topic":"t","event":"e"`, false},
		{"trailing garbage", ok + "x", false},
		{"two objects", ok + ok, false},
		{"missing topic", `{"event":"e","payload":{},"ref":"1"}`, false},
		{"missing event", `{"topic":"t","payload":{},"ref":"1"}`, false},
		{"missing payload", `{"topic":"t","event":"e","ref":"1"}`, false},
		{"missing ref", `{"topic":"t","event":"e","payload":{}}`, false},
		{"number topic", `{"topic":1,"event":"e","payload":{},"ref":"1"}`, false},
		{"null topic", `{"topic":null,"event":"e","payload":{},"ref":"1"}`, false},
		{"object event", `{"topic":"t","event":{},"payload":{},"ref":"1"}`, false},
		{"array event", `{"topic":"t","event":["e"],"payload":{},"ref":"1"}`, false},
		{"bool ref", `{"topic":"t","event":"e","payload":{},"ref":true}`, false},
		{"object ref", `{"topic":"t","event":"e","payload":{},"ref":{"a":1}}`, false},
		{"array ref", `{"topic":"t","event":"e","payload":{},"ref":["1"]}`, false},
		{"bool join_ref", `{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":false}`, false},
		{"bad escape in topic", `{"topic":"\x","event":"e","payload":{},"ref":"1"}`, false},
		{"bad JSON in payload", `{"topic":"t","event":"e","payload":{a},"ref":"1"}`, false},
	})
}

func TestV2DecodeMalformed(t *testing.T) {
	runMalformed(t, protocol.V2(), []malformedCase{
		{"empty", "", false},
		{"not JSON", "hello", false},
		{"unterminated", `["1","1","t","e",{}`, false},
		{"trailing garbage", `["1","1","t","e",{}]]`, false},
		{"object", `{"topic":"t","event":"e","payload":{},"ref":"1"}`, false},
		{"null", `null`, false},
		{"string", `"x"`, false},
		{"empty array", `[]`, false},
		{"four elements", `["1","1","t","e"]`, false},
		{"number topic", `["1","1",1,"e",{}]`, false},
		{"null topic", `["1","1",null,"e",{}]`, false},
		{"number event", `["1","1","t",2,{}]`, false},
		{"null event", `["1","1","t",null,{}]`, false},
		{"bool join_ref", `[true,"1","t","e",{}]`, false},
		{"object join_ref", `[{},"1","t","e",{}]`, false},
		{"array ref", `["1",["1"],"t","e",{}]`, false},
		{"bool ref", `["1",false,"t","e",{}]`, false},
		{"bad JSON in payload", `["1","1","t","e",{a}]`, false},
	})
}

func TestV2DecodeBinaryMalformed(t *testing.T) {
	push := clientBinary("1", "2", "t", "e", []byte("p"))
	runMalformed(t, protocol.V2(), []malformedCase{
		{"empty", "", true},
		{"four header bytes", "\x00\x00\x00\x01", true},
		{"header only, fields missing", "\x00\x00\x00\x01\x01", true},
		{"reply kind", "\x01" + string(push[1:]), true},
		{"broadcast kind", "\x02\x01\x01te", true},
		{"unknown kind", "\xff" + string(push[1:]), true},
		{"JSON text sent as binary", `["1","1","t","e",{}]`, true},
		{"lengths one past the end", "\x00\x01\x01\x01\x02" + "12te", true},
		{"maximum lengths, short frame", "\x00\xff\xff\xff\xff" + "abc", true},
		{"empty topic", string(clientBinary("1", "2", "", "e", []byte("p"))), true},
		{"empty event", string(clientBinary("1", "2", "t", "", []byte("p"))), true},
	})
}

// TestDecodeCopiesInput checks that a decoded Message does not share memory
// with the frame: a reader may reuse its buffer for the next frame.
func TestDecodeCopiesInput(t *testing.T) {
	tests := []struct {
		name   string
		s      protocol.Serializer
		in     []byte
		binary bool
	}{
		{"V1", protocol.V1(), []byte(`{"topic":"t","event":"e","payload":{"a":1},"ref":"1","join_ref":"2"}`), false},
		{"V2", protocol.V2(), []byte(`["2","1","t","e",{"a":1}]`), false},
		{"V2 general decoder", protocol.V2(), []byte(`["2", "1", "t\u00e9", "e", {"a":1}]`), false},
		{"V2 binary", protocol.V2(), clientBinary("2", "1", "t", "e", []byte("payload")), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.s.Decode(tt.in, tt.binary)
			if err != nil {
				t.Fatalf("Decode error: %v", err)
			}
			before := viewOf(m)
			for i := range tt.in {
				tt.in[i] = 'x'
			}
			if after := viewOf(m); after != before {
				t.Errorf("Message changed when the input buffer was overwritten\n got %+v\nwant %+v", after, before)
			}
		})
	}
}

type encodeCase struct {
	name   string
	encode func(protocol.Serializer) (protocol.Frame, error)
	v1, v2 string
}

func TestEncodeText(t *testing.T) {
	one, two := protocol.StringRef("1"), protocol.StringRef("3")
	lobby := "room:lobby"
	tests := []encodeCase{
		{"push",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Push(one, lobby, "new_msg", protocol.RawJSON([]byte(`{"body":"hi"}`)))
			},
			`{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":null}`,
			`["1",null,"room:lobby","new_msg",{"body":"hi"}]`},
		{"push with null join_ref",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Push(nil, lobby, "new_msg", protocol.EmptyObject())
			},
			`{"topic":"room:lobby","event":"new_msg","payload":{},"ref":null}`,
			`[null,null,"room:lobby","new_msg",{}]`},
		{"push of the zero Payload",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Push(one, "t", "e", protocol.Payload{})
			},
			`{"topic":"t","event":"e","payload":{},"ref":null}`,
			`["1",null,"t","e",{}]`},
		{"reply",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Reply(one, two, lobby, "ok", protocol.RawJSON([]byte(`{"n":1}`)))
			},
			`{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{"n":1}},"ref":"3"}`,
			`["1","3","room:lobby","phx_reply",{"status":"ok","response":{"n":1}}]`},
		{"heartbeat reply",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Reply(nil, protocol.StringRef("2"), protocol.TopicPhoenix, "ok", protocol.EmptyObject())
			},
			`{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"2"}`,
			`[null,"2","phoenix","phx_reply",{"status":"ok","response":{}}]`},
		{"error reply for an unmatched topic",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Reply(nil, two, "room:x", "error", protocol.RawJSON([]byte(`{"reason":"unmatched topic"}`)))
			},
			`{"topic":"room:x","event":"phx_reply","payload":{"status":"error","response":{"reason":"unmatched topic"}},"ref":"3"}`,
			`[null,"3","room:x","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`},
		{"reply with number refs",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Reply(protocol.Ref("7"), protocol.Ref("8"), "t", "ok", protocol.EmptyObject())
			},
			`{"topic":"t","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":8}`,
			`[7,8,"t","phx_reply",{"status":"ok","response":{}}]`},
		{"reply with a non-object response",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Reply(one, two, "t", "ok", protocol.RawJSON([]byte(`"done"`)))
			},
			`{"topic":"t","event":"phx_reply","payload":{"status":"ok","response":"done"},"ref":"3"}`,
			`["1","3","t","phx_reply",{"status":"ok","response":"done"}]`},
		{"reply status is escaped",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Reply(one, two, "t", `a"b`, protocol.EmptyObject())
			},
			`{"topic":"t","event":"phx_reply","payload":{"status":"a\"b","response":{}},"ref":"3"}`,
			`["1","3","t","phx_reply",{"status":"a\"b","response":{}}]`},
		{"broadcast",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Broadcast(lobby, "shout", protocol.RawJSON([]byte(`{"a":[1,2]}`)))
			},
			`{"topic":"room:lobby","event":"shout","payload":{"a":[1,2]},"ref":null}`,
			`[null,null,"room:lobby","shout",{"a":[1,2]}]`},
		{"phx_close",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Close(one, lobby, protocol.EventClose, protocol.EmptyObject())
			},
			`{"topic":"room:lobby","event":"phx_close","payload":{},"ref":"1"}`,
			`["1","1","room:lobby","phx_close",{}]`},
		{"phx_error",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Close(one, lobby, protocol.EventError, protocol.RawJSON([]byte(`{"reason":"channel_crash"}`)))
			},
			`{"topic":"room:lobby","event":"phx_error","payload":{"reason":"channel_crash"},"ref":"1"}`,
			`["1","1","room:lobby","phx_error",{"reason":"channel_crash"}]`},
		{"close with null join_ref",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Close(nil, "t", protocol.EventClose, protocol.EmptyObject())
			},
			`{"topic":"t","event":"phx_close","payload":{},"ref":null}`,
			`[null,null,"t","phx_close",{}]`},
		{"Ref spelled null",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Close(protocol.Ref("null"), "t", "e", protocol.EmptyObject())
			},
			`{"topic":"t","event":"e","payload":{},"ref":null}`,
			`[null,null,"t","e",{}]`},
		{"empty string ref",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Close(protocol.StringRef(""), "t", "e", protocol.EmptyObject())
			},
			`{"topic":"t","event":"e","payload":{},"ref":""}`,
			`["","","t","e",{}]`},
		{"topic with quotes, controls and unicode",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Broadcast("a\"b\\c\n\r\t\x01\x1f é 😀 \u2028\u2029 <&>\x7f", "e", protocol.EmptyObject())
			},
			`{"topic":"a\"b\\c\n\r\t\u0001\u001f é 😀 \u2028\u2029 <&>` + "\x7f" + `","event":"e","payload":{},"ref":null}`,
			`[null,null,"a\"b\\c\n\r\t\u0001\u001f é 😀 \u2028\u2029 <&>` + "\x7f" + `","e",{}]`},
		{"invalid UTF-8 becomes U+FFFD",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Push(one, "a\xffb\xc3", "\xe2\x82", protocol.EmptyObject())
			},
			`{"topic":"a\ufffdb\ufffd","event":"\ufffd\ufffd","payload":{},"ref":null}`,
			`["1",null,"a\ufffdb\ufffd","\ufffd\ufffd",{}]`},
		{"long topic has no length limit in text frames",
			func(s protocol.Serializer) (protocol.Frame, error) {
				return s.Broadcast(strings.Repeat("t", 300), "e", protocol.EmptyObject())
			},
			`{"topic":"` + strings.Repeat("t", 300) + `","event":"e","payload":{},"ref":null}`,
			`[null,null,"` + strings.Repeat("t", 300) + `","e",{}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				s    protocol.Serializer
				want string
			}{{protocol.V1(), tt.v1}, {protocol.V2(), tt.v2}} {
				f, err := tt.encode(c.s)
				if err != nil {
					t.Fatalf("%s: error: %v", c.s.Version(), err)
				}
				if got := string(f.Data); got != c.want {
					t.Errorf("%s:\n got %s\nwant %s", c.s.Version(), got, c.want)
				}
				if f.Binary {
					t.Errorf("%s: frame is binary, want text", c.s.Version())
				}
				if f.Len() != len(f.Data) {
					t.Errorf("%s: Len() = %d, want %d", c.s.Version(), f.Len(), len(f.Data))
				}
				if !json.Valid(f.Data) {
					t.Errorf("%s: frame is not valid JSON: %s", c.s.Version(), f.Data)
				}
			}
		})
	}
}

func TestV2EncodeBinary(t *testing.T) {
	abc := protocol.Binary([]byte("ABC"))
	tests := []struct {
		name   string
		encode func() (protocol.Frame, error)
		want   string
	}{
		// The worked examples from Phoenix's serializer tests.
		{"push", func() (protocol.Frame, error) {
			return protocol.V2().Push(protocol.StringRef("12"), "topic", "event", abc)
		}, "\x00\x02\x05\x05" + "12topicevent" + "ABC"},
		{"reply", func() (protocol.Frame, error) {
			return protocol.V2().Reply(protocol.StringRef("12"), protocol.StringRef("123"), "topic", "ok", abc)
		}, "\x01\x02\x03\x05\x02" + "12123topicok" + "ABC"},
		{"broadcast", func() (protocol.Frame, error) {
			return protocol.V2().Broadcast("topic", "event", abc)
		}, "\x02\x05\x05" + "topicevent" + "ABC"},

		{"push with null join_ref", func() (protocol.Frame, error) {
			return protocol.V2().Push(nil, "topic", "event", abc)
		}, "\x00\x00\x05\x05" + "topicevent" + "ABC"},
		{"push with number join_ref", func() (protocol.Frame, error) {
			return protocol.V2().Push(protocol.Ref("7"), "t", "e", abc)
		}, "\x00\x01\x01\x01" + "7te" + "ABC"},
		{"push with escaped join_ref", func() (protocol.Frame, error) {
			return protocol.V2().Push(protocol.StringRef(`a"b`), "t", "e", abc)
		}, "\x00\x03\x01\x01" + `a"b` + "te" + "ABC"},
		{"reply with null refs", func() (protocol.Frame, error) {
			return protocol.V2().Reply(nil, nil, "topic", "error", abc)
		}, "\x01\x00\x00\x05\x05" + "topicerror" + "ABC"},
		{"broadcast, UTF-8 lengths in bytes", func() (protocol.Frame, error) {
			return protocol.V2().Broadcast("room:é", "event", protocol.Binary([]byte{0, 0xff}))
		}, "\x02\x07\x05" + "room:é" + "event" + "\x00\xff"},
		{"empty payload", func() (protocol.Frame, error) {
			return protocol.V2().Broadcast("t", "e", protocol.Binary(nil))
		}, "\x02\x01\x01" + "te"},
		{"close is sent as a push", func() (protocol.Frame, error) {
			return protocol.V2().Close(protocol.StringRef("4"), "t", protocol.EventClose, abc)
		}, "\x00\x01\x01\x09" + "4tphx_close" + "ABC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := tt.encode()
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got := string(f.Data); got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
			if !f.Binary {
				t.Errorf("frame is text, want binary")
			}
		})
	}
}

func TestV1RefusesBinary(t *testing.T) {
	p := protocol.Binary([]byte("ABC"))
	one := protocol.StringRef("1")
	calls := map[string]func() (protocol.Frame, error){
		"Push":      func() (protocol.Frame, error) { return protocol.V1().Push(one, "t", "e", p) },
		"Reply":     func() (protocol.Frame, error) { return protocol.V1().Reply(one, one, "t", "ok", p) },
		"Broadcast": func() (protocol.Frame, error) { return protocol.V1().Broadcast("t", "e", p) },
		"Close":     func() (protocol.Frame, error) { return protocol.V1().Close(one, "t", "e", p) },
	}
	for name, call := range calls {
		f, err := call()
		if !errors.Is(err, protocol.ErrBinaryV1) {
			t.Errorf("V1.%s(binary) error = %v, want ErrBinaryV1", name, err)
		}
		if f.Len() != 0 {
			t.Errorf("V1.%s(binary) returned %d bytes alongside its error", name, f.Len())
		}
	}
}

// TestV2BinaryFieldLimit checks each header field of each binary frame kind
// at 255 bytes (accepted) and 256 bytes (ErrTooLong). Lengths are in bytes,
// not characters.
func TestV2BinaryFieldLimit(t *testing.T) {
	p := protocol.Binary([]byte("p"))
	fields := []struct {
		name   string
		encode func(field string) (protocol.Frame, error)
	}{
		{"push join_ref", func(s string) (protocol.Frame, error) { return protocol.V2().Push(protocol.StringRef(s), "t", "e", p) }},
		{"push topic", func(s string) (protocol.Frame, error) { return protocol.V2().Push(nil, s, "e", p) }},
		{"push event", func(s string) (protocol.Frame, error) { return protocol.V2().Push(nil, "t", s, p) }},
		{"reply join_ref", func(s string) (protocol.Frame, error) {
			return protocol.V2().Reply(protocol.StringRef(s), nil, "t", "ok", p)
		}},
		{"reply ref", func(s string) (protocol.Frame, error) {
			return protocol.V2().Reply(nil, protocol.StringRef(s), "t", "ok", p)
		}},
		{"reply topic", func(s string) (protocol.Frame, error) { return protocol.V2().Reply(nil, nil, s, "ok", p) }},
		{"reply status", func(s string) (protocol.Frame, error) { return protocol.V2().Reply(nil, nil, "t", s, p) }},
		{"broadcast topic", func(s string) (protocol.Frame, error) { return protocol.V2().Broadcast(s, "e", p) }},
		{"broadcast event", func(s string) (protocol.Frame, error) { return protocol.V2().Broadcast("t", s, p) }},
		{"close join_ref", func(s string) (protocol.Frame, error) { return protocol.V2().Close(protocol.StringRef(s), "t", "e", p) }},
		{"close topic", func(s string) (protocol.Frame, error) { return protocol.V2().Close(nil, s, "e", p) }},
		{"close event", func(s string) (protocol.Frame, error) { return protocol.V2().Close(nil, "t", s, p) }},
	}
	fits := []string{strings.Repeat("x", 255), strings.Repeat("é", 127) + "x"}
	tooLong := []string{strings.Repeat("x", 256), strings.Repeat("é", 128), strings.Repeat("x", 1000)}
	for _, fd := range fields {
		t.Run(fd.name, func(t *testing.T) {
			for _, s := range fits {
				f, err := fd.encode(s)
				if err != nil {
					t.Errorf("%d-byte field: error %v, want none", len(s), err)
					continue
				}
				got, err := parseServerBinary(f.Data)
				if err != nil {
					t.Errorf("%d-byte field: cannot read frame back: %v", len(s), err)
					continue
				}
				if !strings.Contains(fmt.Sprintf("%+v", got), s) {
					t.Errorf("%d-byte field: not found in the frame read back: %+v", len(s), got)
				}
			}
			for _, s := range tooLong {
				f, err := fd.encode(s)
				if !errors.Is(err, protocol.ErrTooLong) {
					t.Errorf("%d-byte field: error %v, want ErrTooLong", len(s), err)
				}
				if f.Len() != 0 {
					t.Errorf("%d-byte field: %d bytes returned alongside the error", len(s), f.Len())
				}
			}
		})
	}
}

// roundTripMessages are messages whose fields survive a text encode: valid
// UTF-8 topics and events, refs of every kind, payloads of several shapes.
var roundTripMessages = []struct {
	joinRef, ref protocol.Ref
	topic, event string
	payload      string
}{
	{protocol.StringRef("1"), protocol.StringRef("2"), "room:lobby", "new_msg", `{"body":"hi"}`},
	{nil, protocol.StringRef("9"), "phoenix", "heartbeat", `{}`},
	{protocol.Ref("7"), protocol.Ref("-8.5e1"), "t", "e", `{"a":[1,{"b":null}]}`},
	{protocol.StringRef(`q"\`), nil, "a\"b\\c\n\x01 é 😀 \u2028", "ev\u2029", `{ "spaced" : true }`},
	{protocol.StringRef(""), protocol.StringRef(""), "t", "e", `[1,2]`},
	{protocol.StringRef("1"), protocol.StringRef("2"), "t", "e", `null`},
}

func TestRoundTripText(t *testing.T) {
	for i, rt := range roundTripMessages {
		p := protocol.RawJSON([]byte(rt.payload))
		reply := `{"status":"ok","response":` + rt.payload + `}`
		cases := []struct {
			name string
			s    protocol.Serializer
			enc  func(protocol.Serializer) (protocol.Frame, error)
			want view
		}{
			{"V2 Push", protocol.V2(),
				func(s protocol.Serializer) (protocol.Frame, error) { return s.Push(rt.joinRef, rt.topic, rt.event, p) },
				view{token(rt.joinRef), "null", rt.topic, rt.event, rt.payload, false}},
			{"V2 Reply", protocol.V2(),
				func(s protocol.Serializer) (protocol.Frame, error) {
					return s.Reply(rt.joinRef, rt.ref, rt.topic, "ok", p)
				},
				view{token(rt.joinRef), token(rt.ref), rt.topic, protocol.EventReply, reply, false}},
			{"V2 Broadcast", protocol.V2(),
				func(s protocol.Serializer) (protocol.Frame, error) { return s.Broadcast(rt.topic, rt.event, p) },
				view{"null", "null", rt.topic, rt.event, rt.payload, false}},
			{"V2 Close", protocol.V2(),
				func(s protocol.Serializer) (protocol.Frame, error) { return s.Close(rt.ref, rt.topic, rt.event, p) },
				view{token(rt.ref), token(rt.ref), rt.topic, rt.event, rt.payload, false}},
			// V1 never writes join_ref, so it decodes as null.
			{"V1 Push", protocol.V1(),
				func(s protocol.Serializer) (protocol.Frame, error) { return s.Push(rt.joinRef, rt.topic, rt.event, p) },
				view{"null", "null", rt.topic, rt.event, rt.payload, false}},
			{"V1 Reply", protocol.V1(),
				func(s protocol.Serializer) (protocol.Frame, error) {
					return s.Reply(rt.joinRef, rt.ref, rt.topic, "ok", p)
				},
				view{"null", token(rt.ref), rt.topic, protocol.EventReply, reply, false}},
			{"V1 Close", protocol.V1(),
				func(s protocol.Serializer) (protocol.Frame, error) { return s.Close(rt.ref, rt.topic, rt.event, p) },
				view{"null", token(rt.ref), rt.topic, rt.event, rt.payload, false}},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%d/%s", i, c.name), func(t *testing.T) {
				f, err := c.enc(c.s)
				if err != nil {
					t.Fatalf("encode error: %v", err)
				}
				m, err := c.s.Decode(f.Data, f.Binary)
				if err != nil {
					t.Fatalf("Decode(%s) error: %v", f.Data, err)
				}
				if got := viewOf(m); got != c.want {
					t.Errorf("Decode(%s)\n got %+v\nwant %+v", f.Data, got, c.want)
				}
			})
		}
	}
}

// TestRoundTripBinary encodes client pushes as phoenix.js does and decodes
// them, then sends the decoded fields back in each server frame kind and
// reads those as phoenix.js does.
func TestRoundTripBinary(t *testing.T) {
	tests := []struct {
		joinRef, ref, topic, event string
		payload                    []byte
	}{
		{"1", "2", "room:lobby", "upload", []byte{0, 1, 2, 0xff}},
		{"12", "123", "topic", "event", []byte("ABC")},
		{`a"b`, "\u2028", "room:é 😀", "ev\n", nil},
		{strings.Repeat("j", 255), strings.Repeat("r", 255), strings.Repeat("t", 255), strings.Repeat("e", 255), []byte("x")},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			m, err := protocol.V2().Decode(clientBinary(tt.joinRef, tt.ref, tt.topic, tt.event, tt.payload), true)
			if err != nil {
				t.Fatalf("Decode error: %v", err)
			}
			want := view{token(protocol.StringRef(tt.joinRef)), token(protocol.StringRef(tt.ref)), tt.topic, tt.event, string(tt.payload), true}
			if got := viewOf(m); got != want {
				t.Fatalf("Decode\n got %+v\nwant %+v", got, want)
			}
			if got := m.JoinRef.String(); got != tt.joinRef {
				t.Errorf("JoinRef.String() = %q, want %q", got, tt.joinRef)
			}
			if got := m.Ref.String(); got != tt.ref {
				t.Errorf("Ref.String() = %q, want %q", got, tt.ref)
			}

			server := []struct {
				name string
				enc  func() (protocol.Frame, error)
				want serverBinary
			}{
				{"push", func() (protocol.Frame, error) { return protocol.V2().Push(m.JoinRef, m.Topic, m.Event, m.Payload) },
					serverBinary{0, tt.joinRef, "", tt.topic, tt.event, string(tt.payload)}},
				{"reply", func() (protocol.Frame, error) {
					return protocol.V2().Reply(m.JoinRef, m.Ref, m.Topic, m.Event, m.Payload)
				}, serverBinary{1, tt.joinRef, tt.ref, tt.topic, tt.event, string(tt.payload)}},
				{"broadcast", func() (protocol.Frame, error) { return protocol.V2().Broadcast(m.Topic, m.Event, m.Payload) },
					serverBinary{2, "", "", tt.topic, tt.event, string(tt.payload)}},
			}
			for _, s := range server {
				f, err := s.enc()
				if err != nil {
					t.Fatalf("%s: encode error: %v", s.name, err)
				}
				got, err := parseServerBinary(f.Data)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if got != s.want {
					t.Errorf("%s:\n got %+v\nwant %+v", s.name, got, s.want)
				}
			}
		})
	}
}

// TestSerializersConcurrent uses both serializers from many goroutines at
// once; the race detector checks that they share no mutable state.
func TestSerializersConcurrent(t *testing.T) {
	want := map[protocol.Serializer]string{
		protocol.V1(): `{"topic":"t","event":"e","payload":{"n":1},"ref":null}`,
		protocol.V2(): `[null,null,"t","e",{"n":1}]`,
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		s := protocol.V1()
		if i%2 == 1 {
			s = protocol.V2()
		}
		wg.Go(func() {
			for range 200 {
				f, err := s.Broadcast("t", "e", protocol.RawJSON([]byte(`{"n":1}`)))
				if err != nil || string(f.Data) != want[s] {
					errs <- fmt.Errorf("%s: Broadcast = %s, %v", s.Version(), f.Data, err)
					return
				}
				m, err := s.Decode(f.Data, false)
				if err != nil || m.Topic != "t" || !bytes.Equal(m.Payload.Bytes(), []byte(`{"n":1}`)) {
					errs <- fmt.Errorf("%s: Decode = %+v, %v", s.Version(), viewOf(m), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A push or broadcast of a SharedJSON payload is the same message as one
// of RawJSON, byte for byte, in both formats; its frame points at the
// payload instead of holding a copy, and its Len counts every part.
func TestSharedJSONFrames(t *testing.T) {
	list := []byte(`{"alice":{"metas":[{"phx_ref":"F1"}]},"bob":{"metas":[{"phx_ref":"F2","name":"B\u00f6b"}]}}`)
	for _, s := range []protocol.Serializer{protocol.V1(), protocol.V2()} {
		encs := map[string]func(protocol.Payload) (protocol.Frame, error){
			"push": func(p protocol.Payload) (protocol.Frame, error) {
				return s.Push(protocol.Ref(`"7"`), "room:a", "presence_state", p)
			},
			"broadcast": func(p protocol.Payload) (protocol.Frame, error) {
				return s.Broadcast("room:a", "presence_state", p)
			},
		}
		for name, enc := range encs {
			want, err := enc(protocol.RawJSON(list))
			if err != nil {
				t.Fatal(err)
			}
			got, err := enc(protocol.SharedJSON(list))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Data) || !bytes.Equal(got.AppendTo([]byte("x")), append([]byte("x"), want.Data...)) {
				t.Errorf("%s %s: shared frame %s, want %s", s.Version(), name, got.Bytes(), want.Data)
			}
			if got.Len() != len(want.Data) {
				t.Errorf("%s %s: Len %d, want %d", s.Version(), name, got.Len(), len(want.Data))
			}
			head, body, tail := got.Parts()
			if &body[0] != &list[0] || len(body) != len(list) {
				t.Errorf("%s %s: the frame's body is not the shared payload itself", s.Version(), name)
			}
			if len(head)+len(tail) >= len(want.Data)-len(list)+1 {
				t.Errorf("%s %s: head %q and tail %q hold more than the frame around the payload", s.Version(), name, head, tail)
			}
			if h, b, tl := want.Parts(); !bytes.Equal(h, want.Data) || b != nil || tl != nil {
				t.Errorf("%s %s: a whole frame's parts are %q %q %q", s.Version(), name, h, b, tl)
			}
		}
	}
}
