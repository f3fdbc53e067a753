package admin

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pyrehq/pyre/socket"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

// Bounds of the list endpoints' limit parameter.
const (
	defaultLimit        = 100
	maxLimit            = 1000
	maxPresencePerTopic = 50
)

// NodeJSON is /admin/api/node.
type NodeJSON struct {
	Node         string    `json:"node"`
	Time         time.Time `json:"time"`
	Started      time.Time `json:"started"` // when the admin handler was made
	Sockets      int       `json:"sockets"`
	Channels     int       `json:"channels"`
	Topics       int       `json:"topics"`
	CrashesTotal uint64    `json:"crashes_total"`
	// Broadcasts fanned out on this node and the deliveries they made,
	// local and from other nodes together, since start.
	BroadcastsTotal uint64 `json:"broadcasts_total"`
	DeliveriesTotal uint64 `json:"deliveries_total"`
	Goroutines      int    `json:"goroutines"`
	HeapBytes       uint64 `json:"heap_bytes"`
}

// MemberJSON is one node of /admin/api/nodes.
type MemberJSON struct {
	Name     string    `json:"name"`
	Self     bool      `json:"self"`
	Started  time.Time `json:"started,omitzero"`
	LastSeen time.Time `json:"last_seen"`
}

// SocketJSON is one socket of /admin/api/sockets.
type SocketJSON struct {
	ID          string         `json:"id"`
	PID         string         `json:"pid"`
	Transport   string         `json:"transport"`
	Serializer  string         `json:"vsn"`
	Peer        string         `json:"peer"`
	Connected   time.Time      `json:"connected_at"`
	UptimeSec   float64        `json:"uptime_s"`
	QueuedBytes int            `json:"queued_bytes"`
	Pending     int            `json:"pending"`
	Joining     string         `json:"joining,omitempty"`
	Assigns     map[string]any `json:"assigns"`
	Channels    []ChannelJSON  `json:"channels"`
}

// ChannelJSON is one channel of a socket.
type ChannelJSON struct {
	Topic     string    `json:"topic"`
	Pattern   string    `json:"pattern"`
	JoinRef   string    `json:"join_ref"`
	Joined    time.Time `json:"joined_at"`
	UptimeSec float64   `json:"uptime_s"`
	Mailbox   int       `json:"mailbox"`
	InFlight  int       `json:"in_flight"`
	Crashes   int       `json:"crashes"`
	Restarts  int       `json:"restarts"`
}

// SocketsJSON is /admin/api/sockets.
type SocketsJSON struct {
	Node     string       `json:"node"`
	Total    int          `json:"total"`
	Asked    int          `json:"asked"`
	Complete bool         `json:"complete"`
	Limit    int          `json:"limit"`
	Query    string       `json:"q"`
	Sockets  []SocketJSON `json:"sockets"`
}

// TopicJSON is one topic of /admin/api/topics.
type TopicJSON struct {
	Topic       string `json:"topic"`
	Subscribers int    `json:"subscribers"`
}

// TopicsJSON is /admin/api/topics.
type TopicsJSON struct {
	Node   string      `json:"node"`
	Total  int         `json:"total"`
	Topics []TopicJSON `json:"topics"`
}

// PresenceTopicJSON is one topic of /admin/api/presence.
type PresenceTopicJSON struct {
	Topic string `json:"topic"`
	Keys  int    `json:"keys"`
	Metas int    `json:"metas"`
	// Presences holds the metas of at most 50 keys, secret keys redacted.
	Presences map[string][]map[string]any `json:"presences"`
}

// PresenceJSON is /admin/api/presence.
type PresenceJSON struct {
	Node    string              `json:"node"`
	Enabled bool                `json:"enabled"`
	Total   int                 `json:"total"`
	Topics  []PresenceTopicJSON `json:"topics"`
}

// CrashJSON is one crash of /admin/api/crashes.
type CrashJSON struct {
	Time     time.Time `json:"time"`
	Node     string    `json:"node"`
	SocketID string    `json:"socket_id"`
	Topic    string    `json:"topic"`
	JoinRef  string    `json:"join_ref"`
	Callback string    `json:"callback"`
	Event    string    `json:"event"`
	Panic    string    `json:"panic"`
	Stack    string    `json:"stack"`
	Decision string    `json:"decision"`
	Restarts int       `json:"restarts"`
}

// CrashesJSON is /admin/api/crashes.
type CrashesJSON struct {
	Node    string      `json:"node"`
	Total   uint64      `json:"total"`
	Crashes []CrashJSON `json:"crashes"`
}

// SupervisorJSON is one supervisor of /admin/api/trees.
type SupervisorJSON struct {
	PID       string      `json:"pid"`
	Strategy  string      `json:"strategy"`
	Intensity int         `json:"intensity"`
	PeriodMS  int64       `json:"period_ms"`
	Restarts  int         `json:"restarts"`
	Children  []ChildJSON `json:"children"`
}

// ChildJSON is one child of a supervisor.
type ChildJSON struct {
	Name       string          `json:"name"`
	Restart    string          `json:"restart"`
	Running    bool            `json:"running"`
	PID        string          `json:"pid,omitempty"`
	Starts     uint64          `json:"starts"`
	Supervisor *SupervisorJSON `json:"supervisor,omitempty"`
}

// TreeJSON is one registered tree.
type TreeJSON struct {
	Name  string          `json:"name"`
	Error string          `json:"error,omitempty"`
	Root  *SupervisorJSON `json:"root,omitempty"`
}

// TreesJSON is /admin/api/trees.
type TreesJSON struct {
	Node  string     `json:"node"`
	Trees []TreeJSON `json:"trees"`
}

func (a *Handler) node(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_, crashes := a.h.Crashes()
	ps := a.h.PubSub().Stats()
	writeJSON(w, http.StatusOK, NodeJSON{
		Node: a.h.Node(), Time: time.Now(), Started: a.started, Sockets: a.h.Len(), Channels: a.h.Channels(),
		Topics: len(a.h.PubSub().TopicCounts()), CrashesTotal: crashes,
		BroadcastsTotal: ps.Broadcasts[topics.FromLocal] + ps.Broadcasts[topics.FromRemote],
		DeliveriesTotal: ps.Deliveries[topics.FromLocal] + ps.Deliveries[topics.FromRemote],
		Goroutines:      runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc,
	})
}

func (a *Handler) nodes(w http.ResponseWriter, _ *http.Request) {
	var out []MemberJSON
	if a.opt.cluster != nil {
		for _, m := range a.opt.cluster.Members() {
			out = append(out, MemberJSON{Name: m.Name, Self: m.Self, Started: m.Started, LastSeen: m.LastSeen})
		}
	} else {
		out = []MemberJSON{{Name: a.h.Node(), Self: true, Started: a.started, LastSeen: time.Now()}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": a.h.Node(), "nodes": out})
}

// limitOf reads the limit parameter: a positive number, at most maxLimit.
func limitOf(w http.ResponseWriter, r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return defaultLimit, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive number"})
		return 0, false
	}
	return min(n, maxLimit), true
}

func (a *Handler) sockets(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query().Get("q")
	ctx, cancel := a.gather(r)
	defer cancel()
	page, err := a.h.Sockets(ctx, socket.SocketQuery{Match: q, Limit: limit})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "sockets did not answer in time"})
		return
	}
	now := time.Now()
	out := SocketsJSON{Node: a.h.Node(), Total: page.Total, Asked: page.Asked, Complete: page.Complete,
		Limit: limit, Query: q, Sockets: make([]SocketJSON, 0, len(page.Sockets))}
	for _, s := range page.Sockets {
		sj := SocketJSON{
			ID: s.ID, PID: s.PID, Transport: s.Transport, Serializer: s.Serializer, Peer: s.Peer,
			Connected: s.Connected, UptimeSec: seconds(now.Sub(s.Connected)), QueuedBytes: s.QueuedBytes,
			Pending: s.Pending, Joining: s.Joining, Assigns: a.redactMap(s.Assigns),
			Channels: make([]ChannelJSON, 0, len(s.Channels)),
		}
		for _, c := range s.Channels {
			sj.Channels = append(sj.Channels, ChannelJSON{
				Topic: c.Topic, Pattern: c.Pattern, JoinRef: c.JoinRef, Joined: c.Joined,
				UptimeSec: seconds(now.Sub(c.Joined)), Mailbox: c.Mailbox, InFlight: c.InFlight,
				Crashes: c.Crashes, Restarts: c.Restarts,
			})
		}
		out.Sockets = append(out.Sockets, sj)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Handler) topics(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query().Get("q")
	all := a.h.PubSub().TopicCounts()
	out := TopicsJSON{Node: a.h.Node(), Total: len(all), Topics: []TopicJSON{}}
	for _, t := range all {
		if len(out.Topics) == limit {
			break
		}
		if strings.Contains(t.Topic, q) {
			out.Topics = append(out.Topics, TopicJSON{Topic: t.Topic, Subscribers: t.Subscribers})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Handler) presence(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitOf(w, r)
	if !ok {
		return
	}
	q := r.URL.Query().Get("q")
	tr := a.h.Presence()
	out := PresenceJSON{Node: a.h.Node(), Enabled: tr != nil, Topics: []PresenceTopicJSON{}}
	if tr == nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	all := tr.Topics()
	out.Total = len(all)
	for _, t := range all {
		if len(out.Topics) == limit {
			break
		}
		if !strings.Contains(t.Topic, q) {
			continue
		}
		pt := PresenceTopicJSON{Topic: t.Topic, Keys: t.Keys, Metas: t.Metas, Presences: map[string][]map[string]any{}}
		for key, e := range tr.List(t.Topic) {
			if len(pt.Presences) == maxPresencePerTopic {
				break
			}
			metas := make([]map[string]any, 0, len(e.Metas))
			for _, m := range e.Metas {
				metas = append(metas, a.redactMap(m))
			}
			pt.Presences[key] = metas
		}
		out.Topics = append(out.Topics, pt)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Handler) crashes(w http.ResponseWriter, _ *http.Request) {
	list, total := a.h.Crashes()
	out := CrashesJSON{Node: a.h.Node(), Total: total, Crashes: make([]CrashJSON, 0, len(list))}
	for _, c := range list {
		out.Crashes = append(out.Crashes, CrashJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *Handler) trees(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := a.gather(r)
	defer cancel()
	out := TreesJSON{Node: a.h.Node(), Trees: make([]TreeJSON, 0, len(a.opt.trees))}
	for _, nt := range a.opt.trees {
		tj := TreeJSON{Name: nt.name}
		if d, err := nt.tree.Describe(ctx); err != nil {
			tj.Error = err.Error()
		} else {
			tj.Root = supervisorJSON(d)
		}
		out.Trees = append(out.Trees, tj)
	}
	writeJSON(w, http.StatusOK, out)
}

func supervisorJSON(d *supervisor.Description) *SupervisorJSON {
	s := &SupervisorJSON{PID: d.PID, Strategy: d.Strategy.String(), Intensity: d.Intensity,
		PeriodMS: d.Period.Milliseconds(), Restarts: d.Restarts, Children: make([]ChildJSON, 0, len(d.Children))}
	for _, c := range d.Children {
		cj := ChildJSON{Name: c.Name, Restart: c.Restart.String(), Running: c.Running, PID: c.PID, Starts: c.Starts}
		if c.Supervisor != nil {
			cj.Supervisor = supervisorJSON(c.Supervisor)
		}
		s.Children = append(s.Children, cj)
	}
	return s
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
