package protocol

import (
	"bytes"
	"encoding/json"
)

// decodeV2Fast reads the frames phoenix.js sends — an array of exactly five
// elements whose refs are null or plain strings and whose topic and event
// are plain strings — without encoding/json's reflection. "Plain" means
// printable ASCII without escapes. It reports false for anything else, and
// the caller falls back to decodeV2, so the two always agree on what they
// both accept (FuzzV2FastMatchesGeneral checks it). The payload is still
// validated as JSON: it is copied into frames sent to other clients.
func decodeV2Fast(data []byte) (Message, bool) {
	var toks [4][]byte
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return Message{}, false
	}
	i++
	for k := range toks {
		i = skipSpace(data, i)
		if i >= len(data) {
			return Message{}, false
		}
		switch {
		case data[i] == '"':
			j := i + 1
			for j < len(data) && data[j] != '"' {
				if c := data[j]; c == '\\' || c < 0x20 || c >= 0x7f {
					return Message{}, false
				}
				j++
			}
			if j >= len(data) {
				return Message{}, false
			}
			toks[k] = data[i : j+1]
			i = j + 1
		case k < 2 && bytes.HasPrefix(data[i:], []byte("null")):
			i += 4
		default:
			return Message{}, false
		}
		i = skipSpace(data, i)
		if i >= len(data) || data[i] != ',' {
			return Message{}, false
		}
		i++
	}
	end := len(data)
	for end > i && isSpace(data[end-1]) {
		end--
	}
	if end <= i || data[end-1] != ']' {
		return Message{}, false
	}
	payload := bytes.TrimFunc(data[i:end-1], func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
	// A sixth element makes the rest invalid JSON: decodeV2 takes it.
	if len(payload) == 0 || !json.Valid(payload) {
		return Message{}, false
	}
	// Two allocations per message rather than five: topic and event share
	// one string, refs and payload one byte slice (each part capped, so an
	// append to one cannot write into the next).
	var m Message
	topic, event := toks[2][1:len(toks[2])-1], toks[3][1:len(toks[3])-1]
	names := string(append(append(make([]byte, 0, len(topic)+len(event)), topic...), event...))
	m.Topic, m.Event = names[:len(topic)], names[len(topic):]
	buf := make([]byte, 0, len(toks[0])+len(toks[1])+len(payload))
	if toks[0] != nil {
		buf = append(buf, toks[0]...)
		m.JoinRef = Ref(buf[:len(buf):len(buf)])
	}
	if toks[1] != nil {
		n := len(buf)
		buf = append(buf, toks[1]...)
		m.Ref = Ref(buf[n:len(buf):len(buf)])
	}
	n := len(buf)
	buf = append(buf, payload...)
	m.Payload = RawJSON(buf[n:])
	return m, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}
