package loadgen_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/chatserver"
	"github.com/pyrehq/pyre/loadgen"
)

// TestRooms: every member of every room, its sender too, reads every
// message of its room, and none of another's.
func TestRooms(t *testing.T) {
	testutil.CheckGoroutines(t)
	cs := chatserver.Start(t)
	const rooms, size = 4, 3
	rep, err := loadgen.Rooms(t.Context(), cs.URL, rooms, size, loadgen.WithRate(20),
		loadgen.WithDuration(time.Second), loadgen.WithServerPID(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	// 20 messages a second per room for a second: 20 per room, 80 in all,
	// each read by the 3 members of its room.
	if rep.Joined != rooms*size || rep.Sent != 80 || rep.Expected != 240 || rep.Received != 240 {
		t.Errorf("joined %d, sent %d, expected %d, received %d; want 12, 80, 240, 240", rep.Joined, rep.Sent, rep.Expected, rep.Received)
	}
	if rep.Lost != 0 || rep.Reordered != 0 || rep.Duplicates != 0 || rep.Dropped != 0 {
		t.Errorf("lost %d, reordered %d, dups %d, dropped %d; want none", rep.Lost, rep.Reordered, rep.Duplicates, rep.Dropped)
	}
	if rep.Latency.Count != 240 || rep.DeliveredPerS <= 0 || rep.ServerCPUUsPerDelivery <= 0 {
		t.Errorf("latency samples %d, delivered %v/s, %v µs per delivery; want 240 and positive figures",
			rep.Latency.Count, rep.DeliveredPerS, rep.ServerCPUUsPerDelivery)
	}
	if rep.JoinLatency.Count != rooms*size || rep.JoinLatency.P50Us <= 0 {
		t.Errorf("join latency %+v: want one sample per joined connection", rep.JoinLatency)
	}
	if s := rep.String(); !strings.Contains(s, "delivered     240 of 240") || !strings.Contains(s, "join ") {
		t.Errorf("summary:\n%s", s)
	}
}

// Rooms over two nodes: member k of every room on node k mod 2, so every
// room spans both and every message crosses NATS to half its members.
func TestRoomsAcrossNodes(t *testing.T) {
	nats := testutil.StartNATS(t)
	secret := []byte("a secret both nodes share")
	a := chatserver.StartNode(t, nats.ClientURL(), "rooms-a", secret)
	b := chatserver.StartNode(t, nats.ClientURL(), "rooms-b", secret)
	testutil.CheckGoroutines(t)
	const rooms, size = 3, 4
	rep, err := loadgen.Rooms(t.Context(), a.URL, rooms, size, loadgen.WithMoreTargets(b.URL),
		loadgen.WithRate(10), loadgen.WithDuration(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != rooms*size || rep.Sent != 30 || rep.Received != 120 || rep.Lost != 0 || rep.Duplicates != 0 || rep.Reordered != 0 {
		t.Errorf("joined %d, sent %d, received %d, lost %d, dups %d, reordered %d; want 12, 30, 120, 0, 0, 0",
			rep.Joined, rep.Sent, rep.Received, rep.Lost, rep.Duplicates, rep.Reordered)
	}
	if got := a.Sources()["127.0.0.1"]; got != rooms*size/2 {
		t.Errorf("node a saw %d socket connections, want %d", got, rooms*size/2)
	}
	if got := b.Sources()["127.0.0.1"]; got != rooms*size/2 {
		t.Errorf("node b saw %d socket connections, want %d", got, rooms*size/2)
	}
}

// The recovery storm: every member that left rejoins with its last
// position and reads exactly what its room said meanwhile, on one node.
func TestRecover(t *testing.T) {
	testutil.CheckGoroutines(t)
	cs := chatserver.Start(t)
	const rooms, size, missed = 3, 3, 7
	rep, err := loadgen.Recover(t.Context(), cs.URL, rooms, size, missed, loadgen.WithServerPID(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejoins != rooms*(size-1) || rep.Recovered != rep.Rejoins || rep.NotRecovered != 0 || rep.Failed != 0 {
		t.Fatalf("rejoins %d: recovered %d, not %d, failed %d (%v); want all %d recovered",
			rep.Rejoins, rep.Recovered, rep.NotRecovered, rep.Failed, rep.Errors, rooms*(size-1))
	}
	if rep.Expected != int64(rep.Recovered*missed) || rep.Replayed != rep.Expected || rep.Lost != 0 || rep.Duplicates != 0 || rep.Reordered != 0 {
		t.Errorf("expected %d, replayed %d, lost %d, dups %d, reordered %d", rep.Expected, rep.Replayed, rep.Lost, rep.Duplicates, rep.Reordered)
	}
	if rep.Rejoin.Count != uint64(rep.Recovered) || rep.AllInS <= 0 {
		t.Errorf("rejoin latency %+v, all in %v s", rep.Rejoin, rep.AllInS)
	}
	if s := rep.String(); !strings.Contains(s, "recovered     6, told to resync 0, failed 0") {
		t.Errorf("summary:\n%s", s)
	}
	// A topic that keeps no history tells every rejoin to resync.
	rep, err = loadgen.Recover(t.Context(), cs.URL, 2, 2, 1, loadgen.WithTopic("bench:recover-"))
	if err != nil || rep.Recovered != 0 || rep.NotRecovered != 2 || rep.Expected != 0 {
		t.Fatalf("a room without history: %v, %+v; want 2 told to resync", err, rep)
	}
}

// Topics: few connections, many topics each, over two nodes.
func TestTopics(t *testing.T) {
	nats := testutil.StartNATS(t)
	secret := []byte("a secret both nodes share")
	a := chatserver.StartNode(t, nats.ClientURL(), "topics-a", secret)
	b := chatserver.StartNode(t, nats.ClientURL(), "topics-b", secret)
	testutil.CheckGoroutines(t)
	rep, err := loadgen.Topics(t.Context(), a.URL, 4, 5, loadgen.WithMoreTargets(b.URL), loadgen.WithTopic("bench-history:topics-"),
		loadgen.WithServerPID(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 20 || rep.Failed != 0 || rep.Join.Count != 20 || rep.JoinsPerS <= 0 || rep.RSSAfterKiB <= 0 {
		t.Fatalf("joined %d, failed %d (%v), %d latencies, %v joins/s, RSS %d KiB; want 20 joined and figures",
			rep.Joined, rep.Failed, rep.Errors, rep.Join.Count, rep.JoinsPerS, rep.RSSAfterKiB)
	}
	if got := a.Sources()["127.0.0.1"]; got != 2 {
		t.Errorf("node a saw %d socket connections, want 2", got)
	}
	if got := b.Sources()["127.0.0.1"]; got != 2 {
		t.Errorf("node b saw %d socket connections, want 2", got)
	}
}
