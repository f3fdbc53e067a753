package chat

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/actors/channeltest"
	"github.com/pyrehq/pyre/socket"
)

// roomClient joins room:test as user alice on an in-process server.
func roomClient(t *testing.T) *channeltest.Client {
	t.Helper()
	router := actors.NewRouter()
	router.MustHandle("room:*", func() actors.Channel { return &Room{noPresence: true} })
	srv := channeltest.NewServer(t, router, socket.WithConnect(
		func(context.Context, url.Values, socket.ConnInfo) (actors.Assigns, error) {
			return actors.Assigns{"user": "alice"}, nil
		}))
	c, err := srv.Connect(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if r, err := c.Join("room:test", nil); err != nil || r.Status != "ok" {
		t.Fatalf("join: %v %v", r, err)
	}
	return c
}

func TestNewMessageBody(t *testing.T) {
	c := roomClient(t)
	for _, tc := range []struct {
		name    string
		payload string
		want    string // the error reply's response; "" for ok
	}{
		{"short", `{"body":"hello"}`, ""},
		{"at the limit", `{"body":"` + strings.Repeat("é", MaxBodyChars) + `"}`, ""},
		{"one character over", `{"body":"` + strings.Repeat("x", MaxBodyChars+1) + `"}`,
			`{"errors":{"body":["should be at most 2000 characters"]}}`},
		{"500 KB", `{"body":"` + strings.Repeat("x", 500_000) + `"}`,
			`{"errors":{"body":["should be at most 2000 characters"]}}`},
		{"blank", `{"body":"  \n "}`, `{"errors":{"body":["can't be blank"]}}`},
		{"missing", `{}`, `{"errors":{"body":["can't be blank"]}}`},
		{"null", `{"body":null}`, `{"errors":{"body":["can't be blank"]}}`},
		{"a number", `{"body":12}`, `{"errors":{"body":["must be a string"]}}`},
		{"an object", `{"body":{"x":1}}`, `{"errors":{"body":["must be a string"]}}`},
		{"not an object", `"hello"`, `{"errors":{"body":["can't be blank"]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Request("room:test", "new_msg", json.RawMessage(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && r.Status != "ok":
				t.Errorf("status %s %s, want ok", r.Status, r.Response)
			case tc.want != "" && (r.Status != "error" || string(r.Response) != tc.want):
				t.Errorf("reply %s %s, want error %s", r.Status, r.Response, tc.want)
			}
		})
	}
}
