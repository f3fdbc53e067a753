// Package protocol holds the Phoenix Channels wire format: the message a
// client sends, the frames a server writes, and the serializers that turn one
// into the other.
//
// Three encodings exist on the wire. V1 (vsn=1.0.0) sends one JSON object per
// text frame. V2 (vsn=2.0.0, what phoenix.js speaks by default) sends one JSON
// array [join_ref, ref, topic, event, payload] per text frame, and a compact
// header-plus-bytes layout in binary frames for binary payloads.
//
//	s, err := protocol.Negotiate("2.0.0")
//	if err != nil { /* refuse the connection */ }
//	msg, err := s.Decode(data, false)
//	frame, err := s.Reply(msg.JoinRef, msg.Ref, msg.Topic, "ok", protocol.EmptyObject())
//
// Refs are kept as the raw JSON token the client sent (a string, a number or
// null), because Phoenix echoes them back untouched.
//
// # Concurrency
//
// Serializers are stateless values: every method is safe to call from any
// goroutine. Message, Payload and Frame are plain values; a Frame's bytes are
// never modified after encoding, so one encoded broadcast may be handed to
// many connections at once.
package protocol
