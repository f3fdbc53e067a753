package donations

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

// Names in the supervision tree. A supervisor names each child
// "<supervisor>/<child>" and a restarted child keeps that PID, so the PIDs
// are known before the tree starts and never go stale.
const (
	treeName      = "donations"
	ledgerName    = "ledger"
	announcerName = "announcer"
	refresherName = "refresher"
)

// The tree's restart limit: more restarts than this within the period and
// it gives up.
const (
	treeIntensity  = 5
	treePeriod     = 10 * time.Second
	treeBackoff    = 50 * time.Millisecond
	treeMaxBackoff = time.Second
)

// services are the PIDs of the tree's long-lived actors. They are set once
// when the app is built and only read afterwards.
type services struct {
	ledger    *actor.PID
	announcer *actor.PID
}

func newServices(system *actor.ActorSystem) services {
	return services{
		ledger:    system.NewLocalPID(treeName + "/" + ledgerName),
		announcer: system.NewLocalPID(treeName + "/" + announcerName),
	}
}

// treeSpec describes the tree: the ledger first, since the others talk to
// it, then the announcer, then the refresher that drives it.
func treeSpec(cfg Config, ps *topics.PubSub, svc services) supervisor.Spec {
	catalogue := cfg.Campaigns
	return supervisor.Spec{
		Strategy:  supervisor.OneForOne,
		Intensity: treeIntensity,
		Period:    treePeriod,
		Backoff:   supervisor.Backoff{Initial: treeBackoff, Max: treeMaxBackoff},
		Children: []supervisor.ChildSpec{
			{Name: ledgerName, Props: actor.PropsFromProducer(func() actor.Actor { return newLedger(catalogue) })},
			{Name: announcerName, Props: actor.PropsFromProducer(func() actor.Actor {
				return &announcer{ps: ps, ledger: svc.ledger, log: cfg.Logger}
			})},
			{Name: refresherName, Props: supervisor.Ticker(cfg.Refresh, func(ctx actor.Context) {
				// The ledger answers the announcer, not the ticker.
				ctx.RequestWithCustomSender(svc.ledger, &snapshotRequest{}, svc.announcer)
			})},
		},
		Logger: cfg.Logger,
	}
}

// crashWorker makes the announcer panic, to show the supervisor at work.
type crashWorker struct{}

// announcer turns ledger snapshots into campaign_refreshed broadcasts. It
// keeps no state worth losing, so a crash costs at most the snapshots that
// arrive while it is down. Its fields are set at construction only.
type announcer struct {
	ps     *topics.PubSub
	ledger *actor.PID
	log    zerolog.Logger
}

// Receive implements actor.Actor.
func (a *announcer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		// The ledger counts incarnations; every one after the first is a
		// restart. The snapshot asked for next (the ledger answers in
		// order) already counts this one, so a restart is announced at
		// once rather than at the next tick.
		ctx.Send(a.ledger, &workerStarted{})
		ctx.Request(a.ledger, &snapshotRequest{})
	case *Snapshot:
		a.announce(m)
	case *crashWorker:
		panic("announcer: crash requested")
	}
}

// announce broadcasts the whole snapshot to the dashboard and the donors,
// and each campaign's state to its own topic.
func (a *announcer) announce(s *Snapshot) {
	for _, topic := range []string{DashboardTopic, DonorsTopic} {
		if err := a.ps.Broadcast(topic, "campaign_refreshed", s); err != nil {
			a.log.Warn().Err(err).Str("topic", topic).Msg("campaign_refreshed not sent")
		}
	}
	for _, c := range s.Campaigns {
		topic := CampaignTopic(c.ID)
		if err := a.ps.Broadcast(topic, "campaign_refreshed", c); err != nil {
			a.log.Warn().Err(err).Str("topic", topic).Msg("campaign_refreshed not sent")
		}
	}
}
