package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// v1 is the JSON object serializer (vsn 1.0.x). It has no binary frames and
// never writes join_ref.
type v1 struct{}

func (v1) Version() string { return "1.0.0" }

// v1Inbound holds the keys of a V1 frame. The fields are plain RawMessages,
// not pointers: encoding/json hands a JSON null to a RawMessage as the text
// "null" but sets a pointer to nil, which would make a present null key look
// missing. An empty RawMessage therefore means the key was absent.
type v1Inbound struct {
	Topic   json.RawMessage `json:"topic"`
	Event   json.RawMessage `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Ref     json.RawMessage `json:"ref"`
	JoinRef json.RawMessage `json:"join_ref"`
}

func (v1) Decode(data []byte, binary bool) (Message, error) {
	if binary {
		return Message{}, fmt.Errorf("%w: binary frame on the V1 serializer", ErrMalformed)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Message{}, fmt.Errorf("%w: V1 frame is not a JSON object", ErrMalformed)
	}
	var in v1Inbound
	if err := json.Unmarshal(data, &in); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(in.Topic) == 0 || len(in.Event) == 0 || len(in.Payload) == 0 || len(in.Ref) == 0 {
		return Message{}, fmt.Errorf("%w: V1 frame needs topic, event, payload and ref", ErrMalformed)
	}
	var m Message
	var err error
	if m.Topic, err = decodeString(in.Topic, "topic"); err != nil {
		return Message{}, err
	}
	if m.Event, err = decodeString(in.Event, "event"); err != nil {
		return Message{}, err
	}
	if m.Ref, err = decodeRef(in.Ref); err != nil {
		return Message{}, err
	}
	if m.JoinRef, err = decodeRef(in.JoinRef); err != nil {
		return Message{}, err
	}
	m.Payload = RawJSON(in.Payload)
	return m, nil
}

func (v1) encode(topic, event string, ref Ref, payload []byte) Frame {
	b := make([]byte, 0, 48+len(topic)+len(event)+len(ref)+len(payload))
	b = append(b, `{"topic":`...)
	b = appendString(b, topic)
	b = append(b, `,"event":`...)
	b = appendString(b, event)
	b = append(b, `,"payload":`...)
	b = append(b, payload...)
	b = append(b, `,"ref":`...)
	b = ref.appendJSON(b)
	b = append(b, '}')
	return Frame{Data: b}
}

func (s v1) Push(_ Ref, topic, event string, p Payload) (Frame, error) {
	if p.binary {
		return Frame{}, ErrBinaryV1
	}
	if p.shared {
		return s.encodeShared(topic, event, p.Bytes()), nil
	}
	return s.encode(topic, event, nil, p.Bytes()), nil
}

// encodeShared is encode for a push of a SharedJSON payload: the frame
// points at payload between its head and its tail.
func (v1) encodeShared(topic, event string, payload []byte) Frame {
	b := make([]byte, 0, 48+len(topic)+len(event))
	b = append(b, `{"topic":`...)
	b = appendString(b, topic)
	b = append(b, `,"event":`...)
	b = appendString(b, event)
	b = append(b, `,"payload":`...)
	return Frame{Data: b, shared: &sharedPart{body: payload, tail: v1NullRefTail}}
}

var v1NullRefTail = []byte(`,"ref":null}`) // never written to

func (s v1) Reply(_, ref Ref, topic, status string, p Payload) (Frame, error) {
	if p.binary {
		return Frame{}, ErrBinaryV1
	}
	return s.encode(topic, EventReply, ref, appendReply(nil, status, p)), nil
}

func (s v1) Broadcast(topic, event string, p Payload) (Frame, error) {
	return s.Push(nil, topic, event, p)
}

func (s v1) Close(joinRef Ref, topic, event string, p Payload) (Frame, error) {
	if p.binary {
		return Frame{}, ErrBinaryV1
	}
	return s.encode(topic, event, joinRef, p.Bytes()), nil
}

func decodeString(raw json.RawMessage, field string) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%w: %s must be a string", ErrMalformed, field)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return s, nil
}

// decodeRef keeps a string, number or null token; anything else is malformed.
func decodeRef(raw json.RawMessage) (Ref, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch c := raw[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return Ref(bytes.Clone(raw)), nil
	}
	return nil, fmt.Errorf("%w: ref must be a string, a number or null", ErrMalformed)
}
