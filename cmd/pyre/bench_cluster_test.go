package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/internal/testutil"
	"github.com/pyrehq/pyre/internal/testutil/chatserver"
)

// pyre bench fanout -targets spreads the subscribers over two chat nodes
// joined by NATS, and -pid with two ids sums their CPU.
func TestBenchFanoutTargets(t *testing.T) {
	nats := testutil.StartNATS(t)
	secret := []byte("a secret both nodes share")
	a := chatserver.StartNode(t, nats.ClientURL(), "bench-a", secret)
	b := chatserver.StartNode(t, nats.ClientURL(), "bench-b", secret)
	pids := fmt.Sprintf("%d,%d", os.Getpid(), os.Getppid())

	var out, errOut bytes.Buffer
	args := []string{"fanout", "-targets", a.URL + "," + b.URL, "-pid", pids, "-subs", "5", "-count", "10", "-window", "2", "-json"}
	if err := bench(t.Context(), args, &out, &errOut); err != nil {
		t.Fatalf("bench %v: %v\n%s", args, err, errOut.String())
	}
	var rep struct {
		Target    string  `json:"target"`
		ServerPID int     `json:"server_pid"`
		Received  float64 `json:"received"`
		Lost      float64 `json:"lost"`
		PerTarget []struct {
			Target   string
			Subs     int
			Received int
		} `json:"per_target"`
		Servers []struct{ PID int } `json:"servers"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	if rep.Target != a.URL || rep.ServerPID != os.Getpid() || rep.Received != 50 || rep.Lost != 0 {
		t.Errorf("target %s, server pid %d, received %v, lost %v; want %s, %d, 50, 0", rep.Target, rep.ServerPID, rep.Received, rep.Lost, a.URL, os.Getpid())
	}
	if len(rep.PerTarget) != 2 || rep.PerTarget[0].Target != a.URL || rep.PerTarget[0].Subs != 3 || rep.PerTarget[0].Received != 30 ||
		rep.PerTarget[1].Target != b.URL || rep.PerTarget[1].Subs != 2 || rep.PerTarget[1].Received != 20 {
		t.Errorf("per target %+v: want 3 subscribers with 30 deliveries on %s, 2 with 20 on %s", rep.PerTarget, a.URL, b.URL)
	}
	if len(rep.Servers) != 2 || rep.Servers[1].PID != os.Getppid() {
		t.Errorf("servers %+v: want %s", rep.Servers, pids)
	}
	if got, want := b.Sources()["127.0.0.1"], 2; got != want {
		t.Errorf("node b saw %d socket connections, want %d", got, want)
	}
}

func TestBenchRefusesBadLists(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fanout", "-pid", "12,x"}, `invalid value "12,x" for flag -pid: "x" is not a process id`},
		{[]string{"fanout", "-pid", "12,"}, `invalid value "12," for flag -pid: "" is not a process id`},
		{[]string{"fanout", "-pid", "-3"}, `"-3" is not a process id`},
		{[]string{"ping", "-pid", "0,12"}, "0 (skip) cannot be part of a list"},
		{[]string{"fanout", "-pid", "12,12"}, "process id 12 given twice"},
		{[]string{"fanout", "-targets", "127.0.0.1:1,,127.0.0.1:2"}, "empty entry in the list of servers"},
		{[]string{"fanout", "-targets", ""}, "empty entry in the list of servers"},
		{[]string{"fanout", "-targets", "127.0.0.1:1,192.0.2.1:4000"}, "not a loopback address"},
		{[]string{"fanout", "-target", "127.0.0.1:1", "-targets", "127.0.0.1:2,127.0.0.1:3"}, "-target and -targets exclude each other"},
		{[]string{"storm", "-targets", "127.0.0.1:1,127.0.0.1:2"}, "flag provided but not defined: -targets"},
	} {
		var out bytes.Buffer
		err := bench(t.Context(), tc.args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %q: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}
