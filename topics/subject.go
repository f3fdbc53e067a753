package topics

import (
	"errors"
	"strings"
)

// Subject names. A topic becomes one NATS subject token: letters, digits and
// "-", "_", ":", "@" stand for themselves, every other byte (the dots, spaces
// and wildcards that NATS reserves, "~" itself, any non-ASCII byte) becomes
// "~" and two upper-case hex digits, and the empty topic becomes a lone "~".
// The mapping is reversible and never produces a wildcard or an empty token,
// and "room:lobby" stays readable in NATS tooling as "room:lobby".

const hexDigits = "0123456789ABCDEF"

func subjectSafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == ':' || c == '@'
}

// SubjectToken encodes topic as a single NATS subject token.
func SubjectToken(topic string) string {
	if topic == "" {
		return "~"
	}
	n := 0
	for i := 0; i < len(topic); i++ {
		if !subjectSafe(topic[i]) {
			n++
		}
	}
	if n == 0 {
		return topic
	}
	var b strings.Builder
	b.Grow(len(topic) + 2*n)
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if subjectSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('~')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	return b.String()
}

// ErrBadSubject is returned by TopicOf for a token SubjectToken cannot make.
var ErrBadSubject = errors.New("topics: not a topic subject token")

// TopicOf decodes a token made by SubjectToken.
func TopicOf(token string) (string, error) {
	if token == "~" {
		return "", nil
	}
	if token == "" {
		return "", ErrBadSubject
	}
	var b strings.Builder
	b.Grow(len(token))
	for i := 0; i < len(token); i++ {
		c := token[i]
		if subjectSafe(c) {
			b.WriteByte(c)
			continue
		}
		if c != '~' || i+2 >= len(token) {
			return "", ErrBadSubject
		}
		hi, lo := unhex(token[i+1]), unhex(token[i+2])
		if hi < 0 || lo < 0 {
			return "", ErrBadSubject
		}
		v := byte(hi<<4 | lo)
		if subjectSafe(v) { // SubjectToken never escapes a safe byte
			return "", ErrBadSubject
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
