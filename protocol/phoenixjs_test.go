package protocol_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

// phoenixJS is testdata/phoenixjs.json, written by testdata/phoenixjs.mjs
// with the phoenix.js serializer the project's tests use.
type phoenixJS struct {
	Phoenix string `json:"phoenix"`
	Client  []struct {
		Name string `json:"name"`
		jsMessage
		jsFrame
	} `json:"client"`
	Server []struct {
		Name string `json:"name"`
		Call struct {
			Method string `json:"method"`
			jsMessage
		} `json:"call"`
		jsFrame
		Decoded jsDecode `json:"decoded"`
	} `json:"server"`
}

// jsMessage is a message's fields as the fixtures give them: refs as the
// JSON phoenix.js was handed, the payload as JSON text or, binary, in
// base64.
type jsMessage struct {
	JoinRef       json.RawMessage `json:"join_ref"`
	Ref           json.RawMessage `json:"ref"`
	Topic         string          `json:"topic"`
	Event         string          `json:"event"`
	PayloadJSON   *string         `json:"payload_json"`
	PayloadBase64 *string         `json:"payload_base64"`
}

// jsFrame is a frame on the wire: text, or binary in base64.
type jsFrame struct {
	Text         *string `json:"text"`
	BinaryBase64 *string `json:"binary_base64"`
}

// data returns the frame's bytes and whether it is binary.
func (f jsFrame) data(t *testing.T) ([]byte, bool) {
	t.Helper()
	if f.BinaryBase64 != nil {
		return mustBase64(t, *f.BinaryBase64), true
	}
	return []byte(*f.Text), false
}

// jsDecode is what phoenix.js's decode handed to its callback; refs keep the
// JSON type phoenix.js gave them.
type jsDecode struct {
	JoinRef        json.RawMessage `json:"join_ref"`
	Ref            json.RawMessage `json:"ref"`
	Topic          string          `json:"topic"`
	Event          string          `json:"event"`
	PayloadJSON    string          `json:"payload_json,omitempty"`
	PayloadBase64  string          `json:"payload_base64,omitempty"`
	Status         string          `json:"status,omitempty"`
	ResponseBase64 string          `json:"response_base64,omitempty"`
}

func loadPhoenixJS(t *testing.T) phoenixJS {
	t.Helper()
	b, err := os.ReadFile("testdata/phoenixjs.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx phoenixJS
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatalf("testdata/phoenixjs.json: %v", err)
	}
	if len(fx.Client) == 0 || len(fx.Server) == 0 {
		t.Fatalf("testdata/phoenixjs.json has %d client and %d server cases", len(fx.Client), len(fx.Server))
	}
	return fx
}

func mustBase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 %q: %v", s, err)
	}
	return b
}

// jsString is how a JSON-encoded string looks after JSON.stringify.
func jsString(t *testing.T, s string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPhoenixJSClientFrames decodes frames that phoenix.js encoded.
func TestPhoenixJSClientFrames(t *testing.T) {
	fx := loadPhoenixJS(t)
	for _, c := range fx.Client {
		t.Run(c.Name, func(t *testing.T) {
			data, binary := c.data(t)
			want := view{Topic: c.Topic, Event: c.Event, Binary: binary}
			if binary {
				want.Payload = string(mustBase64(t, *c.PayloadBase64))
			} else {
				want.Payload = *c.PayloadJSON
			}
			// Text frames keep the token phoenix.js wrote; binary frames turn
			// the ref text back into a JSON string.
			want.JoinRef, want.Ref = string(c.JoinRef), string(c.Ref)
			m, err := protocol.V2().Decode(data, binary)
			if err != nil {
				t.Fatalf("Decode(%q) error: %v", data, err)
			}
			if got := viewOf(m); got != want {
				t.Errorf("Decode(%q)\n got %+v\nwant %+v", data, got, want)
			}
		})
	}
}

// TestPhoenixJSServerFrames checks that the Go encoder writes exactly the
// frames phoenix.js was given, and that phoenix.js read from them what the
// call meant.
func TestPhoenixJSServerFrames(t *testing.T) {
	fx := loadPhoenixJS(t)
	for _, c := range fx.Server {
		t.Run(c.Name, func(t *testing.T) {
			call := c.Call
			joinRef, ref := protocol.Ref(call.JoinRef), protocol.Ref(call.Ref)
			var p protocol.Payload
			if call.PayloadBase64 != nil {
				p = protocol.Binary(mustBase64(t, *call.PayloadBase64))
			} else {
				p = protocol.RawJSON([]byte(*call.PayloadJSON))
			}

			var f protocol.Frame
			var err error
			switch call.Method {
			case "Push":
				f, err = protocol.V2().Push(joinRef, call.Topic, call.Event, p)
			case "Reply":
				f, err = protocol.V2().Reply(joinRef, ref, call.Topic, call.Event, p)
			case "Broadcast":
				f, err = protocol.V2().Broadcast(call.Topic, call.Event, p)
			case "Close":
				f, err = protocol.V2().Close(joinRef, call.Topic, call.Event, p)
			default:
				t.Fatalf("unknown method %q", call.Method)
			}
			if err != nil {
				t.Fatalf("%s error: %v", call.Method, err)
			}

			wantFrame, wantBinary := c.data(t)
			if !bytes.Equal(f.Data, wantFrame) || f.Binary != wantBinary {
				t.Errorf("%s frame (binary %v)\n got %q\nwant %q", call.Method, f.Binary, f.Data, wantFrame)
			}

			null := json.RawMessage("null")
			want := jsDecode{JoinRef: null, Ref: null, Topic: call.Topic, Event: call.Event}
			if f.Binary {
				// phoenix.js reads binary refs as strings; a null join_ref was
				// written as an empty field.
				switch call.Method {
				case "Push":
					want.JoinRef = jsString(t, joinRef.String())
					want.PayloadBase64 = *call.PayloadBase64
				case "Reply":
					want.JoinRef, want.Ref = jsString(t, joinRef.String()), jsString(t, ref.String())
					want.Event, want.Status, want.ResponseBase64 = protocol.EventReply, call.Event, *call.PayloadBase64
				case "Broadcast":
					want.PayloadBase64 = *call.PayloadBase64
				}
			} else {
				want.PayloadJSON = *call.PayloadJSON
				switch call.Method {
				case "Push":
					want.JoinRef = call.JoinRef
				case "Reply":
					want.JoinRef, want.Ref = call.JoinRef, call.Ref
					want.Event = protocol.EventReply
					want.PayloadJSON = `{"status":"` + call.Event + `","response":` + *call.PayloadJSON + `}`
				case "Close":
					want.JoinRef, want.Ref = call.JoinRef, call.JoinRef
				}
			}
			got := c.Decoded
			if !bytes.Equal(got.JoinRef, want.JoinRef) || !bytes.Equal(got.Ref, want.Ref) ||
				got.Topic != want.Topic || got.Event != want.Event || got.PayloadJSON != want.PayloadJSON ||
				got.PayloadBase64 != want.PayloadBase64 || got.Status != want.Status || got.ResponseBase64 != want.ResponseBase64 {
				t.Errorf("phoenix.js decoded\n got %s\nwant %s", describeJS(got), describeJS(want))
			}
		})
	}
}

func describeJS(d jsDecode) string {
	b, _ := json.Marshal(d)
	return string(b)
}
