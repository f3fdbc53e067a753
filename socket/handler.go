package socket

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/actors"
	"github.com/pyrehq/pyre/internal/channel"
	"github.com/pyrehq/pyre/internal/engine"
	"github.com/pyrehq/pyre/internal/longpoll"
	"github.com/pyrehq/pyre/internal/transport"
	"github.com/pyrehq/pyre/supervisor"
	"github.com/pyrehq/pyre/topics"
)

// Errors.
var (
	ErrClosed = errors.New("socket: handler is shut down")
	// ErrRefused wraps the error of a Connect callback that refused a
	// socket.
	ErrRefused = transport.ErrRefused
	// ErrTooManyConns refuses a socket over WithMaxConnsPerAddr.
	ErrTooManyConns = transport.ErrTooManyConns
	// ErrTooManySockets refuses a socket over WithMaxSocketsPerID.
	ErrTooManySockets = transport.ErrTooManySockets
)

// Handler serves Phoenix sockets at PATH/websocket and PATH/longpoll, where
// PATH is wherever it is mounted (mount it with a trailing-slash pattern,
// e.g. "/socket/").
type Handler struct {
	router     *actors.Router
	opt        options
	rt         *channel.Runtime
	system     *actor.ActorSystem
	ownsSys    bool               // system was made by New, and Shutdown stops it
	prefix     string             // of the PID ids of this handler's sockets, unique in system
	supervisor *engine.Supervisor // decides what a channel's crash does
	props      *actor.Props       // of every Socket actor (see socketShell)
	upgrader   websocket.Upgrader
	longPoll   *longpoll.Transport // nil with WithoutLongPoll
	admission  *admission          // new connections' token bucket (WithAdmission)

	// Counters (see stats.go), read by the Collector. routes holds one
	// entry per pattern of the router, made by New and never changed.
	stats    handlerStats
	metrics  *metrics
	patterns []string
	routes   map[string]*channel.RouteStats

	// chanRoutes holds what the channels of each reachable pattern share
	// (factory, resolved restart policy, counters, protoactor props);
	// made by New and never changed.
	chanRoutes map[string]*engine.Route

	draining atomic.Bool
	channels atomic.Int64   // joined channels in the sockets' tables; changed by Socket actors
	stopOnce sync.Once      // ends Shutdown's work once
	wg       sync.WaitGroup // reader and writer goroutines
	flushes  flushPool      // writes for idle connections' writers

	mu      sync.Mutex
	sockets map[string]*socketActor // live sockets by their actor's PID id; guarded by mu
	perAddr map[string]int          // live sockets per remote IP (with WithMaxConnsPerAddr); guarded by mu
	perID   map[string]int          // live sockets per socket id, anonymous ones not (with WithMaxSocketsPerID); guarded by mu
	idle    chan struct{}           // closed when sockets becomes empty while draining; guarded by mu
}

// New returns a handler serving the channels of router.
func New(router *actors.Router, opts ...Option) (*Handler, error) {
	if router == nil {
		return nil, errors.New("socket: nil router")
	}
	o := defaults()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.pubsub == nil {
		o.pubsub = topics.New()
	}
	if router.Recoverable() {
		o.pubsub.Retain(router.History)
	}
	log := o.log.With().Str("node", o.node).Logger()
	crashes := channel.NewCrashLog(channel.DefaultCrashLogSize)
	system, owns := o.system, false
	if system == nil {
		system, owns = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(zerolog.NewSlogHandler(log.Level(zerolog.WarnLevel)))
		})), true
		engine.CompactRegistry(system)
	}
	h := &Handler{
		router:  router,
		opt:     o,
		system:  system,
		ownsSys: owns,
		// NextID is unique in the system; the dash keeps "socket$1-" from
		// being a prefix of another handler's "socket$12-".
		prefix: "socket" + system.ProcessRegistry.NextID() + "-",
		rt: &channel.Runtime{
			System: system, PubSub: o.pubsub, Presence: o.presence, Logger: log, Node: o.node,
			Crashes: crashes,
		},
		supervisor: engine.NewSupervisor(log, o.node, crashes),
		sockets:    map[string]*socketActor{},
		perAddr:    map[string]int{},
		perID:      map[string]int{},
		admission:  newAdmission(o.admitRate, o.admitBurst),
	}
	h.opt.log = log
	h.metrics = newMetrics()
	h.patterns = router.Patterns()
	h.routes = routeStats(h.patterns, h.metrics)
	h.chanRoutes = chanRoutes(router, h.patterns, h.routes, o.restart)
	h.flushes.wg, h.flushes.delay, h.flushes.max = &h.wg, o.writeDelay, runtime.GOMAXPROCS(0)
	h.props = actor.PropsFromProducer(func() actor.Actor { return &socketShell{h: h} },
		actor.WithMailbox(engine.Mailbox()))
	if !o.noLongPoll {
		h.longPoll = longpoll.New(endpoint{h}, o.longPoll)
	}
	h.upgrader = websocket.Upgrader{
		// The read buffer comes from the hijacker. Data frames bypass
		// gorilla's writer (see batchConn); its pooled write buffer only
		// serves control frames.
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{phoenixProtocol},
		CheckOrigin:     o.origin.check,
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			http.Error(w, reason.Error(), status)
		},
	}
	return h, nil
}

// PubSub returns the handler's PubSub.
func (h *Handler) PubSub() *topics.PubSub { return h.opt.pubsub }

// Broadcast sends event to every subscriber of topic, from anywhere.
func (h *Handler) Broadcast(topic, event string, payload any) error {
	return h.opt.pubsub.Broadcast(topic, event, payload)
}

// ServeHTTP serves PATH/websocket (see websocket.go) and PATH/longpoll
// (internal/longpoll, unless WithoutLongPoll).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, "/websocket"):
		h.serveWebSocketHTTP(w, r)
	case strings.HasSuffix(r.URL.Path, "/longpoll") && h.longPoll != nil:
		h.longPoll.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Shutdown drains the handler: new connections are refused at once, live
// sockets are closed with code 1012 in batches spread over the drain window
// (WithDrain), so that clients reconnect elsewhere without a thundering
// herd, every channel's Terminate runs with ErrShutdown, and Shutdown
// returns when all of it is done or ctx ends. The window is shortened to
// fit ctx's deadline. Last it stops the actor system New made; one given
// with WithActorSystem is left running. It may be called more than once.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining.Store(true)
	pids := make([]*actor.PID, 0, len(h.sockets))
	for _, s := range h.sockets {
		if s.spawned {
			pids = append(pids, s.self)
		} else if s.early == earlyNone {
			s.early = earlyShutdown // sent by spawned, when the actor exists
		}
	}
	if h.idle == nil {
		h.idle = make(chan struct{})
		if len(h.sockets) == 0 {
			close(h.idle)
		}
	}
	idle := h.idle
	h.mu.Unlock()

	if err := h.drain(ctx, pids); err != nil {
		return err
	}
	select {
	case <-idle:
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.stopOnce.Do(func() {
		if h.ownsSys {
			h.system.Shutdown()
		}
		h.opt.log.Info().Msg("socket handler stopped")
	})
	return nil
}

// drain closes pids in batches spread evenly over the drain window.
func (h *Handler) drain(ctx context.Context, pids []*actor.PID) error {
	total := len(pids)
	if total == 0 {
		return nil
	}
	window := h.opt.drainWindow
	if dl, ok := ctx.Deadline(); ok {
		// Leave a quarter of the time for the channels to terminate.
		window = min(window, time.Until(dl)*3/4)
	}
	batches := min(h.opt.drainBatches, total)
	interval := window / time.Duration(batches)
	h.opt.log.Info().Int("sockets", total).Int("batches", batches).Dur("window", window).Msg("draining sockets")
	msg := shutdownSocket
	ticker := time.NewTicker(max(interval, time.Millisecond))
	defer ticker.Stop()
	closed := 0
	for i := range batches {
		end := total * (i + 1) / batches
		for _, pid := range pids[closed:end] {
			h.system.Root.Send(pid, msg)
		}
		closed = end
		h.opt.log.Info().Int("batch", i+1).Int("closed", closed).Int("total", total).Msg("drain batch sent")
		if i == batches-1 {
			break
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			// Out of time: close the rest at once.
			for _, pid := range pids[closed:] {
				h.system.Root.Send(pid, msg)
			}
			return ctx.Err()
		}
	}
	return nil
}

// Channels returns the number of joined channels of this handler's
// sockets (those whose join succeeded and that have not stopped).
func (h *Handler) Channels() int { return int(h.channels.Load()) }

// Len returns the number of live sockets.
func (h *Handler) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sockets)
}

// register records a new socket; it fails once a shutdown has begun (the
// flag is checked under mu, so Shutdown sees every registered socket) or
// when the socket's address or id has its maximum of sockets. Both caps
// are checked before either count moves, so a refused socket holds no
// place; unregister gives back the places of a registered one.
func (h *Handler) register(s *socketActor) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining.Load() {
		return ErrClosed
	}
	byAddr, byID := h.opt.maxPerAddr > 0, h.opt.maxPerID > 0 && s.id != ""
	addr := hostOf(s.peer)
	switch {
	case byAddr && h.perAddr[addr] >= h.opt.maxPerAddr:
		return ErrTooManyConns
	case byID && h.perID[s.id] >= h.opt.maxPerID:
		return ErrTooManySockets
	}
	if byAddr {
		h.perAddr[addr]++
	}
	if byID {
		h.perID[s.id]++
	}
	h.sockets[s.self.Id] = s // the socket is its own record (spawned, early)
	return nil
}

// capRefused counts a socket that cap c refused and logs it on e, a
// warn-level event of the connection's logger.
func (h *Handler) capRefused(c limitCap, e *zerolog.Event) {
	h.stats.capped[c].Add(1)
	switch c {
	case capPerAddr:
		e.Str("cap", "max_conns_per_addr").Int("limit", h.opt.maxPerAddr).Msg("too many connections from one address")
	case capPerID:
		e.Str("cap", "max_sockets_per_id").Int("limit", h.opt.maxPerID).Msg("too many sockets with one socket id")
	}
}

var shutdownSocket = &closeSocket{reason: actors.ErrShutdown, code: CloseServiceRestart, text: "server shutting down", why: closedShutdown}

// earlyClose names a close that waits in the registry for its socket's
// actor (socketActor.early). Only two closes can come that early, so a
// socket keeps which one in a byte beside its flags, not a pointer.
type earlyClose uint8

const (
	earlyNone       earlyClose = iota
	earlyDisconnect            // a "disconnect" on the socket id: disconnectSocket
	earlyShutdown              // a drain: shutdownSocket
)

// message is the close e names; nil for earlyNone.
func (e earlyClose) message() *closeSocket {
	switch e {
	case earlyDisconnect:
		return disconnectSocket
	case earlyShutdown:
		return shutdownSocket
	}
	return nil
}

// spawned records that the socket's actor exists, and sends it the close
// that came before, if any.
func (h *Handler) spawned(pid *actor.PID) {
	h.mu.Lock()
	s := h.sockets[pid.Id]
	var early *closeSocket
	if s != nil {
		s.spawned, early = true, s.early.message()
	}
	h.mu.Unlock()
	if early != nil {
		h.system.Root.Send(pid, early)
	}
}

// closeSocket closes the socket with pid with the close e names: at once
// if its actor exists, or once it does. The first close wins; a socket no
// longer registered is gone already.
func (h *Handler) closeSocket(pid *actor.PID, e earlyClose) {
	h.mu.Lock()
	s := h.sockets[pid.Id]
	send := s != nil && s.spawned
	if s != nil && !s.spawned && s.early == earlyNone {
		s.early = e
	}
	h.mu.Unlock()
	if send {
		h.system.Root.Send(pid, e.message())
	}
}

// addrFull reports whether ip already has its maximum of sockets.
func (h *Handler) addrFull(ip string) bool {
	if h.opt.maxPerAddr == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perAddr[ip] >= h.opt.maxPerAddr
}

// uncount takes one from counts[key], forgetting the key at zero.
func uncount(counts map[string]int, key string) {
	if counts[key]--; counts[key] <= 0 {
		delete(counts, key)
	}
}

// hostOf returns the IP of a host:port address.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// chanRoutes makes the shared part of every route's channels, once. A
// pattern is reachable only if it matches itself first: Match on a
// pattern returns another route only when that route matches every topic
// of the pattern, so a pattern that is shadowed so gets nothing.
func chanRoutes(router *actors.Router, patterns []string, stats map[string]*channel.RouteStats,
	def supervisor.Policy) map[string]*engine.Route {
	out := make(map[string]*engine.Route, len(patterns))
	for _, p := range patterns {
		rt, ok := router.Match(p)
		if !ok || rt.Pattern != p || out[p] != nil {
			continue
		}
		out[p] = engine.NewRoute(rt.Factory, rt.PolicyOr(def), stats[p])
	}
	return out
}

// socketShell is what protoactor runs for a Socket actor. protoactor keeps
// the props of every actor for its lifetime, so rather than props per
// socket (a few hundred bytes on every connection), all sockets share one
// whose producer makes this shell; on its first message the shell finds
// its socket in the handler's registry, where open put it before spawning.
// A restarted shell finds the same socket again.
type socketShell struct {
	h *Handler
	s *socketActor
}

func (sh *socketShell) Receive(ctx actor.Context) {
	if sh.s == nil {
		sh.h.mu.Lock()
		sh.s = sh.h.sockets[ctx.Self().Id]
		sh.h.mu.Unlock()
		if sh.s == nil {
			ctx.Stop(ctx.Self()) // cannot happen: open registers before it spawns
			return
		}
	}
	sh.s.Receive(ctx)
}

// unregister forgets a socket and gives back its places under the caps.
// Only a registered socket is counted, and it is deleted here, so its
// places come back once however often this runs.
func (h *Handler) unregister(pid *actor.PID) {
	h.mu.Lock()
	if s := h.sockets[pid.Id]; s != nil {
		if h.opt.maxPerAddr > 0 {
			uncount(h.perAddr, hostOf(s.peer))
		}
		if h.opt.maxPerID > 0 && s.id != "" {
			uncount(h.perID, s.id)
		}
	}
	delete(h.sockets, pid.Id)
	if h.idle != nil && len(h.sockets) == 0 {
		select {
		case <-h.idle:
		default:
			close(h.idle)
		}
	}
	h.mu.Unlock()
}

// ActorCount returns the number of live actors of this handler: its
// sockets, their channels and the channels' children; for diagnostics and
// leak checks. In an actor system shared through WithActorSystem, the
// app's own actors and other handlers' are not counted. It visits every
// actor of the system, so it is no call for a hot path.
func (h *Handler) ActorCount() int {
	n := 0
	for _, m := range h.system.ProcessRegistry.LocalPIDs.LocalPIDs {
		m.IterCb(func(id string, _ any) {
			if strings.HasPrefix(id, h.prefix) {
				n++
			}
		})
	}
	return n
}
