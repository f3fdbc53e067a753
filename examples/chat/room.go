package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/presence"
)

var (
	unauthorized   = map[string]string{"reason": "unauthorized"}
	unmatchedEvent = map[string]string{"reason": "unmatched event"}
	blankBody      = bodyError("can't be blank")
	bodyNotString  = bodyError("must be a string")
	bodyTooLong    = bodyError(fmt.Sprintf("should be at most %d characters", MaxBodyChars))
	messageID      atomic.Uint64
)

// MaxBodyChars is the longest message body a room takes, in characters:
// the page's input holds as many.
const MaxBodyChars = 2000

// bodyError is the reply to a refused new_msg, changeset style.
func bodyError(msg string) map[string]any {
	return map[string]any{"errors": map[string][]string{"body": {msg}}}
}

// messageBody checks the body of a new_msg payload; on failure it returns
// the error reply's response.
func messageBody(p actors.Payload) (string, any) {
	var in struct {
		Body json.RawMessage `json:"body"`
	}
	if err := p.Decode(&in); err != nil || len(in.Body) == 0 || string(in.Body) == "null" {
		return "", blankBody
	}
	var body string
	if err := json.Unmarshal(in.Body, &body); err != nil {
		return "", bodyNotString
	}
	switch {
	case strings.TrimSpace(body) == "":
		return "", blankBody
	case utf8.RuneCountInString(body) > MaxBodyChars:
		return "", bodyTooLong
	}
	return body, nil
}

// afterJoin is the message a room sends itself to finish joining once the
// join reply is out.
type afterJoin struct{}

// Room is the "room:*" channel: chat messages, presence and typing.
type Room struct {
	user       string
	onlineAt   string
	noPresence bool // bench:* rooms: no presence tracking
}

func user(c *actors.Context) string {
	u, _ := c.Get("user").(string)
	return u
}

// Join lets anyone into room:<x> but only <u> into room:private-<u>.
func (r *Room) Join(c *actors.Context, topic string, _ actors.Payload) (any, error) {
	r.user = user(c)
	if owner, private := strings.CutPrefix(topic, "room:private-"); private && owner != r.user {
		return nil, actors.Refuse(unauthorized)
	}
	if !r.noPresence {
		c.Send(afterJoin{})
	}
	return nil, nil
}

// HandleInfo finishes the join: track the user and send the room's presence.
func (r *Room) HandleInfo(c *actors.Context, msg any) actors.Result {
	if _, ok := msg.(afterJoin); !ok {
		return actors.NoReply()
	}
	r.onlineAt = strconv.FormatInt(time.Now().Unix(), 10)
	// Track the user and push the room's list as its subscribers know it,
	// encoded once for every joiner of this presence window; this user is
	// in the list itself when the room is quiet, in the window's diff when
	// it is busy.
	if _, err := c.TrackAndPushPresence(r.user, presence.Meta{"online_at": r.onlineAt, "typing": false}); err != nil {
		if errors.Is(err, actors.ErrNoPresence) {
			return actors.Stop(err)
		}
		c.Logger().Warn().Err(err).Msg("presence track or presence_state push failed")
	}
	return actors.NoReply()
}

// HandleIn serves the client's events.
func (r *Room) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	switch event {
	case "new_msg":
		body, refused := messageBody(p)
		if refused != nil {
			return actors.Error(refused)
		}
		msg := map[string]any{
			"id":          messageID.Add(1),
			"body":        body,
			"user_id":     r.user,
			"inserted_at": time.Now().UTC().Format(time.RFC3339),
		}
		if err := c.Broadcast("new_msg", msg); err != nil {
			return actors.Error(map[string]string{"reason": err.Error()})
		}
		return actors.Ok(nil)
	case "typing":
		var in struct {
			Typing bool `json:"typing"`
		}
		if err := p.Decode(&in); err != nil {
			return actors.Error(map[string]string{"reason": "typing must be a boolean"})
		}
		if _, err := c.UpdatePresence(r.user, presence.Meta{"online_at": r.onlineAt, "typing": in.Typing}); err != nil {
			return actors.Error(map[string]string{"reason": err.Error()})
		}
		return actors.Ok(nil)
	case "ping":
		return actors.Ok(p)
	case "shout":
		if err := c.BroadcastFrom("shout", p); err != nil {
			return actors.Error(map[string]string{"reason": err.Error()})
		}
		return actors.Ok(nil)
	case "bench":
		_ = c.Broadcast("bench", p)
		return actors.NoReply()
	case "crash":
		panic(fmt.Sprintf("crash requested by %s", r.user))
	case "stop":
		return actors.StopWithReply(nil, "ok", nil)
	}
	return actors.Error(unmatchedEvent)
}

// Intercept routes new_msg through HandleOut to mark the sender's own copies.
func (r *Room) Intercept() []string { return []string{"new_msg"} }

// HandleOut adds "mine" to each subscriber's copy of new_msg.
func (r *Room) HandleOut(c *actors.Context, event string, p actors.Payload) actors.Result {
	var msg map[string]any
	if err := p.Decode(&msg); err != nil {
		return actors.NoReply()
	}
	msg["mine"] = msg["user_id"] == r.user
	if err := c.Push(event, msg); err != nil {
		c.Logger().Debug().Err(err).Msg("push failed")
	}
	return actors.NoReply()
}

// Notifications is the "notifications:<u>" channel: only <u> may join, and
// it relays whatever is broadcast on the topic.
type Notifications struct{}

// Join admits only the topic's own user.
func (Notifications) Join(c *actors.Context, topic string, _ actors.Payload) (any, error) {
	if topic != "notifications:"+user(c) {
		return nil, actors.Refuse(unauthorized)
	}
	return nil, nil
}
