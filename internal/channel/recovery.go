package channel

import (
	"bytes"
	"encoding/json"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/topics"
)

// The members of the join payload and reply that carry recovery. The
// client sends SinceKey in its join params; the ok reply of a topic that
// keeps a history carries topics.PositionKey (the stream's last position
// at the join) and RecoveredKey.
const (
	SinceKey     = "_since"
	RecoveredKey = "_recovered"
)

// Since reads the position a join payload asks to recover after. given
// is false when the payload has none (or null); ok is false when it has
// one that is not a well-formed position.
func Since(p protocol.Payload) (pos topics.Position, given, ok bool) {
	if !p.IsObject() || !bytes.Contains(p.Bytes(), []byte(`"`+SinceKey+`"`)) {
		return topics.Position{}, false, true
	}
	var v struct {
		Since json.RawMessage `json:"_since"`
	}
	if err := p.Decode(&v); err != nil {
		return topics.Position{}, false, true // not ours to judge: Join sees the payload
	}
	if len(v.Since) == 0 || string(v.Since) == "null" {
		return topics.Position{}, false, true
	}
	var s string
	if err := json.Unmarshal(v.Since, &s); err != nil {
		return topics.Position{}, true, false
	}
	pos, err := topics.ParsePosition(s)
	if err != nil {
		return topics.Position{}, true, false
	}
	return pos, true, true
}

var (
	jsonTrue  = []byte("true")
	jsonFalse = []byte("false")
)

// RecoveryReply adds the recovery members to a join's ok reply p (a JSON
// object): the head position when the topic keeps a history, and whether
// everything after the join's position was recovered.
func RecoveryReply(p protocol.Payload, rec topics.Recovery, keeps bool) (protocol.Payload, error) {
	var err error
	if keeps {
		p, err = protocol.WithMember(p, topics.PositionKey, protocol.AppendString(nil, rec.Head.String()))
		if err != nil {
			return p, err
		}
	}
	v := jsonFalse
	if rec.Recovered() {
		v = jsonTrue
	}
	return protocol.WithMember(p, RecoveredKey, v)
}
