package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PresenceReport is the outcome of a big-room presence run.
type PresenceReport struct {
	Header
	Users  int            `json:"users"`
	Topic  string         `json:"topic"`
	Joined int            `json:"joined"`
	Failed int            `json:"failed"`
	Errors map[string]int `json:"errors,omitempty"`
	// JoinsPerS is join replies per second over the join phase, from the
	// first dial to the last reply, which took JoinPhaseS.
	JoinsPerS  float64 `json:"joins_per_s"`
	JoinPhaseS float64 `json:"join_phase_s"`
	// State is the time from sending phx_join to reading presence_state,
	// per client.
	State Latency `json:"presence_state"`
	// Complete counts the views equal to the truth (every user, each with
	// the one phx_ref the room gave it, nobody else) by the end of the
	// drain; CompleteAfterS is how long after the last join reply the last
	// of them became so. Wrong counts the others, and ConflictingRefs the
	// times a client read a user with a ref other than the one the room
	// gave it (in a room where nobody updates or leaves, always a fault).
	Complete        int     `json:"views_complete"`
	Wrong           int     `json:"views_wrong"`
	CompleteAfterS  float64 `json:"complete_after_last_reply_s"`
	ConflictingRefs int64   `json:"conflicting_refs"`
	// What the clients read: presence_state and presence_diff messages and
	// their payload bytes.
	States        int64 `json:"presence_states"`
	Diffs         int64 `json:"presence_diffs"`
	PresenceBytes int64 `json:"presence_bytes"`
	// The late joiner comes once every view is complete: LateStateMs is
	// its join → presence_state time, LateKeys the users in that state
	// (itself among them only if the room was quiet again), and
	// LateCompleteMs its join → a view of everyone, itself included.
	LateStateMs    float64 `json:"late_state_ms"`
	LateKeys       int     `json:"late_keys"`
	LateCompleteMs float64 `json:"late_complete_ms"`
}

// Presence joins users connections, one logged-in user each (bench-0 …),
// to one room (room:presence by default; WithTopic), as fast as the
// concurrency allows, and plays phoenix.js's Presence in every one of
// them: presence_state, then every presence_diff, diffs that come before
// the state held until it comes. It measures how long each joiner waits
// for its presence_state, how long after the last join reply every view
// is complete, and whether any view is wrong; then one more user joins the
// full room and times its presence_state. The server's CPU (WithServerPID)
// covers the join phase until every view is complete. Views that are not
// complete WithDrain (10 s by default) after the last reply count as
// wrong; so does every view not complete at once when a join failed, since
// the truth is then unknown. It needs the server's POST /api/login (one
// user per connection).
func Presence(ctx context.Context, target string, users int, opts ...Option) (*PresenceReport, error) {
	if users < 1 {
		return nil, fmt.Errorf("loadgen: presence needs at least 1 user, got %d", users)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.noLogin || o.token != "" {
		return nil, errors.New("loadgen: presence needs one login per connection: no WithToken or WithoutLogin")
	}
	r, err := newRun(ctx, "presence", target, "room:presence", users+1, 16<<10, append(slices.Clip(opts), WithUsers(users+1)))
	if err != nil {
		return nil, err
	}
	defer r.stop()
	topic := r.o.topic
	if n := len(r.servers); n > 1 {
		r.serverOf = func(i int) int { return i % n } // logins on the first
	}

	p := &presenceProbe{users: users, canon: make([]atomic.Pointer[string], users+1)}
	clients := make([]*presenceClient, users+1)
	for i := range clients {
		clients[i] = &presenceClient{p: p, topic: topic, view: make([]uint8, users+1), done: make(chan struct{})}
	}
	r.pushOf = func(i int) pushFunc { return clients[i].receive }

	mark := markUsage(r.o.pids...)
	start := time.Now()
	conns := make([]*conn, users+1)
	fails := &tally{}
	var lastReply atomic.Int64
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(r.o.conc, users) {
		wg.Go(func() {
			for i := range jobs {
				c, err := r.dial(i, nil, nil)
				if err == nil {
					clients[i].sentAt.Store(int64(time.Since(r.origin)))
					if err = c.join(r.ctx, r.o.replyTimeout, topic); err != nil {
						c.close(false)
					}
				}
				if err != nil {
					fails.add(err)
					continue
				}
				conns[i] = c
				at := int64(time.Since(r.origin))
				for {
					last := lastReply.Load()
					if at <= last || lastReply.CompareAndSwap(last, at) {
						break
					}
				}
			}
		})
	}
feed:
	for i := range users {
		select {
		case jobs <- i:
		case <-r.ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	joinPhase := time.Duration(lastReply.Load()) - start.Sub(r.origin)

	rep := &PresenceReport{Users: users, Topic: topic}
	rep.Failed, rep.Errors = fails.result()
	rep.Joined = users - rep.Failed
	if rep.Joined == 0 {
		return nil, fmt.Errorf("loadgen: no user could join %s: %d failures%s", topic, rep.Failed, errorSummary(r.ctx, rep.Errors))
	}
	rep.JoinPhaseS = round3(joinPhase.Seconds())
	rep.JoinsPerS = perSecond(float64(rep.Joined), joinPhase.Seconds())

	// Wait until every view is complete, or the drain has passed.
	if rep.Failed == 0 {
		deadline := time.Now().Add(r.o.drain)
		for _, cl := range clients[:users] {
			select {
			case <-cl.done:
			case <-time.After(time.Until(deadline)):
			case <-r.ctx.Done():
			}
		}
	}
	rep.Header = r.header(mark)

	var lastComplete int64
	var states histogram
	for i, cl := range clients[:users] {
		if conns[i] == nil {
			continue
		}
		cl.mu.Lock()
		if cl.completeAt > 0 {
			rep.Complete++
			lastComplete = max(lastComplete, cl.completeAt)
		} else {
			rep.Wrong++
		}
		if cl.stateAt > 0 {
			states.add(cl.stateAt - cl.sentAt.Load())
		}
		rep.States += cl.states
		rep.Diffs += cl.diffs
		rep.PresenceBytes += cl.bytes
		cl.mu.Unlock()
	}
	rep.State = states.summary()
	rep.ConflictingRefs = p.conflicts.Load()
	if rep.Wrong == 0 {
		rep.CompleteAfterS = round3(time.Duration(lastComplete - lastReply.Load()).Seconds())
	}

	// The late joiner, in a room that is quiet again.
	if rep.Wrong == 0 && r.ctx.Err() == nil {
		late := clients[users]
		late.wantKeys = users + 1
		c, err := r.dial(users, nil, nil)
		if err == nil {
			late.sentAt.Store(int64(time.Since(r.origin)))
			if err = c.join(r.ctx, r.o.replyTimeout, topic); err == nil {
				conns[users] = c
				select {
				case <-late.done:
				case <-time.After(r.o.drain):
				case <-r.ctx.Done():
				}
			}
		}
		late.mu.Lock()
		if late.stateAt > 0 {
			rep.LateStateMs = round3(float64(late.stateAt-late.sentAt.Load()) / 1e6)
			rep.LateKeys = late.stateKeys
		}
		if late.completeAt > 0 {
			rep.LateCompleteMs = round3(float64(late.completeAt-late.sentAt.Load()) / 1e6)
		}
		late.mu.Unlock()
	}
	closeAll(conns)
	return rep, nil
}

// String is a short human-readable summary.
func (p *PresenceReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "presence %s: %d users in %s (%d joined, %d failed)\n", p.Target, p.Users, p.Topic, p.Joined, p.Failed)
	fmt.Fprintf(&b, "  joins         %.0f replies/s over %.2fs\n", p.JoinsPerS, p.JoinPhaseS)
	b.WriteString(p.State.line("state"))
	if p.Wrong == 0 {
		fmt.Fprintf(&b, "  views         all %d complete %.2fs after the last join reply\n", p.Complete, p.CompleteAfterS)
	} else {
		fmt.Fprintf(&b, "  views         %d complete, %d WRONG or incomplete at the end of the drain\n", p.Complete, p.Wrong)
	}
	if p.ConflictingRefs > 0 {
		fmt.Fprintf(&b, "  CONFLICTING REFS: %d reads of a user with a second ref\n", p.ConflictingRefs)
	}
	fmt.Fprintf(&b, "  read          %d presence_state, %d presence_diff, %s\n", p.States, p.Diffs, kib(p.PresenceBytes>>10))
	if p.LateStateMs > 0 {
		fmt.Fprintf(&b, "  late joiner   presence_state in %s with %d users, all %d in view in %s\n",
			ms(p.LateStateMs*1000), p.LateKeys, p.Users+1, ms(p.LateCompleteMs*1000))
	}
	b.WriteString(p.cpuLine())
	b.WriteString(errorLines(p.Errors))
	b.WriteString(p.notes())
	return b.String()
}

// pushFunc receives a push that is neither a reply nor a `bench` event, on
// the connection's reader goroutine; payload is valid only during the call.
type pushFunc func(topic, event, payload []byte, at int64)

// presenceProbe is what the clients of one run share: the truth. User i's
// key is bench-i, and the first phx_ref any client reads for it is its
// ref; another ref for the same user is a conflict.
type presenceProbe struct {
	users     int
	canon     []atomic.Pointer[string] // by user
	conflicts atomic.Int64
}

// user returns i for "bench-<i>", or -1.
func (p *presenceProbe) user(key []byte) int {
	rest, ok := strings.CutPrefix(string(key), "bench-")
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(p.canon) {
		return -1
	}
	return i
}

// isCanon reports whether ref is user i's ref, making it so if the user
// has none yet.
func (p *presenceProbe) isCanon(i int, ref []byte) bool {
	for {
		if c := p.canon[i].Load(); c != nil {
			if *c == string(ref) {
				return true
			}
			p.conflicts.Add(1)
			return false
		}
		s := string(ref)
		if p.canon[i].CompareAndSwap(nil, &s) {
			return true
		}
	}
}

// presenceClient is one connection's phoenix.js Presence, reduced to what
// a check needs: per user, whether its ref (bit 0) or any other (bit 1) is
// in the view. Its reader goroutine is the only writer.
type presenceClient struct {
	p      *presenceProbe
	topic  string
	sentAt atomic.Int64 // phx_join sent, ns since the run's origin

	mu         sync.Mutex // guards the fields below (the reader, then the report)
	view       []uint8
	have, bad  int // users with exactly their ref; users with another, or unknown keys
	stateAt    int64
	stateKeys  int
	completeAt int64
	held       [][]byte // diffs read before the state
	states     int64
	diffs      int64
	bytes      int64
	wantKeys   int // 0: the run's users

	done chan struct{} // closed when the view first becomes complete
}

func (c *presenceClient) receive(topic, event, payload []byte, at int64) {
	if string(topic) != c.topic {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch string(event) {
	case "presence_state":
		c.states++
		c.bytes += int64(len(payload))
		if c.stateAt > 0 {
			c.bad++ // a second state: phoenix.js would resync, but pyre sends one
			return
		}
		c.stateAt = at
		scanState(payload, 0, func(key, ref []byte) { c.stateKeys++; c.join(key, ref) })
		for _, d := range c.held {
			scanDiff(d, c.join, c.leave)
		}
		c.held = nil
	case "presence_diff":
		c.diffs++
		c.bytes += int64(len(payload))
		if c.stateAt == 0 {
			c.held = append(c.held, append([]byte(nil), payload...))
			return
		}
		scanDiff(payload, c.join, c.leave)
	default:
		return
	}
	want := c.p.users
	if c.wantKeys > 0 {
		want = c.wantKeys
	}
	if c.completeAt == 0 && c.stateAt > 0 && c.have == want && c.bad == 0 {
		c.completeAt = at
		close(c.done)
	}
}

func (c *presenceClient) join(key, ref []byte) {
	i := c.p.user(key)
	if i < 0 {
		c.bad++
		return
	}
	bit := uint8(2)
	if c.p.isCanon(i, ref) {
		bit = 1
	}
	c.set(i, c.view[i]|bit)
}

func (c *presenceClient) leave(key, ref []byte) {
	i := c.p.user(key)
	if i < 0 {
		return
	}
	bit := uint8(2)
	if c.p.isCanon(i, ref) {
		bit = 1
	}
	c.set(i, c.view[i]&^bit)
}

func (c *presenceClient) set(i int, v uint8) {
	old := c.view[i]
	c.view[i] = v
	if old == 1 {
		c.have--
	}
	if v == 1 {
		c.have++
	}
	if old&2 != 0 {
		c.bad--
	}
	if v&2 != 0 {
		c.bad++
	}
}
