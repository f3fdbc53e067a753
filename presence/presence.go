package presence

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"

	"github.com/pyrehq/pyre/protocol"
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

// Entry is one key's presence in a State: its metas, one per owner that
// tracks the key, plus any fields a fetch function added.
type Entry struct {
	Metas []Meta
	Extra map[string]any // fields beside "metas", set by a fetch function
}

// MarshalJSON writes {"metas": [...], extra fields...}; metas is never null.
func (p Entry) MarshalJSON() ([]byte, error) { return p.AppendJSON(nil) }

// AppendJSON appends what MarshalJSON writes.
func (p Entry) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"metas":[`...)
	var err error
	for i, m := range p.Metas {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = m.AppendJSON(dst); err != nil {
			return nil, err
		}
	}
	dst = append(dst, ']')
	for _, k := range slices.Sorted(maps.Keys(p.Extra)) {
		if k == "metas" {
			continue
		}
		dst = append(dst, ',')
		dst = protocol.AppendString(dst, k)
		dst = append(dst, ':')
		if dst, err = appendValue(dst, p.Extra[k]); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// AppendJSON appends the meta as a JSON object with sorted keys. Strings,
// booleans, numbers and nil are written directly; other values go through
// encoding/json.
func (m Meta) AppendJSON(dst []byte) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = protocol.AppendString(dst, k)
		dst = append(dst, ':')
		if dst, err = appendValue(dst, m[k]); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// appendValue writes one JSON value: common scalar types directly, the rest
// through encoding/json (which validates and compacts its output).
func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return protocol.AppendString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case Meta:
		return x.AppendJSON(dst)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Entry) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*p = Entry{}
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
type State map[string]Entry

// MarshalJSON writes an empty object for a nil State, never null.
func (s State) MarshalJSON() ([]byte, error) { return s.AppendJSON(nil) }

// AppendJSON appends the state as a JSON object with sorted keys.
func (s State) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i, k := range slices.Sorted(maps.Keys(s)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = protocol.AppendString(dst, k)
		dst = append(dst, ':')
		if dst, err = s[k].AppendJSON(dst); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// Diff is the payload of presence_diff. Both halves are always objects.
type Diff struct {
	Joins  State `json:"joins"`
	Leaves State `json:"leaves"`
}

// MarshalJSON writes {"joins": {...}, "leaves": {...}}.
func (d Diff) MarshalJSON() ([]byte, error) { return d.AppendJSON(nil) }

// AppendJSON appends what MarshalJSON writes.
func (d Diff) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"joins":`...)
	dst, err := d.Joins.AppendJSON(dst)
	if err != nil {
		return nil, err
	}
	dst = append(dst, `,"leaves":`...)
	if dst, err = d.Leaves.AppendJSON(dst); err != nil {
		return nil, err
	}
	return append(dst, '}'), nil
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
