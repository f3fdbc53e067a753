package socket

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/presence"
	"github.com/pyrehq/pyre/protocol"
)

// SocketInfo is one live socket as its Socket actor describes it when
// asked (Handler.Sockets).
type SocketInfo struct {
	ID         string    // the socket id (WithID); "" for an anonymous socket
	PID        string    // its Socket actor's PID id, unique on the node
	Transport  string    // "websocket" or "longpoll"
	Serializer string    // the protocol version, "1.0.0" or "2.0.0"
	Peer       string    // the client's IP address
	Connected  time.Time // when the socket opened
	// QueuedBytes is what waits in the connection's outbound queue.
	QueuedBytes int
	// Pending counts the client messages waiting for a join to end.
	Pending int
	// Joining is the topic of the join running now, if any.
	Joining string
	// Assigns are the socket's assigns as Connect returned them. They are
	// the socket's own map, shared and read-only: redact what is secret
	// before showing them anywhere.
	Assigns  actors.Assigns
	Channels []ChannelInfo
}

// ChannelInfo is one joined channel of a socket.
type ChannelInfo struct {
	Topic   string
	Pattern string // of the route that matched the topic
	JoinRef string
	Joined  time.Time // when the join started
	// Mailbox is the number of messages waiting in the channel actor's
	// mailbox; InFlight the client pushes handed to it and not yet
	// handled.
	Mailbox  int
	InFlight int
	// Crashes counts the channel's crashes; Restarts the restarts within
	// its route policy's period.
	Crashes  int
	Restarts int
}

// SocketQuery says which sockets Handler.Sockets describes.
type SocketQuery struct {
	// Match keeps the sockets whose id, or the topic of one of whose
	// channels, contains it; "" keeps every socket.
	Match string
	// Limit is the most sockets described; 0 means DefaultSocketLimit,
	// and it is at most MaxSocketLimit.
	Limit int
}

// Bounds of SocketQuery.Limit.
const (
	DefaultSocketLimit = 100
	MaxSocketLimit     = 1000
)

// SocketPage is Handler.Sockets' answer.
type SocketPage struct {
	Sockets []SocketInfo // oldest socket first
	// Total counts the live sockets on this node, those still opening
	// (whose actor is not spawned yet, and which cannot be asked) among
	// them.
	Total int
	Asked int // sockets asked to describe themselves
	// Complete is true when every started socket was considered: false
	// when the limit was reached with sockets left, or ctx ended first.
	Complete bool
}

// inspectSocket asks a Socket actor for its SocketInfo.
type inspectSocket struct{}

// inspectWorkers bounds the Socket actors asked at the same time, and
// askTimeout the wait for one answer.
const (
	inspectWorkers = 32
	askTimeout     = time.Second
)

// Sockets asks the live sockets of this node to describe themselves,
// through their mailboxes, oldest first, until q.Limit of them match q or
// ctx ends; each one is waited for at most a second. Sockets that close
// meanwhile are left out. It fails only when ctx ends before any answer
// could be gathered.
func (h *Handler) Sockets(ctx context.Context, q SocketQuery) (SocketPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultSocketLimit
	}
	limit = min(limit, MaxSocketLimit)
	type candidate struct {
		pid   *actor.PID
		since int64
	}
	h.mu.Lock()
	total := len(h.sockets)
	cands := make([]candidate, 0, total)
	for _, s := range h.sockets {
		if s.spawned {
			// self and since are set before the socket is registered and
			// never change.
			cands = append(cands, candidate{pid: s.self, since: s.since})
		}
	}
	h.mu.Unlock()
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.since, b.since), strings.Compare(a.pid.Id, b.pid.Id))
	})

	page := SocketPage{Total: total, Complete: true}
	for start := 0; start < len(cands); {
		if len(page.Sockets) >= limit {
			page.Complete = false
			break
		}
		if ctx.Err() != nil {
			page.Complete = false
			break
		}
		end := min(start+max(2*(limit-len(page.Sockets)), inspectWorkers), len(cands))
		pids := make([]*actor.PID, 0, end-start)
		for _, c := range cands[start:end] {
			pids = append(pids, c.pid)
		}
		infos := h.ask(ctx, pids)
		page.Asked += len(pids)
		for i, info := range infos {
			if info == nil || !info.matches(q.Match) {
				continue
			}
			if len(page.Sockets) == limit {
				page.Complete = false
				end = start + i
				break
			}
			page.Sockets = append(page.Sockets, *info)
		}
		start = end
	}
	if len(page.Sockets) == 0 && page.Asked > 0 && ctx.Err() != nil {
		return page, ctx.Err()
	}
	return page, nil
}

// ask asks each of pids for its SocketInfo, inspectWorkers at a time; an
// answer missing (closed socket, timeout, ctx ended) is nil.
func (h *Handler) ask(ctx context.Context, pids []*actor.PID) []*SocketInfo {
	out := make([]*SocketInfo, len(pids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(inspectWorkers, len(pids)) {
		wg.Go(func() {
			for i := range next {
				wait := askTimeout
				if dl, ok := ctx.Deadline(); ok {
					wait = min(wait, time.Until(dl))
				}
				if wait <= 0 {
					continue
				}
				res, err := h.system.Root.RequestFuture(pids[i], &inspectSocket{}, wait).Result()
				if info, ok := res.(*SocketInfo); err == nil && ok {
					out[i] = info
				}
			}
		})
	}
	for i := range pids {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func (si *SocketInfo) matches(s string) bool {
	if s == "" || strings.Contains(si.ID, s) {
		return true
	}
	for _, c := range si.Channels {
		if strings.Contains(c.Topic, s) {
			return true
		}
	}
	return false
}

// inspect describes the socket; Socket actor only.
func (s *socketActor) inspect() *SocketInfo {
	info := &SocketInfo{
		ID: s.id, PID: s.self.Id, Serializer: s.ser.Version(), Peer: hostOf(s.peer), Connected: time.Unix(0, s.since),
		Pending: s.pendingCount(), Assigns: s.assigns,
	}
	if t, ok := s.w.(interface{ Transport() string }); ok {
		info.Transport = t.Transport()
	}
	if q, ok := s.w.(interface{ QueuedBytes() int }); ok {
		info.QueuedBytes = q.QueuedBytes()
	}
	if s.joining != nil {
		info.Joining = s.joining.topic
	}
	list := s.fp.routes().list
	info.Channels = make([]ChannelInfo, 0, len(list))
	for _, e := range list {
		info.Channels = append(info.Channels, ChannelInfo{
			Topic: e.topic, Pattern: e.stats.Pattern, JoinRef: protocol.Ref(e.joinRef).String(), Joined: time.Unix(0, e.since),
			Mailbox: e.handle.MailboxDepth(), InFlight: max(int(e.inflight.Load()), 0),
			Crashes: int(e.handle.Crashes.Load()),
			// The Supervisor keeps Restarts on this goroutine.
			Restarts: e.handle.RestartCount(),
		})
	}
	return info
}

// Crash is one channel crash of this handler's sockets, as Handler.Crashes
// reports it: when, where (node, socket id, topic, join ref, callback and
// event), the panic and its stack, what the route's restart policy decided
// ("stop", "restart", "stop: restart intensity exceeded", or "join
// refused" for a crash in Join), and the restarts within the policy's
// period, this one included.
type Crash = channel.CrashRecord

// Crashes returns the last channel crashes of this handler's sockets,
// newest first (at most the last 50), and how many there were since the
// handler started.
func (h *Handler) Crashes() ([]Crash, uint64) {
	return h.rt.Crashes.Last()
}

// Node returns the node name the handler logs with (WithNode).
func (h *Handler) Node() string { return h.opt.node }

// Presence returns the handler's presence tracker (WithPresence), or nil.
func (h *Handler) Presence() *presence.Tracker { return h.opt.presence }
