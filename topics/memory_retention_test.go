package topics

import (
	"fmt"
	"testing"
)

// Rings made with equal Retentions share one copy of it, and the copy is
// the store's own: a caller that changes its Events afterwards changes
// nothing.
func TestRingsShareTheirRetention(t *testing.T) {
	s, err := NewMemoryHistory()
	if err != nil {
		t.Fatal(err)
	}
	ps := New()
	if err := ps.UseHistory(s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	events := []string{"new_msg", "edit"}
	r := Retention{Count: 10, Events: events}
	a := s.lockRing("room:a", r)
	a.mu.Unlock()
	b := s.lockRing("room:b", Retention{Count: 10, Events: []string{"new_msg", "edit"}})
	b.mu.Unlock()
	if a.ret != b.ret {
		t.Fatal("two rooms of one Retention hold a copy each")
	}
	for i, other := range []Retention{
		{Count: 11, Events: events},
		{Count: 10, Events: []string{"new_msg"}},
		{Count: 10, Events: []string{"new_msgedit"}},
		{Count: 10},
		{Count: 10, Events: events, Bytes: 1},
	} {
		c := s.lockRing(fmt.Sprint("room:other-", i), other)
		c.mu.Unlock()
		if c.ret == a.ret {
			t.Fatalf("%+v shares %+v's copy", other, r)
		}
		if c.ret.Count != other.Count || c.ret.Bytes != other.Bytes || len(c.ret.Events) != len(other.Events) {
			t.Fatalf("ring holds %+v, made with %+v", *c.ret, other)
		}
	}
	events[0] = "changed"
	if !a.ret.records("new_msg") || a.ret.records("changed") {
		t.Fatalf("the caller's slice changed the store's copy: %v", a.ret.Events)
	}
}
