package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Membership: every node of a NATS cluster announces itself on the
// subject PREFIX.members every Config.Heartbeat (one second unless set),
// and says goodbye when it closes. A node keeps the others it hears from;
// one unheard for three heartbeats is gone. This is the cluster's list of
// nodes (Members); presence replication keeps its own view of its peers
// for its own clean-up.

// DefaultHeartbeat is the period of the membership heartbeat.
const DefaultHeartbeat = time.Second

// missedBeats is how many heartbeats a node may miss before it is gone.
const missedBeats = 3

// Member is one node of the cluster as this node knows it.
type Member struct {
	Name     string
	Self     bool      // this node
	Started  time.Time // when the node started, by its own clock
	LastSeen time.Time // when this node last heard from it (now for itself)
}

// beat is what a node publishes on the membership subject.
type beat struct {
	Node    string `json:"node"`
	Started int64  `json:"started"` // Unix milliseconds
	Bye     bool   `json:"bye,omitempty"`
}

// members is a node's membership state.
type members struct {
	self    beat
	every   time.Duration
	subject string
	nc      *nats.Conn
	sub     *nats.Subscription
	stop    chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	others map[string]*Member // guarded by mu
}

func newMembers(name string, every time.Duration) *members {
	if every <= 0 {
		every = DefaultHeartbeat
	}
	return &members{
		self:   beat{Node: name, Started: time.Now().UnixMilli()},
		every:  every,
		others: map[string]*Member{},
		stop:   make(chan struct{}),
	}
}

// start subscribes to the membership subject and starts the heartbeat.
func (m *members) start(nc *nats.Conn, prefix string) error {
	m.nc, m.subject = nc, prefix+".members"
	sub, err := nc.Subscribe(m.subject, m.receive)
	if err != nil {
		return err
	}
	m.sub = sub
	m.publish(m.self)
	m.wg.Go(func() {
		t := time.NewTicker(m.every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				m.publish(m.self)
				m.sweep(time.Now())
			case <-m.stop:
				return
			}
		}
	})
	return nil
}

func (m *members) publish(b beat) {
	data, _ := json.Marshal(b)
	_ = m.nc.Publish(m.subject, data) // lost while NATS is away; the next beat makes up for it
}

// receive handles another node's beat, on the subscription's goroutine.
func (m *members) receive(msg *nats.Msg) {
	var b beat
	if json.Unmarshal(msg.Data, &b) != nil || b.Node == "" || b.Node == m.self.Node {
		return
	}
	m.mu.Lock()
	if b.Bye {
		delete(m.others, b.Node)
		m.mu.Unlock()
		return
	}
	_, known := m.others[b.Node]
	m.others[b.Node] = &Member{Name: b.Node, Started: time.UnixMilli(b.Started), LastSeen: time.Now()}
	m.mu.Unlock()
	if !known {
		// Answer a newcomer at once, so it need not wait a period to know
		// this node.
		m.publish(m.self)
	}
}

// sweep forgets the nodes unheard for missedBeats heartbeats.
func (m *members) sweep(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, mb := range m.others {
		if now.Sub(mb.LastSeen) > missedBeats*m.every {
			delete(m.others, name)
		}
	}
}

// list returns this node first, then the others by name.
func (m *members) list() []Member {
	now := time.Now()
	out := []Member{{Name: m.self.Node, Self: true, Started: time.UnixMilli(m.self.Started), LastSeen: now}}
	m.mu.Lock()
	var others []Member
	for _, mb := range m.others {
		if now.Sub(mb.LastSeen) <= missedBeats*m.every {
			others = append(others, *mb)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(others, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return append(out, others...)
}

// close says goodbye and stops the heartbeat; it returns once the
// heartbeat goroutine has ended.
func (m *members) close() {
	select {
	case <-m.stop:
		return
	default:
	}
	close(m.stop)
	m.wg.Wait()
	if m.sub != nil {
		_ = m.sub.Unsubscribe()
		bye := m.self
		bye.Bye = true
		m.publish(bye)
		_ = m.nc.FlushTimeout(250 * time.Millisecond)
	}
}

// Members returns the nodes of the cluster this node knows: itself first,
// then the others it has heard from within the last three heartbeats, by
// name. A single node lists itself only. Safe from any goroutine.
func (n *Node) Members() []Member { return n.members.list() }
