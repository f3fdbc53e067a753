package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Reserved event names.
const (
	EventJoin      = "phx_join"
	EventLeave     = "phx_leave"
	EventReply     = "phx_reply"
	EventError     = "phx_error"
	EventClose     = "phx_close"
	EventHeartbeat = "heartbeat"
	TopicPhoenix   = "phoenix"
)

// Errors returned by decoders. Each wraps ErrMalformed.
var (
	ErrMalformed   = errors.New("protocol: malformed frame")
	ErrUnsupported = errors.New("protocol: unsupported serializer version")
	ErrBinaryV1    = errors.New("protocol: binary payloads need the V2 serializer")
	ErrTooLong     = errors.New("protocol: binary header field longer than 255 bytes")
	ErrPayloadType = errors.New("protocol: push and broadcast payloads must be JSON objects or binary")
)

// Ref is a raw JSON token as the client sent it: a string, a number or null.
// A nil or empty Ref means null.
type Ref []byte

// StringRef returns the Ref for a JSON string s.
func StringRef(s string) Ref { return Ref(appendString(nil, s)) }

// IsNull reports whether r is JSON null.
func (r Ref) IsNull() bool { return len(r) == 0 || string(r) == "null" }

// Equal reports whether r and o are the same JSON token.
func (r Ref) Equal(o Ref) bool {
	if r.IsNull() || o.IsNull() {
		return r.IsNull() == o.IsNull()
	}
	return string(r) == string(o)
}

// String returns the ref's text: the string value for a JSON string, the
// literal token otherwise, and "" for null.
func (r Ref) String() string {
	if r.IsNull() {
		return ""
	}
	if r[0] == '"' {
		var s string
		if json.Unmarshal(r, &s) == nil {
			return s
		}
	}
	return string(r)
}

func (r Ref) appendJSON(dst []byte) []byte {
	if r.IsNull() {
		return append(dst, "null"...)
	}
	return append(dst, r...)
}

// Payload is a message body: raw JSON bytes, or opaque binary data.
type Payload struct {
	data   []byte
	binary bool
	shared bool // SharedJSON: frames point at data instead of copying it
}

// EmptyObject returns the JSON payload {}.
func EmptyObject() Payload { return Payload{data: emptyObject} }

var emptyObject = []byte("{}") // never written to

// RawJSON wraps bytes that already hold one JSON value.
func RawJSON(b []byte) Payload { return Payload{data: b} }

// SharedJSON is RawJSON for bytes that many frames carry and nobody
// modifies again, such as a room's presence list sent to every joiner: a
// push or broadcast of it points at b behind its own head (join_ref, ref,
// topic, event) instead of copying it, so a thousand joiners' frames hold
// one copy of the list between them. Replies and closes copy it as usual.
func SharedJSON(b []byte) Payload { return Payload{data: b, shared: true} }

// Binary wraps opaque bytes sent in a V2 binary frame.
func Binary(b []byte) Payload { return Payload{data: b, binary: true} }

// Bytes returns the JSON text or the binary data. Callers must not modify it.
func (p Payload) Bytes() []byte {
	if !p.binary && len(p.data) == 0 {
		return emptyObject
	}
	return p.data
}

// IsBinary reports whether the payload is binary data rather than JSON.
func (p Payload) IsBinary() bool { return p.binary }

// IsObject reports whether the payload is a JSON object.
func (p Payload) IsObject() bool {
	if p.binary {
		return false
	}
	for _, c := range p.Bytes() {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}

// Decode unmarshals a JSON payload into v.
func (p Payload) Decode(v any) error {
	if p.binary {
		return fmt.Errorf("protocol: cannot decode a binary payload as JSON")
	}
	return json.Unmarshal(p.Bytes(), v)
}

// MarshalJSON lets a JSON payload be embedded in another JSON value as is.
// A binary payload marshals as a JSON string of its bytes in base64.
func (p Payload) MarshalJSON() ([]byte, error) {
	if p.binary {
		return json.Marshal(p.data)
	}
	return p.Bytes(), nil
}

// Appender is implemented by types that write their own JSON. Marshal
// trusts what AppendJSON appends to be one valid JSON value, so only types
// whose encoder guarantees it (pyre's presence payloads) should implement
// it; it saves encoding/json's reflection and re-validation on hot paths.
type Appender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// AppendString appends s as a JSON string, as the serializers write
// strings (invalid UTF-8 becomes U+FFFD; U+2028 and U+2029 are escaped).
func AppendString(dst []byte, s string) []byte { return appendString(dst, s) }

// AppendBytes is AppendString for text held in a byte slice, such as an
// encoded frame.
func AppendBytes(dst, s []byte) []byte { return appendString(dst, s) }

// QuotedLen returns len(AppendBytes(nil, s)) without encoding s: the size
// s takes as a JSON string.
func QuotedLen(s []byte) int { return quotedLen(s) }

// Marshal turns a Go value into a Payload: a Payload is kept as is, a
// json.RawMessage is taken verbatim, nil becomes {}, an Appender writes
// itself, anything else goes through encoding/json.
func Marshal(v any) (Payload, error) {
	switch x := v.(type) {
	case nil:
		return EmptyObject(), nil
	case Payload:
		return x, nil
	case Appender:
		b, err := x.AppendJSON(nil)
		if err != nil {
			return Payload{}, fmt.Errorf("protocol: encode payload: %w", err)
		}
		return RawJSON(b), nil
	case json.RawMessage:
		if len(x) == 0 {
			return EmptyObject(), nil
		}
		return RawJSON(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Payload{}, fmt.Errorf("protocol: encode payload: %w", err)
	}
	return RawJSON(b), nil
}

// Message is one decoded client frame (or one server push).
type Message struct {
	JoinRef Ref
	Ref     Ref
	Topic   string
	Event   string
	Payload Payload
}

// Frame is one encoded WebSocket message ready for the writer. Most frames
// are Data alone; a frame of a SharedJSON payload is Data (its head), then
// the shared payload, then its tail (Parts), and the shared payload is never
// copied into it. Transports that need the message in one piece use Bytes
// or AppendTo.
type Frame struct {
	Data   []byte
	Binary bool
	// Prompt marks a frame meant for its client alone (a reply, a
	// channel's push), not one copy of a broadcast: the socket writes a
	// connection that has one before connections that only have
	// broadcasts waiting, never out of order within the connection.
	Prompt bool
	shared *sharedPart // nil: the frame is Data alone
}

// sharedPart is what follows a segmented frame's head.
type sharedPart struct{ body, tail []byte }

// Len is the frame's size in bytes.
func (f Frame) Len() int {
	if f.shared == nil {
		return len(f.Data)
	}
	return len(f.Data) + len(f.shared.body) + len(f.shared.tail)
}

// Parts returns the frame's bytes in order: head, then the shared body
// and the tail, which are nil for a frame that is Data alone. Nobody may
// modify them.
func (f Frame) Parts() (head, body, tail []byte) {
	if f.shared == nil {
		return f.Data, nil, nil
	}
	return f.Data, f.shared.body, f.shared.tail
}

// AppendTo appends the frame's bytes to dst.
func (f Frame) AppendTo(dst []byte) []byte {
	dst = append(dst, f.Data...)
	if f.shared != nil {
		dst = append(append(dst, f.shared.body...), f.shared.tail...)
	}
	return dst
}

// Bytes returns the frame's bytes in one slice: Data itself for a frame
// that is Data alone, a new copy for a segmented one.
func (f Frame) Bytes() []byte {
	if f.shared == nil {
		return f.Data
	}
	return f.AppendTo(make([]byte, 0, f.Len()))
}

// ErrNotObject is returned by WithMember for a payload that is not a JSON
// object.
var ErrNotObject = errors.New("protocol: payload is not a JSON object")

// WithMember returns a copy of the JSON object p with one more member,
// key set to value (which must be one valid JSON value), written last.
// p itself is not changed. If p already has key, the copy has it twice;
// JavaScript's JSON.parse keeps the last one, the member added here.
func WithMember(p Payload, key string, value []byte) (Payload, error) {
	if !p.IsObject() {
		return Payload{}, ErrNotObject
	}
	b := bytes.TrimRight(p.Bytes(), " \t\r\n")
	if len(b) == 0 || b[len(b)-1] != '}' {
		return Payload{}, ErrNotObject
	}
	body := bytes.TrimRight(b[:len(b)-1], " \t\r\n")
	out := make([]byte, 0, len(b)+len(key)+len(value)+6)
	out = append(out, body...)
	if body[len(body)-1] != '{' {
		out = append(out, ',')
	}
	out = appendString(out, key)
	out = append(out, ':')
	out = append(out, value...)
	out = append(out, '}')
	return RawJSON(out), nil
}
