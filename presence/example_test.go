package presence_test

import (
	"encoding/json"
	"fmt"

	"github.com/pyrehq/pyre/presence"
)

// printer is a Broadcaster that prints each diff's shape.
type printer struct{}

func (printer) LocalBroadcast(topic, event string, payload any) error {
	d := payload.(presence.Diff)
	fmt.Printf("%s %s: %d joins, %d leaves\n", topic, event, len(d.Joins), len(d.Leaves))
	return nil
}

func Example() {
	tr, err := presence.New(printer{}, presence.WithNode("n1"))
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	tr.Track("tab-1", "room:lobby", "alice", presence.Meta{"typing": false})
	tr.Track("tab-2", "room:lobby", "alice", presence.Meta{"typing": false})
	tr.Update("tab-1", "room:lobby", "alice", presence.Meta{"typing": true})
	tr.UntrackAll("tab-2")

	alice := tr.List("room:lobby")["alice"]
	b, _ := json.Marshal(alice.Metas[0]["typing"])
	fmt.Println("alice metas:", len(alice.Metas), "typing:", string(b))
	// Output:
	// room:lobby presence_diff: 1 joins, 0 leaves
	// room:lobby presence_diff: 1 joins, 0 leaves
	// room:lobby presence_diff: 1 joins, 1 leaves
	// room:lobby presence_diff: 0 joins, 1 leaves
	// alice metas: 1 typing: true
}
