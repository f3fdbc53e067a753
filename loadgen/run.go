package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// errLimit is the cause of a run's context once its wall-clock limit has
// passed.
var errLimit = errors.New("loadgen: wall-clock limit reached")

// Values of Header.Stopped.
const (
	StoppedLimit       = "limit"       // the wall-clock limit passed
	StoppedInterrupted = "interrupted" // the caller's context ended
)

// UpgradeError is a WebSocket upgrade the server refused with an HTTP
// status, such as 503 from admission control.
type UpgradeError struct{ Status int }

func (e *UpgradeError) Error() string {
	return fmt.Sprintf("loadgen: upgrade refused: HTTP %d", e.Status)
}

// run is the engine every mode drives: the checked target, the dialers,
// the login tokens, the live connections and the goroutines that keep them
// (readers, heartbeats, the limit).
type run struct {
	o      options
	mode   string
	raw    string // the target as given
	tgt    target
	ctx    context.Context // ends at the limit, when the caller's ends, or at stop
	cancel context.CancelFunc
	origin time.Time // timestamps in payloads count from here

	// servers are the target and any more of WithMoreTargets, in that
	// order; connection i goes to servers[serverOf(i)], the target when
	// serverOf is nil. Both are set before the first dial, read-only after.
	servers  []server
	serverOf func(i int) int
	tokens   []string // set before the first dial, read-only after
	// pushOf, when set, gives connection i its handler of pushes other
	// than replies and bench events. Set before the first dial.
	pushOf func(i int) pushFunc

	// joinPayload, when set, gives connection i's phx_join payload, and
	// joined gets its ok reply's response; both set before the first
	// dial, read-only after.
	joinPayload func(i int) []byte
	joined      func(i int, response []byte)

	mu      sync.Mutex // guards live and closing
	live    map[*conn]struct{}
	closing bool

	wg sync.WaitGroup // readers, the heartbeat and the limit watcher
}

// server is one server of a run: its socket's URL and the dialers that
// reach it, one per source address.
type server struct {
	raw     string // as given
	wsURL   string // with path and vsn, without the token
	dialers []*websocket.Dialer
}

// newRun checks the options and the target, starts the watcher and the
// heartbeat, and logs in as up to users users. The caller must stop it.
func newRun(parent context.Context, mode, rawTarget, topic string, users, readBuf int, opts []Option) (*run, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	tgt, err := parseTarget(rawTarget)
	if err != nil {
		return nil, err
	}
	for _, pid := range o.pids {
		if _, ok := readProc(pid); !ok {
			return nil, fmt.Errorf("loadgen: cannot read /proc/%d (no such process, or not Linux)", pid)
		}
	}
	if o.topic == "" {
		o.topic = topic
	}
	ctx, cancel := context.WithTimeoutCause(parent, o.limit, errLimit)
	r := &run{o: o, mode: mode, raw: rawTarget, tgt: tgt, ctx: ctx, cancel: cancel, origin: time.Now(),
		live: map[*conn]struct{}{}}
	for _, raw := range append([]string{rawTarget}, o.more...) {
		srv, err := r.server(raw, readBuf)
		if err != nil {
			cancel()
			return nil, err
		}
		r.servers = append(r.servers, srv)
	}

	r.wg.Add(2)
	go r.watch()
	go r.heartbeats()
	n := o.users
	if n == 0 {
		n = max(DefaultUsers, (users+SocketsPerUser-1)/SocketsPerUser)
	}
	if err := r.login(min(n, users)); err != nil {
		r.stop()
		return nil, err
	}
	return r, nil
}

// server checks a target and makes its dialers.
func (r *run) server(raw string, readBuf int) (server, error) {
	tgt, err := parseTarget(raw)
	if err != nil {
		return server{}, err
	}
	if r.o.srcIPs > 0 && !tgt.ip.Is4() {
		return server{}, fmt.Errorf("loadgen: source addresses 127.0.0.x cannot reach %s; use an IPv4 target", tgt.ip)
	}
	u := *tgt.ws
	u.Path = r.o.path
	u.RawQuery = "vsn=" + vsn
	srv := server{raw: raw, wsURL: u.String()}
	tlsConf := &tls.Config{ServerName: tgt.serverName}
	for i := range max(r.o.srcIPs, 1) {
		nd := &net.Dialer{Timeout: r.o.replyTimeout, LocalAddr: sourceAddr(i, r.o.srcIPs)}
		srv.dialers = append(srv.dialers, &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: r.o.replyTimeout,
			ReadBufferSize:   readBuf,
			WriteBufferSize:  2048,
			TLSClientConfig:  tlsConf,
		})
	}
	return srv, nil
}

// watch closes every connection once the run's context ends, so that no
// read or write outlives the limit.
func (r *run) watch() {
	defer r.wg.Done()
	<-r.ctx.Done()
	r.mu.Lock()
	live := r.live
	r.live, r.closing = nil, true
	r.mu.Unlock()
	for c := range live {
		c.close(false)
	}
}

// heartbeats sends every live connection a heartbeat each interval.
func (r *run) heartbeats() {
	defer r.wg.Done()
	t := time.NewTicker(r.o.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		conns := make([]*conn, 0, len(r.live))
		for c := range r.live {
			conns = append(conns, c)
		}
		r.mu.Unlock()
		for _, c := range conns {
			if r.ctx.Err() != nil {
				return
			}
			if c.stalled.Load() {
				// A stalled reader would not see the reply, and a write to
				// a socket the server has closed draws a reset, which
				// throws away the close frame waiting to be read.
				continue
			}
			_ = c.heartbeat() // a dead socket is its reader's business
		}
		r.o.log.Debug().Int("conns", len(conns)).Msg("heartbeats sent")
	}
}

// stop ends the run: every connection is closed, and every goroutine of
// the run has exited when it returns.
func (r *run) stop() {
	r.cancel()
	r.wg.Wait()
}

// stopped says why the run ended early, or "" if it did not.
func (r *run) stopped() string {
	if r.ctx.Err() == nil {
		return ""
	}
	if errors.Is(context.Cause(r.ctx), errLimit) {
		return StoppedLimit
	}
	return StoppedInterrupted
}

// login fetches one token per user from POST /api/login, unless a token
// was given or login is off.
func (r *run) login(users int) error {
	switch {
	case r.o.noLogin:
		return nil
	case r.o.token != "":
		r.tokens = []string{r.o.token}
		return nil
	}
	tr := &http.Transport{
		DialContext:     (&net.Dialer{Timeout: r.o.replyTimeout}).DialContext,
		TLSClientConfig: &tls.Config{ServerName: r.tgt.serverName},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: r.o.replyTimeout}
	loginURL := r.tgt.http.JoinPath("/api/login").String()
	r.tokens = make([]string, users)
	for i := range r.tokens {
		user := "bench-" + strconv.Itoa(i)
		body, _ := json.Marshal(map[string]string{"user": user})
		req, err := http.NewRequestWithContext(r.ctx, http.MethodPost, loginURL, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("loadgen: login: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("loadgen: login as %s: %w", user, err)
		}
		var out struct {
			Token string `json:"token"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || out.Token == "" {
			return fmt.Errorf("loadgen: login as %s: HTTP %d without a token (for a server without POST /api/login, give a token or turn login off)", user, resp.StatusCode)
		}
		r.tokens[i] = out.Token
	}
	r.o.log.Debug().Int("users", users).Msg("logged in")
	return nil
}

// dial opens connection number i and starts its reader.
func (r *run) dial(i int, onBench benchFunc, onExit func()) (*conn, error) {
	srv := r.servers[0]
	if r.serverOf != nil {
		srv = r.servers[r.serverOf(i)]
	}
	u := srv.wsURL
	if len(r.tokens) > 0 {
		u += "&token=" + url.QueryEscape(r.tokens[i%len(r.tokens)])
	}
	ws, resp, err := srv.dialers[i%len(srv.dialers)].DialContext(r.ctx, u, nil)
	if err != nil {
		if resp != nil {
			return nil, &UpgradeError{Status: resp.StatusCode}
		}
		return nil, err
	}
	c := newConn(ws, r.origin, onBench, r.o.replyTimeout)
	c.onExit = onExit
	if r.pushOf != nil {
		c.onPush = r.pushOf(i)
	}
	r.mu.Lock()
	closing := r.closing
	if !closing {
		r.live[c] = struct{}{}
	}
	r.mu.Unlock()
	if closing {
		_ = ws.Close()
		return nil, context.Cause(r.ctx)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		c.readLoop()
		r.mu.Lock()
		delete(r.live, c)
		r.mu.Unlock()
	}()
	return c, nil
}

// hooks gives connection i its bench handler and exit hook.
type hooks func(i int) (benchFunc, func())

// dialJoin opens n connections, connection i joining topicOf(i), with the
// configured number being opened at once, and stops early when the run's
// context ends. Slots of connections that failed are nil. lat, if not nil,
// gets each connect+join time.
func (r *run) dialJoin(n int, topicOf func(int) string, h hooks, lat *latencies) ([]*conn, *tally) {
	conns := make([]*conn, n)
	fails := &tally{}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(r.o.conc, n) {
		wg.Go(func() {
			for i := range jobs {
				t0 := time.Now()
				var onBench benchFunc
				var onExit func()
				if h != nil {
					onBench, onExit = h(i)
				}
				c, err := r.dial(i, onBench, onExit)
				if err == nil {
					var payload, resp []byte
					if r.joinPayload != nil {
						payload = r.joinPayload(i)
					}
					if resp, err = c.joinWith(r.ctx, r.o.replyTimeout, topicOf(i), payload); err != nil {
						c.close(false)
					} else if r.joined != nil {
						r.joined(i, resp)
					}
				}
				if err != nil {
					fails.add(err)
					continue
				}
				conns[i] = c // each slot has one writer; read after wg.Wait
				if lat != nil {
					lat.add(i, int64(time.Since(t0)))
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-r.ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return conns, fails
}

// quiesce waits until no connection has read anything for quiet, or for
// at most longest: setup traffic such as presence must not spill into a
// measured window.
func (r *run) quiesce(quiet, longest time.Duration) {
	t := time.NewTicker(quiet / 10)
	defer t.Stop()
	end := time.Now().Add(longest)
	last, since := r.received(), time.Now()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			if n := r.received(); n != last {
				last, since = n, now
			} else if now.Sub(since) >= quiet {
				return
			}
			if now.After(end) {
				return
			}
		}
	}
}

// received sums what the live connections have read; it changes whenever
// one of them reads something (or closes).
func (r *run) received() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for c := range r.live {
		n += c.rx.Load()
	}
	return n
}

// header starts a report for the window that began at m.
func (r *run) header(m usageMark) Header {
	h := Header{Tool: "pyre bench", Mode: r.mode, Label: r.o.label, Proto: "phx", Target: r.raw, SrcIPs: r.o.srcIPs}
	m.fill(&h)
	h.Stopped = r.stopped()
	return h
}

// closeAll closes conns gracefully and waits for their readers.
func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.close(true)
		}
	}
	for _, c := range conns {
		if c != nil {
			<-c.done
		}
	}
}

// tally counts errors, keeping apart the first few distinct messages.
type tally struct {
	mu    sync.Mutex // guards n and byMsg
	n     int
	byMsg map[string]int
}

const tallyKinds = 5

func (t *tally) add(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if t.byMsg == nil {
		t.byMsg = map[string]int{}
	}
	msg := err.Error()
	if _, seen := t.byMsg[msg]; !seen && len(t.byMsg) >= tallyKinds {
		msg = "(other)"
	}
	t.byMsg[msg]++
}

func (t *tally) result() (int, map[string]int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n, t.byMsg
}
