package socket

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/topics"
)

// metrics are the histograms a handler feeds as it runs; every other
// metric is read from plain counters when the collector is scraped.
type metrics struct {
	handling *prometheus.HistogramVec // route, outcome
	queue    *prometheus.HistogramVec // transport
	queueWS  prometheus.Observer      // queue's websocket series, resolved once
}

func newMetrics() *metrics {
	m := &metrics{
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pyre_channel_event_handling_seconds",
			Help:    "Time a channel took to handle a client event (HandleIn and its reply), by route pattern and outcome.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10), // 10µs to 2.6s
		}, []string{"route", "outcome"}),
		queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pyre_writer_queue_bytes",
			Help:    "Bytes a connection's queue held when its frames were taken to be sent, observed once per flush (WebSocket) or poll (long-poll).",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10), // 64 B to 16 MiB
		}, []string{"transport"}),
	}
	m.queueWS = m.queue.WithLabelValues(kindNames[kindWebSocket])
	return m
}

// Collector returns a prometheus.Collector of the handler's metrics:
// sockets, channels by route pattern, the PubSub's broadcasts, the
// presence tracker given with WithPresence, the NATS adapter attached to
// the PubSub (topics.NewNATS, cluster.Start) and long-poll sessions.
// Register it on a registry of your own:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(h.Collector())
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Counting costs the handler an atomic add where something happens and
// nothing else; the collector reads the counters when it is scraped. Label
// values come from fixed sets (transports, close reasons, refusal causes, outcomes) and
// the router's patterns, never from topics, users or events, so the
// number of series does not grow with traffic. The metric names carry no
// handler name: give each handler of a process its own registry, or wrap
// the registerer (prometheus.WrapRegistererWith) with a label of yours.
func (h *Handler) Collector() prometheus.Collector { return &collector{h: h} }

type collector struct{ h *Handler }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics read at scrape time.
var (
	descConnections = desc("pyre_connections", "Sockets open now, by transport.", "transport")
	descConnects    = desc("pyre_connects_total", "Sockets opened, by transport.", "transport")
	descDisconnects = desc("pyre_disconnects_total", "Sockets closed, by transport and reason.", "transport", "reason")
	descRefused     = desc("pyre_connects_refused_total", "New connections refused before they opened, WebSocket and long-poll together, by cause: admission (admission control, HTTP 503), per_address (too many sockets from one IP, HTTP 429), per_id (too many sockets with one socket id, HTTP 429), longpoll_sessions (the node's long-poll session limit), longpoll_per_id (too many long-poll sessions with one socket id).", "cause")
	descJoined      = desc("pyre_channels_joined", "Channels joined now, by route pattern.", "route")
	descJoins       = desc("pyre_channel_joins_total", "Joins by route pattern and outcome (unmatched: no route).", "route", "outcome")
	descReplies     = desc("pyre_channel_replies_total", "Replies channels sent to client events, by route pattern and status.", "route", "status")
	descCrashes     = desc("pyre_channel_crashes_total", "Channel crashes by route pattern and what the supervisor decided.", "route", "decision")
	descBroadcasts  = desc("pyre_broadcasts_total", "Broadcasts fanned out to this node's subscribers, by origin (local: made on this node).", "origin")
	descDeliveries  = desc("pyre_broadcast_deliveries_total", "Broadcasts handed to this node's subscribers, by origin.", "origin")
	descPresences   = desc("pyre_presence_entries", "Presences in the tracker's view (this node's and its peers').")
	descPresSent    = desc("pyre_presence_replication_sent_bytes_total", "Bytes the presence tracker published to its peers.")
	descPresRecv    = desc("pyre_presence_replication_received_bytes_total", "Bytes the presence tracker received from its peers.")
	descNATSUp      = desc("pyre_nats_connected", "1 while the PubSub's NATS connection is up, else 0.")
	descNATSReconn  = desc("pyre_nats_reconnects_total", "Reconnections of the PubSub's NATS connection.")
	descNATSPub     = desc("pyre_nats_published_total", "Broadcasts published to other nodes over NATS.")
	descNATSFailed  = desc("pyre_nats_publish_errors_total", "Broadcasts that could not be published to NATS.")
	descNATSRecv    = desc("pyre_nats_received_total", "Broadcasts received from other nodes over NATS.")
	descNATSDropped = desc("pyre_nats_dropped_total", "Messages from NATS dropped: malformed, or over a full lane.")
	descLongPoll    = desc("pyre_longpoll_sessions", "Long-poll sessions held now.")

	// The histories kept in this node's memory (topics.MemoryHistory).
	descHistTopics  = desc("pyre_history_topics", "Topics whose history this node keeps in memory.")
	descHistBytes   = desc("pyre_history_bytes", "Bytes the histories kept in memory take, as the budget counts them.")
	descHistBudget  = desc("pyre_history_budget_bytes", "The budget of the histories kept in memory.")
	descHistEvicted = desc("pyre_history_evicted_total", "Broadcasts evicted from the histories, by cause (limit: the route's retention; age; budget: the node's budget; idle: the topic's history dropped after the idle TTL).", "cause")
	descHistDropped = desc("pyre_history_topics_dropped_total", "Topics whose history was dropped whole, by cause (budget, idle).", "cause")

	// The histories kept in JetStream (topics.JetStream).
	descJSPublished = desc("pyre_history_jetstream_published_total", "Broadcasts this node recorded in JetStream.")
	descJSFailed    = desc("pyre_history_jetstream_publish_errors_total", "Broadcasts whose JetStream publish failed (delivered to nobody).")
	descJSPending   = desc("pyre_history_jetstream_pending", "JetStream publishes not yet acknowledged.")
	descJSFilled    = desc("pyre_history_jetstream_filled_total", "Broadcasts this node's live delivery missed and read back from the stream, in order.")
	descJSLost      = desc("pyre_history_jetstream_lost_total", "Broadcasts this node's live delivery missed and found gone from the stream.")
	descJSIgnored   = desc("pyre_history_jetstream_ignored_total", "Messages of the history streams this node received for topics without local subscribers, dropped on arrival.")
	descJSWatched   = desc("pyre_history_jetstream_watched_topics", "Recoverable topics this node delivers live from JetStream now (those with local subscribers).")
)

var allDescs = []*prometheus.Desc{
	descConnections, descConnects, descDisconnects, descRefused, descJoined, descJoins, descReplies, descCrashes,
	descBroadcasts, descDeliveries, descPresences, descPresSent, descPresRecv,
	descNATSUp, descNATSReconn, descNATSPub, descNATSFailed, descNATSRecv, descNATSDropped, descLongPoll,
	descHistTopics, descHistBytes, descHistBudget, descHistEvicted, descHistDropped,
	descJSPublished, descJSFailed, descJSPending, descJSFilled, descJSLost, descJSIgnored, descJSWatched,
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	c.h.metrics.handling.Describe(ch)
	c.h.metrics.queue.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	st := &h.stats
	for k := range numKinds {
		name := kindNames[k]
		gauge(descConnections, float64(st.open[k].Load()), name)
		counter(descConnects, st.connects[k].Load(), name)
		for r := range numReasons {
			counter(descDisconnects, st.disconnects[k][r].Load(), name, reasonNames[r])
		}
	}
	counter(descRefused, h.RefusedConnects(), causeAdmission)
	for c := range numCaps {
		counter(descRefused, st.capped[c].Load(), capNames[c])
	}
	if h.longPoll != nil {
		full, perID := h.longPoll.Refused()
		counter(descRefused, full, "longpoll_sessions")
		counter(descRefused, perID, "longpoll_per_id")
	}
	counter(descJoins, st.unmatched.Load(), "", "unmatched")
	for _, p := range h.patterns {
		s := h.routes[p].Snapshot()
		gauge(descJoined, float64(s.Joined), p)
		for o := range channel.NumJoinOutcomes {
			counter(descJoins, s.Joins[o], p, o.String())
		}
		for r := range channel.NumReplyStatuses {
			counter(descReplies, s.Replies[r], p, r.String())
		}
		for d := range channel.NumDecisions {
			counter(descCrashes, s.Crashes[d], p, d.String())
		}
	}
	ps := h.opt.pubsub.Stats()
	for _, o := range []topics.Origin{topics.FromLocal, topics.FromRemote} {
		counter(descBroadcasts, ps.Broadcasts[o], o.String())
		counter(descDeliveries, ps.Deliveries[o], o.String())
	}
	if t := h.opt.presence; t != nil {
		s := t.Stats()
		gauge(descPresences, float64(s.Entries))
		counter(descPresSent, s.SentBytes)
		counter(descPresRecv, s.ReceivedBytes)
	}
	if n, ok := h.opt.pubsub.Remote().(interface{ Stats() topics.NATSStats }); ok {
		s := n.Stats()
		up := 0.0
		if s.Connected {
			up = 1
		}
		gauge(descNATSUp, up)
		counter(descNATSReconn, s.Reconnects)
		counter(descNATSPub, s.Published)
		counter(descNATSFailed, s.PublishFailed)
		counter(descNATSRecv, s.Received)
		counter(descNATSDropped, s.Dropped)
	}
	if h.longPoll != nil {
		gauge(descLongPoll, float64(h.longPoll.Len()))
	}
	if j, ok := h.opt.pubsub.HistoryStore().(*topics.JetStream); ok {
		s := j.Stats()
		counter(descJSPublished, s.Published)
		counter(descJSFailed, s.Failed)
		gauge(descJSPending, float64(s.Pending))
		counter(descJSFilled, s.Filled)
		counter(descJSLost, s.Lost)
		counter(descJSIgnored, s.Ignored)
		gauge(descJSWatched, float64(s.Watched))
	}
	if m, ok := h.opt.pubsub.HistoryStore().(*topics.MemoryHistory); ok {
		s := m.Stats()
		gauge(descHistTopics, float64(s.Topics))
		gauge(descHistBytes, float64(s.Bytes))
		gauge(descHistBudget, float64(s.Budget))
		for c, name := range topics.EvictCauseNames {
			counter(descHistEvicted, s.Evicted[c], name)
			if c == topics.EvictBudget || c == topics.EvictIdle {
				counter(descHistDropped, s.Dropped[c], name)
			}
		}
	}
	h.metrics.handling.Collect(ch)
	h.metrics.queue.Collect(ch)
}
