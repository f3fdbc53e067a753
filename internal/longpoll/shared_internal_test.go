package longpoll

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/pyrehq/pyre/protocol"
)

// A frame that points at a shared payload (a room's presence list) goes
// into a poll's answer whole: head, list and tail, as one message string.
func TestSessionJoinsSharedFrames(t *testing.T) {
	list := []byte(`{"alice":{"metas":[{"phx_ref":"F1"}]}}`)
	f, err := protocol.V2().Push(protocol.Ref(`"3"`), "room:a", "presence_state", protocol.SharedJSON(list))
	if err != nil {
		t.Fatal(err)
	}
	s := &session{lp: &Transport{}, ser: protocol.V2(), maxBytes: 1 << 20}
	if !s.Send(f) {
		t.Fatal("the session refused the frame")
	}
	_, frames := s.poll(context.Background(), 0, 0)
	var body struct{ Messages []string }
	if err := json.Unmarshal(envelope(200, "tok", frames), &body); err != nil {
		t.Fatal(err)
	}
	want := `["3",null,"room:a","presence_state",` + string(list) + `]`
	if len(body.Messages) != 1 || body.Messages[0] != want {
		t.Fatalf("the poll carried %q, want [%q]", body.Messages, want)
	}
}
