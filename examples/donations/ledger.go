package donations

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors"
)

// CampaignState is a campaign with its running totals: the payload of
// campaign_state, and of campaign_refreshed on a campaign's own topic.
type CampaignState struct {
	Campaign
	Total int64 `json:"total"` // sum of the amounts given
	Count int   `json:"count"` // number of donations
}

// RecentDonations is how many of the latest donations the ledger keeps for
// Snapshot.Recent.
const RecentDonations = 20

// Snapshot is every campaign's state at one moment, as GET /api/campaigns
// and the campaign_refreshed of dashboard:live and donors:live show it.
type Snapshot struct {
	Campaigns []CampaignState `json:"campaigns"`
	// WorkerRestarts counts how often the supervisor has restarted the
	// announcer since the ledger started.
	WorkerRestarts int `json:"worker_restarts"`
	// Recent are the latest donations, newest first, at most
	// RecentDonations of them.
	Recent []Donation `json:"recent"`
	At     time.Time  `json:"at"`
}

// Donation is one recorded donation, as Snapshot.Recent lists it.
type Donation struct {
	Campaign string    `json:"campaign"` // the campaign's id
	Donor    string    `json:"donor"`
	Amount   int64     `json:"amount"`
	At       time.Time `json:"at"`
}

// Messages the ledger answers. Each is sent with ctx.Request (or
// RequestFuture from outside the actors) and answered to the sender.
type (
	// stateRequest asks for one campaign; answered with *CampaignState.
	stateRequest struct{ id string }
	// donate records a donation; answered with *donated. ref travels with
	// it so that the channel can answer the client's push when the answer
	// comes back.
	donate struct {
		id     string
		donor  string
		amount int64
		ref    actors.ReplyRef
	}
	donated struct {
		ref    actors.ReplyRef
		donor  string
		amount int64
		state  CampaignState
	}
	// snapshotRequest asks for a *Snapshot.
	snapshotRequest struct{}
	// workerStarted is sent by every incarnation of the announcer.
	workerStarted struct{}
)

// ledger owns the totals of every campaign. Its fields are touched only in
// Receive. A real app would load them from a database in Started and write
// each donation through; here they live as long as the ledger does, which
// the one-for-one tree makes as long as the process, whatever else crashes.
type ledger struct {
	order     []string                  // campaign ids in catalogue order
	campaigns map[string]*CampaignState // by id
	starts    int                       // announcer incarnations seen
	recent    []Donation                // the latest donations, oldest first, at most RecentDonations
}

func newLedger(catalogue []Campaign) *ledger {
	l := &ledger{campaigns: make(map[string]*CampaignState, len(catalogue))}
	for _, c := range catalogue {
		l.order = append(l.order, c.ID)
		l.campaigns[c.ID] = &CampaignState{Campaign: c}
	}
	return l
}

// Receive implements actor.Actor.
func (l *ledger) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *stateRequest:
		if st, ok := l.campaigns[m.id]; ok {
			c := *st
			ctx.Respond(&c)
		}
	case *donate:
		st, ok := l.campaigns[m.id]
		if !ok {
			return // channels only exist for catalogued campaigns
		}
		st.Total += m.amount
		st.Count++
		if len(l.recent) == RecentDonations {
			l.recent = append(l.recent[:0], l.recent[1:]...)
		}
		l.recent = append(l.recent, Donation{Campaign: m.id, Donor: m.donor, Amount: m.amount, At: time.Now().UTC()})
		ctx.Respond(&donated{ref: m.ref, donor: m.donor, amount: m.amount, state: *st})
	case *snapshotRequest:
		ctx.Respond(l.snapshot())
	case *workerStarted:
		l.starts++
	}
}

func (l *ledger) snapshot() *Snapshot {
	s := &Snapshot{Campaigns: make([]CampaignState, 0, len(l.order)), At: time.Now().UTC()}
	for _, id := range l.order {
		s.Campaigns = append(s.Campaigns, *l.campaigns[id])
	}
	s.WorkerRestarts = max(l.starts-1, 0)
	s.Recent = make([]Donation, 0, len(l.recent))
	for i := len(l.recent) - 1; i >= 0; i-- {
		s.Recent = append(s.Recent, l.recent[i])
	}
	return s
}
