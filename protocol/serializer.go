package protocol

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Serializer encodes and decodes frames for one protocol version.
type Serializer interface {
	// Version is "1.0.0" or "2.0.0".
	Version() string
	// Decode parses one inbound WebSocket message. The message keeps no
	// reference to data, which the caller may reuse at once.
	Decode(data []byte, binary bool) (Message, error)
	// Push encodes a server push from a channel (ref is always null).
	Push(joinRef Ref, topic, event string, p Payload) (Frame, error)
	// Reply encodes a phx_reply with the given status and response.
	Reply(joinRef, ref Ref, topic, status string, p Payload) (Frame, error)
	// Broadcast encodes a fan-out frame (no refs).
	Broadcast(topic, event string, p Payload) (Frame, error)
	// Close encodes a channel-level message whose ref is the join ref, as
	// phx_close and phx_error are sent.
	Close(joinRef Ref, topic, event string, p Payload) (Frame, error)
}

// V1 returns the serializer of the V1 JSON format (vsn "1.0.0"): frames
// are objects {"join_ref", "ref", "topic", "event", "payload"}.
func V1() Serializer { return v1{} }

// V2 returns the serializer of the V2 format (vsn "2.0.0"), phoenix.js's
// default: JSON arrays [join_ref, ref, topic, event, payload], and binary
// frames for binary payloads.
func V2() Serializer { return v2{} }

// Negotiate picks the serializer for a vsn query value. An empty vsn means
// 1.0.0, as in Phoenix; any 1.0.x is V1, any 2.0.x is V2, the rest is refused.
func Negotiate(vsn string) (Serializer, error) {
	if vsn == "" {
		return V1(), nil
	}
	parts := strings.Split(vsn, ".")
	if len(parts) != 3 {
		return nil, ErrUnsupported
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return nil, ErrUnsupported
		}
	}
	switch parts[0] + "." + parts[1] {
	case "1.0":
		return V1(), nil
	case "2.0":
		return V2(), nil
	}
	return nil, ErrUnsupported
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped, as encoding/json does. quotedLen counts
// by the same rules.
func appendString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// quotedLen is len(appendString(nil, s)), without encoding it.
func quotedLen[T string | []byte](s T) int {
	n := len(s) + 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n++ // \x
			case c < 0x20:
				n += 5 // \u00xx
			}
			i++
			continue
		}
		r, size := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5 // one byte becomes \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 3 // three bytes become \u202x
		}
		i += size
	}
	return n
}

// decodeRune decodes the first rune of s. Only the bytes a rune can span
// are converted: for a byte slice the conversion then stays on the stack.
func decodeRune[T string | []byte](s T) (rune, int) {
	return utf8.DecodeRuneInString(string(s[:min(len(s), utf8.UTFMax)]))
}

func appendReply(dst []byte, status string, p Payload) []byte {
	dst = append(dst, `{"status":`...)
	dst = appendString(dst, status)
	dst = append(dst, `,"response":`...)
	dst = append(dst, p.Bytes()...)
	return append(dst, '}')
}
