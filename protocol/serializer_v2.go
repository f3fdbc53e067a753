package protocol

import (
	"encoding/json"
	"fmt"
)

// v2 is the array serializer (vsn 2.0.x) with binary frames.
type v2 struct{}

// Binary frame kinds.
const (
	kindPush      = 0
	kindReply     = 1
	kindBroadcast = 2
)

func (v2) Version() string { return "2.0.0" }

func (v2) Decode(data []byte, binary bool) (Message, error) {
	if binary {
		return decodeBinary(data)
	}
	if m, ok := decodeV2Fast(data); ok {
		return m, nil
	}
	return decodeV2(data)
}

// decodeV2 is the general V2 text decoder, built on encoding/json. Every
// frame goes through it unless decodeV2Fast takes it.
func decodeV2(data []byte) (Message, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(parts) < 5 {
		return Message{}, fmt.Errorf("%w: V2 frame has %d elements, want 5", ErrMalformed, len(parts))
	}
	var m Message
	var err error
	if m.JoinRef, err = decodeRef(parts[0]); err != nil {
		return Message{}, err
	}
	if m.Ref, err = decodeRef(parts[1]); err != nil {
		return Message{}, err
	}
	if m.Topic, err = decodeString(parts[2], "topic"); err != nil {
		return Message{}, err
	}
	if m.Event, err = decodeString(parts[3], "event"); err != nil {
		return Message{}, err
	}
	m.Payload = RawJSON(parts[4])
	return m, nil
}

// decodeBinary reads a client push: kind 0 with four one-byte lengths.
func decodeBinary(data []byte) (Message, error) {
	if len(data) < 5 {
		return Message{}, fmt.Errorf("%w: binary frame shorter than its header", ErrMalformed)
	}
	if data[0] != kindPush {
		return Message{}, fmt.Errorf("%w: binary frame kind %d, want push", ErrMalformed, data[0])
	}
	jl, rl, tl, el := int(data[1]), int(data[2]), int(data[3]), int(data[4])
	rest := data[5:]
	if len(rest) < jl+rl+tl+el {
		return Message{}, fmt.Errorf("%w: binary header lengths exceed the frame", ErrMalformed)
	}
	take := func(n int) string {
		s := string(rest[:n])
		rest = rest[n:]
		return s
	}
	var m Message
	if jr := take(jl); jr != "" {
		m.JoinRef = StringRef(jr)
	}
	if r := take(rl); r != "" {
		m.Ref = StringRef(r)
	}
	m.Topic = take(tl)
	m.Event = take(el)
	if m.Topic == "" || m.Event == "" {
		return Message{}, fmt.Errorf("%w: binary frame without topic or event", ErrMalformed)
	}
	m.Payload = Binary(append([]byte(nil), rest...))
	return m, nil
}

func (v2) encode(joinRef, ref Ref, topic, event string, payload []byte) Frame {
	b := make([]byte, 0, 24+len(joinRef)+len(ref)+len(topic)+len(event)+len(payload))
	b = appendHead(b, joinRef, ref, topic, event)
	b = append(b, payload...)
	b = append(b, ']')
	return Frame{Data: b}
}

// appendHead appends a V2 frame up to its payload.
func appendHead(b []byte, joinRef, ref Ref, topic, event string) []byte {
	b = append(b, '[')
	b = joinRef.appendJSON(b)
	b = append(b, ',')
	b = ref.appendJSON(b)
	b = append(b, ',')
	b = appendString(b, topic)
	b = append(b, ',')
	b = appendString(b, event)
	return append(b, ',')
}

func (s v2) Push(joinRef Ref, topic, event string, p Payload) (Frame, error) {
	if p.binary {
		return encodeBinary(kindPush, []string{joinRef.String(), topic, event}, p.data)
	}
	if p.shared {
		return encodeShared(joinRef, topic, event, p.Bytes()), nil
	}
	return s.encode(joinRef, nil, topic, event, p.Bytes()), nil
}

// encodeShared is encode for a push or broadcast of a SharedJSON payload
// (ref null): the frame points at payload between its head and its tail.
func encodeShared(joinRef Ref, topic, event string, payload []byte) Frame {
	b := make([]byte, 0, 24+len(joinRef)+len(topic)+len(event))
	b = appendHead(b, joinRef, nil, topic, event)
	return Frame{Data: b, shared: &sharedPart{body: payload, tail: v2Tail}}
}

var v2Tail = []byte("]") // never written to

func (s v2) Reply(joinRef, ref Ref, topic, status string, p Payload) (Frame, error) {
	if p.binary {
		return encodeBinary(kindReply, []string{joinRef.String(), ref.String(), topic, status}, p.data)
	}
	// One buffer for the frame: the reply object is written in place.
	data := p.Bytes()
	b := make([]byte, 0, 64+len(joinRef)+len(ref)+len(topic)+len(status)+len(data))
	b = appendHead(b, joinRef, ref, topic, EventReply)
	b = appendReply(b, status, p)
	return Frame{Data: append(b, ']')}, nil
}

func (s v2) Broadcast(topic, event string, p Payload) (Frame, error) {
	if p.binary {
		return encodeBinary(kindBroadcast, []string{topic, event}, p.data)
	}
	if p.shared {
		return encodeShared(nil, topic, event, p.Bytes()), nil
	}
	return s.encode(nil, nil, topic, event, p.Bytes()), nil
}

func (s v2) Close(joinRef Ref, topic, event string, p Payload) (Frame, error) {
	if p.binary {
		// Phoenix encodes any message with a binary payload as a push frame,
		// which has no ref field; do the same rather than splice raw bytes
		// into a JSON array.
		return encodeBinary(kindPush, []string{joinRef.String(), topic, event}, p.data)
	}
	return s.encode(joinRef, joinRef, topic, event, p.Bytes()), nil
}

func encodeBinary(kind byte, fields []string, payload []byte) (Frame, error) {
	n := 1 + len(fields) + len(payload)
	for _, f := range fields {
		if len(f) > 255 {
			return Frame{}, ErrTooLong
		}
		n += len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, kind)
	for _, f := range fields {
		b = append(b, byte(len(f)))
	}
	for _, f := range fields {
		b = append(b, f...)
	}
	b = append(b, payload...)
	return Frame{Data: b, Binary: true}, nil
}
