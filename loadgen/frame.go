package loadgen

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/pyrehq/pyre/protocol"
)

// The V2 text frame is a JSON array [join_ref, ref, topic, event, payload].
// Encoding a client frame is a few appends. Decoding is done by a scanner
// that handles the shape servers actually send (refs as strings, numbers or
// null; plain ASCII topic and event) without allocating, and hands
// everything else to protocol.V2(), the server's own decoder; the two agree
// on every frame of five elements.

// vsn is the protocol version the load generator asks for.
const vsn = "2.0.0"

// appendFrame appends a client frame. Refs are written as JSON strings, as
// phoenix.js writes them; a join ref of 0 is written as null.
func appendFrame(dst []byte, joinRef, ref uint64, topic, event string, payload []byte) []byte {
	dst = append(dst, '[')
	if joinRef == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(strconv.AppendUint(append(dst, '"'), joinRef, 10), '"')
	}
	dst = append(strconv.AppendUint(append(dst, ',', '"'), ref, 10), '"', ',')
	dst = appendJSONString(dst, topic)
	dst = append(dst, ',')
	dst = appendJSONString(dst, event)
	dst = append(dst, ',')
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	dst = append(dst, payload...)
	return append(dst, ']')
}

// appendJSONString appends s quoted. Plain printable ASCII is copied as is;
// anything else goes through encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// inFrame is one decoded server frame. Its slices may point into the read
// buffer and are valid only until the next read on the connection.
type inFrame struct {
	joinRef, ref []byte // raw JSON tokens; nil for null
	topic, event []byte // unquoted
	payload      []byte // raw JSON
}

// decodeFrame decodes a V2 text frame.
func decodeFrame(b []byte) (inFrame, error) {
	if f, ok := scanFrame(b); ok {
		return f, nil
	}
	m, err := protocol.V2().Decode(b, false)
	if err != nil {
		return inFrame{}, err
	}
	f := inFrame{topic: []byte(m.Topic), event: []byte(m.Event), payload: m.Payload.Bytes()}
	if !m.JoinRef.IsNull() {
		f.joinRef = m.JoinRef
	}
	if !m.Ref.IsNull() {
		f.ref = m.Ref
	}
	return f, nil
}

// scanFrame is decodeFrame's fast path. It declines (false) whatever it is
// not sure to read as protocol.V2() would: escapes or non-ASCII bytes in the
// first four elements, or anything malformed there. The payload is not
// scanned, since that would cost more than all the rest: it is everything
// between the fourth comma and the closing bracket. So a frame with a sixth
// element, which no server sends, would have it read as part of the
// payload.
func scanFrame(b []byte) (inFrame, bool) {
	var f inFrame
	i := skipSpace(b, 0)
	last := len(b) - 1
	for last > i && isSpace(b[last]) {
		last--
	}
	if i >= last || b[i] != '[' || b[last] != ']' {
		return f, false
	}
	i++
	var head [4][]byte
	for k := range head {
		i = skipSpace(b, i)
		j, ok := scanPlain(b[:last], i)
		if !ok {
			return f, false
		}
		head[k] = b[i:j]
		i = skipSpace(b, j)
		if i >= last || b[i] != ',' {
			return f, false
		}
		i++
	}
	start, end := skipSpace(b, i), last
	for end > start && isSpace(b[end-1]) {
		end--
	}
	if start >= end {
		return f, false
	}
	f.payload = b[start:end]
	for k, dst := range [2]*[]byte{&f.joinRef, &f.ref} {
		switch tok := head[k]; {
		case string(tok) == "null":
		case tok[0] == '"' || tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9'):
			*dst = tok
		default:
			return f, false
		}
	}
	if head[2][0] != '"' || head[3][0] != '"' {
		return f, false
	}
	f.topic, f.event = head[2][1:len(head[2])-1], head[3][1:len(head[3])-1]
	return f, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanPlain reads a string with no escapes and only printable ASCII, a
// number, or null, starting at b[i], and returns the index after it.
func scanPlain(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	if b[i] == '"' {
		for j := i + 1; j < len(b); j++ {
			switch c := b[j]; {
			case c == '"':
				return j + 1, true
			case c < 0x20 || c > 0x7e || c == '\\':
				return j, false
			}
		}
		return len(b), false
	}
	if bytes.HasPrefix(b[i:], []byte("null")) {
		return i + 4, true
	}
	j := i
	for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		j++
	}
	return j, j > i
}

// refNumber reads a ref this package wrote: "123" or 123.
func refNumber(tok []byte) (uint64, bool) {
	if len(tok) >= 2 && tok[0] == '"' && tok[len(tok)-1] == '"' {
		tok = tok[1 : len(tok)-1]
	}
	n, err := strconv.ParseUint(string(tok), 10, 64)
	return n, err == nil
}

// reply is a phx_reply payload: {"status": S, "response": R}.
type reply struct {
	status   string
	response []byte // raw JSON, owned by the reply
}

// parseReply reads a phx_reply payload; the usual {"status":"ok",…} shape
// is cut apart without a JSON decoder.
func parseReply(p []byte) reply {
	const okHead = `{"status":"ok","response":`
	if bytes.HasPrefix(p, []byte(okHead)) && bytes.HasSuffix(p, []byte("}")) {
		return reply{status: "ok", response: bytes.Clone(p[len(okHead) : len(p)-1])}
	}
	var r struct {
		Status   string          `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(p, &r); err != nil {
		return reply{status: "malformed", response: bytes.Clone(p)}
	}
	return reply{status: r.Status, response: r.Response}
}

// intField finds "key": in a flat JSON object and reads the integer after
// it. It is meant for the load generator's own payloads, which servers may
// re-encode with the keys in another order.
func intField(p []byte, key string) (int64, bool) {
	var pat [24]byte
	needle := append(append(append(pat[:0], '"'), key...), '"')
	for off := 0; ; {
		k := bytes.Index(p[off:], needle)
		if k < 0 {
			return 0, false
		}
		j := skipSpace(p, off+k+len(needle))
		off += k + len(needle)
		if j >= len(p) || p[j] != ':' {
			continue
		}
		n, m := leadingInt(p[skipSpace(p, j+1):])
		return n, m > 0
	}
}

// stringField finds "key":"…" in a JSON object and returns the string,
// which must hold no escapes (positions and the like); ok is false when it
// is missing.
func stringField(p []byte, key string) (string, bool) {
	var pat [24]byte
	needle := append(append(append(pat[:0], '"'), key...), '"')
	for off := 0; ; {
		k := bytes.Index(p[off:], needle)
		if k < 0 {
			return "", false
		}
		off += k + len(needle)
		j := skipSpace(p, off)
		if j >= len(p) || p[j] != ':' {
			continue
		}
		j = skipSpace(p, j+1)
		if j >= len(p) || p[j] != '"' {
			return "", false
		}
		end := bytes.IndexByte(p[j+1:], '"')
		if end < 0 || bytes.IndexByte(p[j+1:j+1+end], '\\') >= 0 {
			return "", false
		}
		return string(p[j+1 : j+1+end]), true
	}
}

// leadingInt parses the decimal integer at the start of b and says how many
// bytes it took (0 if none, or if it would overflow).
func leadingInt(b []byte) (int64, int) {
	neg := len(b) > 0 && b[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	start := i
	var n int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if n > (1<<63-1-9)/10 {
			return 0, 0
		}
		n = n*10 + int64(b[i]-'0')
	}
	if i == start {
		return 0, 0
	}
	if neg {
		n = -n
	}
	return n, i
}
