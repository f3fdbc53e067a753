package channeltest

import (
	"fmt"
	"slices"

	"github.com/pyrehq/pyre/presence"
)

// PresenceView replays what a client received on topic as phoenix.js's
// Presence does: diffs that come before presence_state wait for it, then
// apply in order with the rest (a joined meta replaces one with the same
// phx_ref, then leaves remove by phx_ref). It returns each key's phx_refs,
// sorted, and false when no presence_state has come yet. Pass it
// Client.Received().
func PresenceView(msgs []Message, topic string) (map[string][]string, bool, error) {
	var view map[string][]string
	var held []presence.Diff
	apply := func(d presence.Diff) {
		for k, p := range d.Joins {
			joined := refs(p)
			view[k] = append(slices.DeleteFunc(view[k], func(r string) bool { return slices.Contains(joined, r) }), joined...)
		}
		for k, p := range d.Leaves {
			left := refs(p)
			view[k] = slices.DeleteFunc(view[k], func(r string) bool { return slices.Contains(left, r) })
			if len(view[k]) == 0 {
				delete(view, k)
			}
		}
	}
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		switch m.Event {
		case presence.EventState:
			var s presence.State
			if err := m.Decode(&s); err != nil {
				return nil, false, fmt.Errorf("channeltest: presence_state: %w", err)
			}
			view = map[string][]string{}
			for k, p := range s {
				view[k] = refs(p)
			}
			for _, d := range held {
				apply(d)
			}
			held = nil
		case presence.EventDiff:
			var d presence.Diff
			if err := m.Decode(&d); err != nil {
				return nil, false, fmt.Errorf("channeltest: presence_diff: %w", err)
			}
			if view == nil {
				held = append(held, d)
			} else {
				apply(d)
			}
		}
	}
	for k := range view {
		slices.Sort(view[k])
	}
	return view, view != nil, nil
}

// PresenceRefs is a State in PresenceView's form: each key's phx_refs,
// sorted.
func PresenceRefs(s presence.State) map[string][]string {
	out := make(map[string][]string, len(s))
	for k, p := range s {
		out[k] = slices.Sorted(slices.Values(refs(p)))
	}
	return out
}

func refs(p presence.Entry) []string {
	out := make([]string, 0, len(p.Metas))
	for _, m := range p.Metas {
		out = append(out, m.Ref())
	}
	return out
}
