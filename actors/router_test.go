package actors

import (
	"errors"
	"testing"
)

func TestRouterMatch(t *testing.T) {
	r := NewRouter()
	mk := func() Channel { return ChannelFunc(func(*Context, string, Payload) (any, error) { return nil, nil }) }
	for _, p := range []string{"food*", "foo*", "room:*", "exact:topic", "*"} {
		if err := r.Handle(p, mk); err != nil {
			t.Fatalf("Handle(%q): %v", p, err)
		}
	}
	tests := []struct {
		topic, want string
	}{
		{"food:1", "food*"},
		{"foo", "foo*"},
		{"foobar", "foo*"},
		{"room:lobby", "room:*"},
		{"room:", "room:*"},
		{"exact:topic", "exact:topic"},
		{"exact:topic2", "*"},
		{"anything", "*"},
	}
	for _, tt := range tests {
		rt, ok := r.Match(tt.topic)
		if got := rt.Pattern; !ok || got != tt.want {
			t.Errorf("Match(%q) = %q, %v; want %q", tt.topic, got, ok, tt.want)
		}
	}
}

func TestRouterNoMatch(t *testing.T) {
	r := NewRouter()
	r.MustHandle("room:*", func() Channel { return nil })
	r.MustHandle("exact", func() Channel { return nil })
	for _, topic := range []string{"rooms", "room", "exactly", "", "phoenix"} {
		if rt, ok := r.Match(topic); ok {
			t.Errorf("Match(%q) matched %q; want no match", topic, rt.Pattern)
		}
	}
}

func TestRouterBadPatterns(t *testing.T) {
	r := NewRouter()
	f := func() Channel { return nil }
	for _, p := range []string{"", "ro*om", "*room", "a**"} {
		if err := r.Handle(p, f); !errors.Is(err, ErrBadPattern) {
			t.Errorf("Handle(%q) = %v; want ErrBadPattern", p, err)
		}
	}
	if err := r.Handle("room:*", nil); !errors.Is(err, ErrBadPattern) {
		t.Errorf("Handle with nil factory = %v; want ErrBadPattern", err)
	}
}

func FuzzRouterMatch(f *testing.F) {
	f.Add("room:*", "room:lobby")
	f.Add("exact", "exact")
	f.Add("a*", "")
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		r := NewRouter()
		if err := r.Handle(pattern, func() Channel { return nil }); err != nil {
			return
		}
		_, ok := r.Match(topic)
		want := pattern == topic
		if n := len(pattern); pattern[n-1] == '*' {
			want = len(topic) >= n-1 && topic[:n-1] == pattern[:n-1]
		}
		if ok != want {
			t.Fatalf("Match(%q) with pattern %q = %v, want %v", topic, pattern, ok, want)
		}
	})
}
