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

// Asked says what a join payload asks of recovery.
type Asked uint8

const (
	// NotAsked: the payload has no SinceKey; the reply is left as Join made it.
	NotAsked Asked = iota
	// AskedFresh: SinceKey is null, a first join that wants the stream's
	// position in its reply.
	AskedFresh
	// AskedSince: SinceKey holds a well-formed position.
	AskedSince
	// AskedBadly: SinceKey holds something else.
	AskedBadly
)

// Since reads the position a join payload asks to recover after.
func Since(p protocol.Payload) (topics.Position, Asked) {
	if !p.IsObject() || !bytes.Contains(p.Bytes(), []byte(`"`+SinceKey+`"`)) {
		return topics.Position{}, NotAsked
	}
	var v map[string]json.RawMessage
	if err := p.Decode(&v); err != nil {
		return topics.Position{}, NotAsked // not ours to judge: Join sees the payload
	}
	raw, ok := v[SinceKey]
	switch {
	case !ok:
		return topics.Position{}, NotAsked
	case string(raw) == "null":
		return topics.Position{}, AskedFresh
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return topics.Position{}, AskedBadly
	}
	pos, err := topics.ParsePosition(s)
	if err != nil {
		return topics.Position{}, AskedBadly
	}
	return pos, AskedSince
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
	if keeps && rec.Head.Epoch != "" { // no head when the history is unavailable
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
