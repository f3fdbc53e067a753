package cluster

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/internal/testutil"
)

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestMembers(t *testing.T) {
	single, err := Start(Config{Node: "alone"})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if got := single.Members(); len(got) != 1 || got[0].Name != "alone" || !got[0].Self {
		t.Errorf("a single node: got %+v, want itself only", got)
	}

	srv := testutil.StartNATS(t)
	const every = 50 * time.Millisecond
	a, err := Start(Config{NATS: srv.ClientURL(), Node: "a", Heartbeat: every})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// A node that beats once and then falls silent, without a goodbye.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ghost, _ := json.Marshal(beat{Node: "ghost", Started: time.Now().UnixMilli()})
	if err := nc.Publish("pyre.members", ghost); err != nil {
		t.Fatal(err)
	}
	b, err := Start(Config{NATS: srv.ClientURL(), Node: "b", Heartbeat: every})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return slices.Equal(names(a.Members()), []string{"a", "b", "ghost"}) || slices.Equal(names(a.Members()), []string{"a", "b"})
	}, "a to know b (got %v)", testutil.Lazy(func() string { return fmtNames(a.Members()) }))
	testutil.Eventually(t, 5*time.Second, func() bool { return slices.Equal(names(a.Members()), []string{"a", "b"}) },
		"a to forget the silent ghost (got %v)", testutil.Lazy(func() string { return fmtNames(a.Members()) }))
	testutil.Eventually(t, 5*time.Second, func() bool { return slices.Equal(names(b.Members()), []string{"b", "a"}) },
		"b to know a, itself first (got %v)", testutil.Lazy(func() string { return fmtNames(b.Members()) }))
	if m := b.Members()[1]; m.Self || m.Started.IsZero() || time.Since(m.LastSeen) > missedBeats*every {
		t.Errorf("b's view of a: %+v", m)
	}
	_ = b.Close()
	testutil.Eventually(t, 5*time.Second, func() bool { return slices.Equal(names(a.Members()), []string{"a"}) }, "a to forget b")
}

// A node that closes says goodbye: the others forget it at once, long
// before three of their heartbeats (3 s here) would have.
func TestMembersGoodbye(t *testing.T) {
	srv := testutil.StartNATS(t)
	a, err := Start(Config{NATS: srv.ClientURL(), Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Start(Config{NATS: srv.ClientURL(), Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	// b's first beat, and a's answer to it, come at once, not a period later.
	testutil.Eventually(t, 900*time.Millisecond, func() bool {
		return slices.Equal(names(a.Members()), []string{"a", "b"}) && slices.Equal(names(b.Members()), []string{"b", "a"})
	}, "a and b to know each other before a heartbeat period")
	_ = b.Close()
	testutil.Eventually(t, 1500*time.Millisecond, func() bool { return slices.Equal(names(a.Members()), []string{"a"}) },
		"a to forget b on its goodbye")
}

func fmtNames(ms []Member) string { b, _ := json.Marshal(names(ms)); return string(b) }
