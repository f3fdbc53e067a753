package socket_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRepliesKeepClientOrder interleaves pushes that the reader hands
// straight to a joined channel with frames only the Socket actor can answer
// (unjoined topics, joins, pushes right behind a join): every frame gets
// its reply, replies of one topic come in the order the client sent the
// frames, and a push with a stale join_ref gets none.
func TestRepliesKeepClientOrder(t *testing.T) {
	s := newServer(t)
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	c.Send(`["1","1","echo:a","phx_join",{}]`)
	c.Read()

	const rounds = 200
	const perRound = 7 // frames with a reply in each round
	errc := make(chan error, 1)
	go func() {
		for k := range rounds {
			n := 2 + k*perRound
			jr := "j" + strconv.Itoa(k)
			topic := fmt.Sprintf("echo:c%d", k)
			frames := []string{
				fmt.Sprintf(`["1","%d","echo:a","echo",{}]`, n),
				fmt.Sprintf(`[null,"%d","echo:none","echo",{}]`, n+1),
				fmt.Sprintf(`["1","%d","echo:a","echo",{}]`, n+2),
				fmt.Sprintf(`["%s","%d","%s","phx_join",{}]`, jr, n+3, topic),
				fmt.Sprintf(`["%s","%d","%s","echo",{}]`, jr, n+4, topic),
				fmt.Sprintf(`["1","%d","echo:a","echo",{}]`, n+5),
				fmt.Sprintf(`["%s","%d","%s","phx_leave",{}]`, jr, n+6, topic),
				`["stale","0","echo:a","echo",{}]`,
			}
			for _, f := range frames {
				if err := c.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
					errc <- err
					return
				}
			}
		}
		errc <- nil
	}()

	// Channels run side by side, so replies of different topics may
	// interleave; those of one topic come back in the order sent.
	last := map[string]int{}
	for got := 0; got < rounds*perRound; {
		var frame []json.RawMessage
		if err := json.Unmarshal([]byte(c.Read()), &frame); err != nil || len(frame) != 5 {
			t.Fatalf("bad frame: %v", err)
		}
		var event, ref, topic string
		_ = json.Unmarshal(frame[3], &event)
		if event != "phx_reply" {
			continue // phx_close after a leave
		}
		_ = json.Unmarshal(frame[2], &topic)
		if err := json.Unmarshal(frame[1], &ref); err != nil {
			t.Fatalf("reply without a ref: %s", frame[1])
		}
		n, err := strconv.Atoi(ref)
		if err != nil {
			t.Fatalf("reply to ref %q, which was never sent", ref)
		}
		if n <= last[topic] {
			t.Fatalf("%s: reply to ref %d after ref %d", topic, n, last[topic])
		}
		last[topic] = n
		got++
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestPushesAfterChannelStops sends pushes right behind one that stops the
// channel: each is either handled before the stop or answered as an
// unmatched topic by the socket, never lost once the socket knows the
// channel is gone, and the socket keeps working.
func TestPushesAfterChannelStops(t *testing.T) {
	s := newServer(t)
	c := s.mustDial(t, "vsn=2.0.0&token=good")
	for k := range 50 {
		topic := fmt.Sprintf("echo:s%d", k)
		c.Send(fmt.Sprintf(`["1","j","%s","phx_join",{}]`, topic))
		if got := c.Read(); got != fmt.Sprintf(`["1","j","%s","phx_reply",{"status":"ok","response":{}}]`, topic) {
			t.Fatalf("join: %s", got)
		}
		c.Send(fmt.Sprintf(`["1","s","%s","stop",{}]`, topic))
		// Wait for the close the stopping channel sends: the socket learns
		// of the stop right after, so later pushes reach it.
		for {
			var frame []json.RawMessage
			_ = json.Unmarshal([]byte(c.Read()), &frame)
			var event string
			_ = json.Unmarshal(frame[3], &event)
			if event == "phx_close" {
				break
			}
		}
		// Probe until the socket answers for the gone channel; a push the
		// channel still took before it stopped gets no reply, so each probe
		// is followed by a ping on a fresh topic that always answers.
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; ; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the socket never answered for the stopped channel", k)
			}
			c.Send(fmt.Sprintf(`["1","p%d","%s","echo",{}]`, i, topic))
			c.Send(fmt.Sprintf(`[null,"q%d","echo:none-%d","echo",{}]`, i, k))
			first := c.Read()
			if first == fmt.Sprintf(`[null,"p%d","%s","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`, i, topic) {
				c.Read() // the ping's reply
				break
			}
			if first != fmt.Sprintf(`[null,"q%d","echo:none-%d","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]`, i, k) {
				t.Fatalf("unexpected frame %s", first)
			}
		}
	}
}
