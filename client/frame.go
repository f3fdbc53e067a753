package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Protocol versions the client speaks (the vsn query parameter).
const (
	// V2 is the array serializer of Phoenix 1.4 and later, with binary
	// frames; the default.
	V2 = "2.0.0"
	// V1 is the object serializer; it carries no join_ref and no binary
	// payloads.
	V1 = "1.0.0"
)

// Wire events of the protocol.
const (
	eventJoin      = "phx_join"
	eventLeave     = "phx_leave"
	eventReply     = "phx_reply"
	eventClose     = "phx_close"
	eventError     = "phx_error"
	eventHeartbeat = "heartbeat"
	topicPhoenix   = "phoenix"
)

// Binary frame kinds (the first byte).
const (
	kindPush      = 0
	kindReply     = 1
	kindBroadcast = 2
)

// errFrame is wrapped by every decoding failure.
var errFrame = errors.New("client: malformed frame")

// frame is one decoded server frame. For a reply, event is phx_reply,
// status its status and payload its response.
type frame struct {
	joinRef, ref string // "" for null
	topic, event string
	status       string // replies only
	payload      []byte // JSON text, or raw bytes when binary
	binary       bool
}

// decodeText decodes a text frame of serializer vsn.
func decodeText(vsn string, data []byte) (frame, error) {
	if vsn == V1 {
		return decodeV1(data)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return frame{}, fmt.Errorf("%w: %v", errFrame, err)
	}
	if len(raw) < 5 {
		return frame{}, fmt.Errorf("%w: %d elements, want 5", errFrame, len(raw))
	}
	var f frame
	var err error
	if f.joinRef, err = refText(raw[0]); err != nil {
		return frame{}, err
	}
	if f.ref, err = refText(raw[1]); err != nil {
		return frame{}, err
	}
	if json.Unmarshal(raw[2], &f.topic) != nil || json.Unmarshal(raw[3], &f.event) != nil {
		return frame{}, fmt.Errorf("%w: topic and event must be strings", errFrame)
	}
	f.payload = raw[4]
	return f.unwrapReply()
}

func decodeV1(data []byte) (frame, error) {
	var m struct {
		Topic   *string         `json:"topic"`
		Event   *string         `json:"event"`
		Payload json.RawMessage `json:"payload"`
		Ref     json.RawMessage `json:"ref"`
		JoinRef json.RawMessage `json:"join_ref"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return frame{}, fmt.Errorf("%w: %v", errFrame, err)
	}
	if m.Topic == nil || m.Event == nil {
		return frame{}, fmt.Errorf("%w: no topic or event", errFrame)
	}
	f := frame{topic: *m.Topic, event: *m.Event, payload: m.Payload}
	var err error
	if f.ref, err = refText(m.Ref); err != nil {
		return frame{}, err
	}
	if f.joinRef, err = refText(m.JoinRef); err != nil {
		return frame{}, err
	}
	return f.unwrapReply()
}

// unwrapReply turns a phx_reply's {"status", "response"} into status and
// payload.
func (f frame) unwrapReply() (frame, error) {
	if f.event != eventReply {
		return f, nil
	}
	var r struct {
		Status   *string         `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(f.payload, &r); err != nil || r.Status == nil {
		return frame{}, fmt.Errorf("%w: a reply without a status", errFrame)
	}
	f.status, f.payload = *r.Status, r.Response
	if len(f.payload) == 0 {
		f.payload = []byte("null")
	}
	return f, nil
}

// refText is a ref as text: a string as it is, null or absent as "", a
// number as written (servers echo what clients send).
func refText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: %v", errFrame, err)
		}
		return s, nil
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return string(raw), nil
	}
	return "", fmt.Errorf("%w: a ref must be a string, a number or null", errFrame)
}

// decodeBinary decodes a V2 binary frame from the server: a push (three
// sizes, no ref), a reply or a broadcast.
func decodeBinary(data []byte) (frame, error) {
	if len(data) == 0 {
		return frame{}, fmt.Errorf("%w: empty binary frame", errFrame)
	}
	var sizes int
	switch data[0] {
	case kindPush:
		sizes = 3
	case kindReply:
		sizes = 4
	case kindBroadcast:
		sizes = 2
	default:
		return frame{}, fmt.Errorf("%w: binary frame of kind %d", errFrame, data[0])
	}
	if len(data) < 1+sizes {
		return frame{}, fmt.Errorf("%w: short binary header", errFrame)
	}
	fields := make([]string, sizes)
	at := 1 + sizes
	for i := range sizes {
		n := int(data[1+i])
		if len(data) < at+n {
			return frame{}, fmt.Errorf("%w: binary field past the frame's end", errFrame)
		}
		fields[i] = string(data[at : at+n])
		at += n
	}
	f := frame{payload: data[at:], binary: true}
	switch data[0] {
	case kindPush:
		f.joinRef, f.topic, f.event = fields[0], fields[1], fields[2]
	case kindReply:
		f.joinRef, f.ref, f.topic, f.status = fields[0], fields[1], fields[2], fields[3]
		f.event = eventReply
	case kindBroadcast:
		f.topic, f.event = fields[0], fields[1]
	}
	return f, nil
}

// encodeText encodes an outgoing message with serializer vsn; payload is
// JSON text.
func encodeText(vsn, joinRef, ref, topic, event string, payload []byte) []byte {
	if vsn == V1 {
		m := struct {
			Topic   string          `json:"topic"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Ref     *string         `json:"ref"`
			JoinRef *string         `json:"join_ref,omitempty"`
		}{topic, event, payload, nullable(ref), nullable(joinRef)}
		b, _ := json.Marshal(m) // strings and valid JSON only
		return b
	}
	b, _ := json.Marshal([]any{nullable(joinRef), nullable(ref), topic, event, json.RawMessage(payload)})
	return b
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// errFieldTooLong refuses a binary push whose header field does not fit
// its one-byte size.
var errFieldTooLong = errors.New("client: binary push: join_ref, ref, topic and event must be at most 255 bytes")

// encodeBinary encodes a V2 binary push: kind 0 and four sizes.
func encodeBinary(joinRef, ref, topic, event string, payload []byte) ([]byte, error) {
	fields := [4]string{joinRef, ref, topic, event}
	n := 5 + len(payload)
	for _, s := range fields {
		if len(s) > 255 {
			return nil, errFieldTooLong
		}
		n += len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, kindPush)
	for _, s := range fields {
		b = append(b, byte(len(s)))
	}
	for _, s := range fields {
		b = append(b, s...)
	}
	return append(b, payload...), nil
}

// position returns the "_pos" member of a JSON object payload, "" if it
// has none (or is not an object).
func position(payload []byte) string {
	if len(payload) == 0 || payload[0] != '{' || !bytes.Contains(payload, []byte(`"_pos"`)) {
		return ""
	}
	var p struct {
		Pos *string `json:"_pos"`
	}
	if json.Unmarshal(payload, &p) != nil || p.Pos == nil {
		return ""
	}
	return *p.Pos
}

// itoa formats a ref.
func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
