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
	if s := rep.String(); !strings.Contains(s, "delivered     240 of 240") {
		t.Errorf("summary:\n%s", s)
	}
}
