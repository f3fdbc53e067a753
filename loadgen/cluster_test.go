package loadgen_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/chatserver"
	"github.com/pyrehq/pyre/loadgen"
)

// A fan-out spread over two chat nodes joined by NATS: the publisher and
// every other subscriber on the first, the rest on the second, and every
// message reaches every subscriber on both.
func TestFanoutAcrossNodes(t *testing.T) {
	nats := testutil.StartNATS(t)
	secret := []byte("a secret both nodes share")
	a := chatserver.StartNode(t, nats.ClientURL(), "bench-a", secret)
	b := chatserver.StartNode(t, nats.ClientURL(), "bench-b", secret)
	testutil.CheckGoroutines(t)

	pids := []int{os.Getpid(), os.Getppid()} // the test and the go command
	rep, err := loadgen.Fanout(t.Context(), a.URL, 7, loadgen.WithMoreTargets(b.URL),
		loadgen.WithCount(30), loadgen.WithWindow(4), loadgen.WithServerPIDs(pids...))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Joined != 7 || rep.Sent != 30 || rep.Expected != 210 || rep.Received != 210 || rep.Lost != 0 || rep.Duplicates != 0 {
		t.Errorf("joined %d, sent %d, expected %d, received %d, lost %d, duplicates %d; want 7, 30, 210, 210, 0, 0",
			rep.Joined, rep.Sent, rep.Expected, rep.Received, rep.Lost, rep.Duplicates)
	}
	want := []loadgen.TargetShare{
		{Target: a.URL, Subs: 4, Joined: 4, Expected: 120, Received: 120},
		{Target: b.URL, Subs: 3, Joined: 3, Expected: 90, Received: 90},
	}
	if len(rep.PerTarget) != len(want) {
		t.Fatalf("per target %+v, want %+v", rep.PerTarget, want)
	}
	for i := range want {
		if rep.PerTarget[i] != want[i] {
			t.Errorf("target %d: %+v, want %+v", i, rep.PerTarget[i], want[i])
		}
	}
	// Subscribers 0, 2, 4, 6 and the publisher dialled a; 1, 3, 5 dialled b.
	if got, want := a.Sources()["127.0.0.1"], 5; got != want {
		t.Errorf("node a saw %d socket connections, want %d", got, want)
	}
	if got, want := b.Sources()["127.0.0.1"], 3; got != want {
		t.Errorf("node b saw %d socket connections, want %d", got, want)
	}

	if len(rep.Servers) != 2 || rep.Servers[0].PID != pids[0] || rep.Servers[1].PID != pids[1] || rep.ServerPID != pids[0] {
		t.Fatalf("servers %+v, server pid %d: want one entry for each of %v", rep.Servers, rep.ServerPID, pids)
	}
	var cpu float64
	var rss int64
	for _, s := range rep.Servers {
		cpu += s.CPUS
		rss += s.RSSKiB
		if s.RSSKiB <= 0 || s.CPUS < 0 {
			t.Errorf("server %+v: want its memory and CPU", s)
		}
	}
	if rep.ServerRSSKiB != rss || rep.ServerCPUS < cpu-0.002 || rep.ServerCPUS > cpu+0.002 {
		t.Errorf("server RSS %d KiB, CPU %vs: want the sums %d KiB, %vs", rep.ServerRSSKiB, rep.ServerCPUS, rss, cpu)
	}
	if rep.ServerCPUS > 0 && rep.ServerCPUUsPerDelivery <= 0 {
		t.Errorf("server CPU %vs but %vµs per delivery", rep.ServerCPUS, rep.ServerCPUUsPerDelivery)
	}
	s := rep.String()
	for _, line := range []string{"on " + a.URL + ": 4 subscribers, 4 joined, delivered 120 of 120, lost 0", "2 servers"} {
		if !strings.Contains(s, line) {
			t.Errorf("summary lacks %q:\n%s", line, s)
		}
	}
}

// One node alone reports no split and no per-server list, as before.
func TestFanoutOneTargetHasNoSplit(t *testing.T) {
	cs := chatserver.Start(t)
	rep, err := loadgen.Fanout(t.Context(), cs.URL, 2, loadgen.WithCount(5), loadgen.WithServerPID(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.PerTarget != nil || rep.Servers != nil || rep.ServerPID != os.Getpid() || rep.Received != 10 {
		t.Errorf("per target %v, servers %v, server pid %d, received %d: want none, none, %d, 10",
			rep.PerTarget, rep.Servers, rep.ServerPID, rep.Received, os.Getpid())
	}
}

func TestBadClusterOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		opt  loadgen.Option
		want error
	}{
		"remote second target": {loadgen.WithMoreTargets("http://192.0.2.1:4000"), loadgen.ErrNotLoopback},
		"negative pid":         {loadgen.WithServerPIDs(os.Getpid(), -2), nil},
		"zero pid":             {loadgen.WithServerPIDs(0), nil},
		"pid twice":            {loadgen.WithServerPIDs(os.Getpid(), os.Getpid()), nil},
	} {
		_, err := loadgen.Fanout(t.Context(), "http://127.0.0.1:1", 1, tc.opt)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", name, err, tc.want)
		}
	}
}
