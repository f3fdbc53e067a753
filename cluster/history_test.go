package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pyrehq/pyre/cluster"
	"github.com/pyrehq/pyre/topics"
)

func TestJetStreamHistories(t *testing.T) {
	if _, err := cluster.Start(cluster.Config{JetStream: t.TempDir()}); err == nil {
		t.Fatal("JetStream histories without NATS were accepted")
	}

	first, err := cluster.Start(cluster.Config{NATS: cluster.Embedded, Listen: "127.0.0.1:0", Node: "j0", JetStream: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// Another byte bound and storage than the streams the first node
	// makes: the streams' own settings win.
	second, err := cluster.Start(cluster.Config{NATS: first.ServerURL(), Node: "j1", JetStream: "on", JetStreamMemory: true,
		JetStreamMaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	keep := func(topic string) (topics.Retention, bool) { return topics.Retention{Count: 10}, true }
	first.PubSub().Retain(keep)
	second.PubSub().Retain(keep)
	if err := first.PubSub().Broadcast("room:1", "msg", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	// The publish is acknowledged asynchronously: poll for it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, _ := second.PubSub().Recover("room:1", nil)
		if rec.Head.Seq == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second node sees head %v (%v), want the first node's broadcast", rec.Head, rec.Outcome)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	if h := first.Health(); h.History == nil || h.History.Published != 1 {
		t.Fatalf("health = %+v", h)
	}
	// A node told another partition count than the streams' cannot use
	// them.
	third, err := cluster.Start(cluster.Config{NATS: first.ServerURL(), Node: "j2", JetStream: "on", JetStreamPartitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	third.PubSub().Retain(keep)
	if err := third.PubSub().Broadcast("room:1", "msg", map[string]int{"n": 2}); err == nil {
		t.Fatal("a node with another partition count recorded a broadcast")
	}

	plain, err := cluster.Start(cluster.Config{NATS: cluster.Embedded, Listen: "127.0.0.1:0", Node: "p0"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := cluster.Start(cluster.Config{NATS: plain.ServerURL(), Node: "p1", JetStream: "on"}); !errors.Is(err, topics.ErrNoJetStream) {
		t.Fatalf("JetStream histories on a server without JetStream: %v, want ErrNoJetStream", err)
	}
}
