package presence

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"slices"
)

// Event names of the presence broadcasts, as phoenix.js expects them.
const (
	EventState = "presence_state"
	EventDiff  = "presence_diff"
)

// Meta keys the tracker sets on every meta.
const (
	RefKey     = "phx_ref"
	RefPrevKey = "phx_ref_prev"
)

// Errors returned by the Tracker.
var (
	ErrAlreadyTracked = errors.New("presence: already tracked")
	ErrNotTracked     = errors.New("presence: not tracked")
	ErrInvalid        = errors.New("presence: topic, key and owner must not be empty")
	ErrClosed         = errors.New("presence: tracker closed")
)

// Meta is the data one presence carries. The tracker adds "phx_ref" (and
// "phx_ref_prev" after an update); values must be JSON-encodable.
type Meta map[string]any

// Ref returns the meta's phx_ref, or "" when it has none.
func (m Meta) Ref() string {
	s, _ := m[RefKey].(string)
	return s
}

// Presence is one key's entry in a State: its metas, one per owner that
// tracks the key, plus any fields a fetch function added.
type Presence struct {
	Metas []Meta
	Extra map[string]any // fields beside "metas", set by a fetch function
}

// MarshalJSON writes {"metas": [...], extra fields...}; metas is never null.
func (p Presence) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"metas":`)
	metas := p.Metas
	if metas == nil {
		metas = []Meta{}
	}
	b, err := json.Marshal(metas)
	if err != nil {
		return nil, err
	}
	buf.Write(b)
	for _, k := range slices.Sorted(maps.Keys(p.Extra)) {
		if k == "metas" {
			continue
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(p.Extra[k])
		if err != nil {
			return nil, err
		}
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Presence) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*p = Presence{}
	for k, v := range raw {
		if k == "metas" {
			if err := json.Unmarshal(v, &p.Metas); err != nil {
				return err
			}
			continue
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return err
		}
		if p.Extra == nil {
			p.Extra = map[string]any{}
		}
		p.Extra[k] = x
	}
	return nil
}

// State maps each key to its presence: the payload of presence_state and
// each half of presence_diff.
type State map[string]Presence

// MarshalJSON writes an empty object for a nil State, never null.
func (s State) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]Presence(s))
}

// Diff is the payload of presence_diff. Both halves are always objects.
type Diff struct {
	Joins  State `json:"joins"`
	Leaves State `json:"leaves"`
}

// Empty reports whether the diff carries no change.
func (d Diff) Empty() bool { return len(d.Joins) == 0 && len(d.Leaves) == 0 }

// Broadcaster delivers a presence_diff to this node's subscribers of a
// topic. topics.PubSub implements it.
type Broadcaster interface {
	LocalBroadcast(topic, event string, payload any) error
}

// FetchFunc enriches a batch of presences before they leave the tracker. It
// gets a State it may modify and returns the State to send. It is called
// once per List, Get and diff half, never once per entry.
type FetchFunc func(topic string, presences State) State
