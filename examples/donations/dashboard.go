package donations

import (
	"errors"
	"strconv"
	"time"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/presence"
)

// DashboardTopic is the admins' live view of every campaign.
const DashboardTopic = "dashboard:live"

// dashboardChannel is the "dashboard:live" channel, open to admin sockets
// only.
type dashboardChannel struct {
	svc  services
	user string
}

// Join refuses every socket that did not connect with an admin token.
func (d *dashboardChannel) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	if admin, _ := c.Get("admin").(bool); !admin {
		return nil, actors.Refuse(unauthorized)
	}
	d.user, _ = c.Get("user").(string)
	c.Send(afterJoin{})
	return nil, nil
}

// HandleInfo finishes the join: track the admin and send who is watching.
func (d *dashboardChannel) HandleInfo(c *actors.Context, msg any) actors.Result {
	if _, ok := msg.(afterJoin); !ok {
		return actors.NoReply()
	}
	if err := trackAndList(c, d.user); err != nil {
		return actors.Stop(err)
	}
	return actors.NoReply()
}

// PresenceWindow is how long presence changes on a busy topic gather
// before they leave as one presence_diff: a join storm on donors:live
// costs one diff, and one encoded list for its joiners, per window. A
// quiet topic's first change goes out at once.
const PresenceWindow = 100 * time.Millisecond

// PresenceWindowMax and PresenceWindowPerKey grow a big topic's window as
// the chat's do (presence.WithCoalesceGrowth): 100 ms up to 2 000 donors
// online, 400 ms from 8 000, so that a storm on donors:live costs about
// as many writes a second however many watch.
const (
	PresenceWindowMax    = 400 * time.Millisecond
	PresenceWindowPerKey = 50 * time.Microsecond
)

// trackAndList tracks user on the channel's topic and pushes who is on it
// (presence_state, shared by the joiners of one presence window); without a
// tracker the channel stops.
func trackAndList(c *actors.Context, user string) error {
	meta := presence.Meta{"online_at": strconv.FormatInt(time.Now().Unix(), 10)}
	if _, err := c.TrackAndPushPresence(user, meta); err != nil {
		if errors.Is(err, actors.ErrNoPresence) {
			return err
		}
		c.Logger().Debug().Err(err).Msg("presence track or presence_state push failed")
	}
	return nil
}

// HandleIn serves the admins' events: crash_worker crashes the announcer,
// so that the next campaign_refreshed shows the supervisor restarted it.
func (d *dashboardChannel) HandleIn(c *actors.Context, event string, _ actors.Payload) actors.Result {
	if event == "crash_worker" {
		c.Actor().Send(d.svc.announcer, &crashWorker{})
		c.Logger().Info().Str("user", d.user).Msg("announcer crash requested")
		return actors.Ok(nil)
	}
	return actors.Error(unmatchedEvent)
}
