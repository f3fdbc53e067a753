package donations

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/supervisor"
)

// Donation limits.
const (
	MaxAmount   = 10_000 // the largest single donation
	maxDonorLen = 64     // characters
)

// The campaign route's restart policy: restart in place after a crash, up
// to three times in five seconds, starting 50ms after the crash.
var campaignPolicy = supervisor.Policy{
	Restart:   supervisor.Permanent,
	Intensity: 3,
	Period:    5 * time.Second,
	Backoff:   supervisor.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
}

var (
	unauthorized    = map[string]string{"reason": "unauthorized"}
	unmatchedEvent  = map[string]string{"reason": "unmatched event"}
	unknownCampaign = map[string]string{"reason": "unknown campaign"}
)

// CampaignTopic is the topic of campaign id.
func CampaignTopic(id string) string { return "campaign:" + id }

// afterJoin is what a channel sends itself from Join, to push its first
// state once the join reply is out.
type afterJoin struct{}

// campaignChannel is the "campaign:*" channel. A fresh one is made for
// every join and for every restart after a crash; it keeps nothing the
// ledger does not also have.
type campaignChannel struct {
	svc       services
	catalogue map[string]Campaign
	id        string
}

// Join admits any socket to a campaign of the catalogue.
func (ch *campaignChannel) Join(c *actors.Context, topic string, _ actors.Payload) (any, error) {
	id := strings.TrimPrefix(topic, "campaign:")
	if _, ok := ch.catalogue[id]; !ok {
		return nil, actors.Refuse(unknownCampaign)
	}
	ch.id = id
	c.Send(afterJoin{})
	return nil, nil
}

// HandleInfo finishes the join and carries the ledger's answers back to
// the client.
func (ch *campaignChannel) HandleInfo(c *actors.Context, msg any) actors.Result {
	switch m := msg.(type) {
	case afterJoin:
		// The answer comes back to this channel as a *CampaignState.
		c.Actor().Request(ch.svc.ledger, &stateRequest{id: ch.id})
	case *CampaignState:
		if err := c.Push("campaign_state", m); err != nil {
			c.Logger().Debug().Err(err).Msg("campaign_state push failed")
		}
	case *donated:
		// Answer the donor first, so their reply comes before the echo.
		if err := m.ref.Reply("ok", map[string]int64{"total": m.state.Total}); err != nil {
			c.Logger().Debug().Err(err).Msg("donation reply failed")
		}
		received := map[string]any{"donor": m.donor, "amount": m.amount, "total": m.state.Total}
		if err := c.Broadcast("donation_received", received); err != nil {
			c.Logger().Warn().Err(err).Msg("donation_received not broadcast")
		}
	}
	return actors.NoReply()
}

// HandleIn serves the donors' events.
func (ch *campaignChannel) HandleIn(c *actors.Context, event string, p actors.Payload) actors.Result {
	switch event {
	case "new_donation":
		donor, amount, errs := parseDonation(p)
		if errs != nil {
			return actors.Error(map[string]any{"errors": errs})
		}
		ref, err := c.ReplyRef()
		if err != nil {
			return actors.Error(map[string]string{"reason": err.Error()})
		}
		// The ledger answers with *donated; HandleInfo replies through ref.
		// If this channel crashes meanwhile, the answer waits in the mailbox
		// for the restarted behaviour; if it stops for good, the donation
		// stays counted but is neither confirmed nor broadcast.
		c.Actor().Request(ch.svc.ledger, &donate{id: ch.id, donor: donor, amount: amount, ref: ref})
		return actors.NoReply()
	case "crash":
		panic(fmt.Sprintf("crash requested on campaign %s", ch.id))
	}
	return actors.Error(unmatchedEvent)
}

// parseDonation checks a new_donation payload. It returns the errors by
// field, changeset style, or nil when the donation is good. A missing or
// blank donor gives anonymously.
func parseDonation(p actors.Payload) (donor string, amount int64, errs map[string][]string) {
	var in struct {
		Amount json.RawMessage `json:"amount"`
		Donor  json.RawMessage `json:"donor"`
	}
	if !p.IsObject() || p.Decode(&in) != nil {
		return "", 0, map[string][]string{"payload": {"must be an object"}}
	}
	errs = map[string][]string{}
	switch raw := string(in.Amount); {
	case raw == "" || raw == "null":
		errs["amount"] = []string{"can't be blank"}
	default:
		n, err := strconv.ParseInt(raw, 10, 64)
		switch {
		case err != nil:
			errs["amount"] = []string{"must be a whole number"}
		case n < 1:
			errs["amount"] = []string{"must be greater than 0"}
		case n > MaxAmount:
			errs["amount"] = []string{fmt.Sprintf("must be at most %d", MaxAmount)}
		default:
			amount = n
		}
	}
	if len(in.Donor) > 0 && string(in.Donor) != "null" {
		if err := json.Unmarshal(in.Donor, &donor); err != nil {
			errs["donor"] = []string{"must be a string"}
		} else if donor = strings.TrimSpace(donor); utf8.RuneCountInString(donor) > maxDonorLen {
			errs["donor"] = []string{fmt.Sprintf("should be at most %d characters", maxDonorLen)}
		}
	}
	if len(errs) > 0 {
		return "", 0, errs
	}
	if donor == "" {
		donor = "anonymous"
	}
	return donor, amount, nil
}
