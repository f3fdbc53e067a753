package actors_test

import (
	"bytes"
	"net/url"
	"testing"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/protocol"
)

// blob handles binary payloads in every direction the Go API offers.
type blob struct{}

func (blob) Join(*actors.Context, string, actors.Payload) (any, error) { return nil, nil }

func (blob) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	if !p.IsBinary() {
		return actors.Error(map[string]string{"reason": "want binary"})
	}
	doubled := append(bytes.Clone(p.Bytes()), p.Bytes()...)
	switch event {
	case "reply":
		return actors.Ok(protocol.Binary(doubled))
	case "push":
		_ = c.Push("pushed", protocol.Binary(doubled))
		return actors.NoReply()
	case "broadcast":
		_ = c.Broadcast("cast", protocol.Binary(doubled))
		return actors.NoReply()
	}
	return actors.Error(map[string]string{"reason": "unmatched event"})
}

func TestBinaryPayloadsThroughTheGoAPI(t *testing.T) {
	r := actors.NewRouter()
	r.MustHandle("blob:*", func() actors.Channel { return blob{} })
	srv := channeltest.NewServer(t, r)
	c, err := srv.Connect(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := srv.Connect(url.Values{})
	for _, cl := range []*channeltest.Client{c, other} {
		if rep, err := cl.Join("blob:1", nil); err != nil || rep.Status != "ok" {
			t.Fatalf("join: %+v %v", rep, err)
		}
	}
	in := []byte{0, 1, 2, 0xff}
	want := append(bytes.Clone(in), in...)

	ref, _ := c.Push("blob:1", "reply", protocol.Binary(in))
	m, err := c.Await(func(m channeltest.Message) bool { return m.Ref == ref })
	if err != nil || m.Event != "phx_reply" || !bytes.Equal(m.Binary, want) {
		t.Fatalf("binary reply: %+v %v", m, err)
	}

	c.Push("blob:1", "push", protocol.Binary(in))
	if m, err := c.AwaitPush("blob:1", "pushed"); err != nil || !bytes.Equal(m.Binary, want) {
		t.Fatalf("binary push: %+v %v", m, err)
	}

	c.Push("blob:1", "broadcast", protocol.Binary(in))
	for _, cl := range []*channeltest.Client{c, other} {
		if m, err := cl.AwaitPush("blob:1", "cast"); err != nil || !bytes.Equal(m.Binary, want) {
			t.Fatalf("binary broadcast: %+v %v", m, err)
		}
	}

	if err := srv.Broadcast("blob:1", "outside", protocol.Binary(in)); err != nil {
		t.Fatal(err)
	}
	if m, err := other.AwaitPush("blob:1", "outside"); err != nil || !bytes.Equal(m.Binary, in) {
		t.Fatalf("endpoint binary broadcast: %+v %v", m, err)
	}

	// A JSON payload where binary is expected is answered, not dropped.
	if rep, err := c.Request("blob:1", "reply", map[string]int{"n": 1}); err != nil || rep.Status != "error" {
		t.Fatalf("JSON to a binary handler: %+v %v", rep, err)
	}
}
