package presence_test

import (
	"testing"

	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/topics"
)

// Stats counts the presences held, however they come and go.
func TestStatsCountsEntries(t *testing.T) {
	tr, err := presence.New(topics.New())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	entries := func() int { return tr.Stats().Entries }
	for _, step := range []struct {
		do   func() error
		want int
	}{
		{func() error { _, err := tr.Track("o1", "room:a", "alice", presence.Meta{}); return err }, 1},
		{func() error { _, err := tr.Track("o2", "room:a", "alice", presence.Meta{}); return err }, 2},
		{func() error { _, err := tr.Track("o1", "room:b", "bob", presence.Meta{}); return err }, 3},
		{func() error { _, err := tr.Update("o1", "room:b", "bob", presence.Meta{"away": true}); return err }, 3},
		{func() error { return tr.Untrack("o2", "room:a", "alice") }, 2},
		{func() error { tr.UntrackAll("o1"); return nil }, 0},
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		if got := entries(); got != step.want {
			t.Fatalf("entries = %d, want %d", got, step.want)
		}
	}
	if s := tr.Stats(); s.SentBytes != 0 || s.ReceivedBytes != 0 {
		t.Errorf("replication without NATS: %+v", s)
	}
}
