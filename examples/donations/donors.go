package donations

import "github.com/pyrehq/pyre/actors"

// DonorsTopic is every logged-in visitor's live view of the drive: who is
// online, and the snapshot of every campaign with the worker's restarts.
// The page at / joins it.
const DonorsTopic = "donors:live"

// donorsChannel is the "donors:live" channel, open to every socket.
type donorsChannel struct {
	svc  services
	user string
}

// Join admits any socket; the socket's user becomes its presence key.
func (d *donorsChannel) Join(c *actors.Context, _ string, _ actors.Payload) (any, error) {
	d.user, _ = c.Get("user").(string)
	c.Send(afterJoin{})
	return nil, nil
}

// HandleInfo finishes the join: track the donor, send who is online, and
// ask the ledger for the snapshot, which comes back as a *Snapshot and is
// pushed as campaign_refreshed, so the page has every total and the
// restart count before the next tick.
func (d *donorsChannel) HandleInfo(c *actors.Context, msg any) actors.Result {
	switch m := msg.(type) {
	case afterJoin:
		if err := trackAndList(c, d.user); err != nil {
			return actors.Stop(err)
		}
		c.Actor().Request(d.svc.ledger, &snapshotRequest{})
	case *Snapshot:
		if err := c.Push("campaign_refreshed", m); err != nil {
			c.Logger().Debug().Err(err).Msg("campaign_refreshed push failed")
		}
	}
	return actors.NoReply()
}
