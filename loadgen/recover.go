package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RecoverReport is the outcome of a recovery storm: members of
// recoverable rooms drop off, their rooms go on without them, and they all
// rejoin at once with the last position they saw ("_since").
type RecoverReport struct {
	Header
	Rooms    int `json:"rooms"`
	RoomSize int `json:"room_size"`
	// Missed is how many messages each room got while its members were
	// away; Rejoins how many members came back at once.
	Missed  int `json:"missed_per_room"`
	Rejoins int `json:"rejoins"`
	// Recovered rejoins were answered "_recovered": true; NotRecovered
	// were told to resync; Failed never got an ok reply.
	Recovered    int            `json:"recovered"`
	NotRecovered int            `json:"not_recovered"`
	Failed       int            `json:"failed"`
	Errors       map[string]int `json:"errors,omitempty"`
	// Expected is every missed message times the members that recovered;
	// Replayed what they read of them, Lost the rest.
	Expected   int64 `json:"expected"`
	Replayed   int64 `json:"replayed"`
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	Reordered  int64 `json:"reordered"`
	// AllInS runs from the storm's start until the last recovered member
	// had read every message it missed; Rejoin is each member's time from
	// the storm's start to that point.
	AllInS float64 `json:"all_in_s"`
	Rejoin Latency `json:"rejoin"`
}

// Recover joins rooms×size connections to recoverable rooms (the prefix
// of WithTopic, default bench-history:recover-, which pyre chat records),
// member 0 of each room its sender. Every other member leaves; each sender
// then sends missed messages to its room and waits until the room has them;
// then every member that left rejoins at once, with the last position it
// saw as "_since", and reads what it missed. It reports how many were
// recovered, whether every missed message came back once and in order, and
// how long the storm took to settle. With WithMoreTargets member k of
// every room joins node k mod N, and rejoins there too.
func Recover(ctx context.Context, target string, rooms, size, missed int, opts ...Option) (*RecoverReport, error) {
	if rooms < 1 || size < 2 || missed < 1 {
		return nil, fmt.Errorf("loadgen: recover needs at least 1 room of at least 2 members and 1 missed message, got %d of %d and %d", rooms, size, missed)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	prefix := o.topic
	if prefix == "" {
		prefix = "bench-history:recover-"
	}
	n := rooms * size
	r, err := newRun(ctx, "recover", target, prefix+"0", n, 4<<10, opts)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	roomOf := func(i int) int { return i % rooms }
	topic := func(room int) string { return prefix + strconv.Itoa(room) }
	if nsrv := len(r.servers); nsrv > 1 {
		r.serverOf = func(i int) int { return (i / rooms) % nsrv }
	}

	// Each connection's last position, from its join reply and then from
	// every message it reads.
	pos := make([]atomic.Pointer[string], n)
	keep := func(i int, p []byte) {
		if s, ok := stringField(p, "_pos"); ok {
			pos[i].Store(&s)
		}
	}
	r.joinPayload = func(int) []byte { return []byte(`{"_since":null}`) }
	r.joined = keep
	echoed := make([]atomic.Int64, rooms) // what each sender read back
	first := func(i int) (benchFunc, func()) {
		return func(p []byte, _ int64) {
			keep(i, p)
			if i < rooms {
				echoed[i].Add(1)
			}
		}, nil
	}
	conns, fails := r.dialJoin(n, func(i int) string { return topic(roomOf(i)) }, first, nil)
	if nFailed, errs := fails.result(); nFailed > 0 {
		closeAll(conns)
		return nil, fmt.Errorf("loadgen: %d of %d connections could not join%s", nFailed, n, errorSummary(r.ctx, errs))
	}
	senders, leavers := conns[:rooms], conns[rooms:]
	closeAll(leavers)

	// The rooms go on: each sender sends its messages and waits until it
	// reads them back, so they are recorded before anyone rejoins.
	pad := strings.Repeat("x", o.size)
	var payload, frame []byte
	for seq := 1; seq <= missed; seq++ {
		for room, c := range senders {
			payload = strconv.AppendInt(append(payload[:0], `{"s":`...), int64(seq), 10)
			payload = strconv.AppendInt(append(payload, `,"t":`...), int64(time.Since(r.origin)), 10)
			payload = append(append(append(payload, `,"p":"`...), pad...), `"}`...)
			if frame, err = c.cast(frame, topic(room), "bench", payload); err != nil {
				closeAll(senders)
				return nil, fmt.Errorf("loadgen: the sender of %s: %w", topic(room), err)
			}
		}
	}
	if !r.waitUntil(o.drain, func() bool {
		for i := range rooms {
			if echoed[i].Load() < int64(missed) {
				return false
			}
		}
		return true
	}) {
		closeAll(senders)
		return nil, fmt.Errorf("loadgen: the senders did not read their %d messages back within %v", missed, o.drain)
	}

	// The storm: every leaver at once, each with the last position it saw.
	mark := markUsage(o.pids...)
	rep := &RecoverReport{Rooms: rooms, RoomSize: size, Missed: missed, Rejoins: n - rooms}
	failed := &tally{}
	var lat latencies
	var mu sync.Mutex // guards rep's counts and the last completion
	var lastDone int64
	start := time.Now()
	back := make([]*conn, n)
	var wg sync.WaitGroup
	for i := rooms; i < n; i++ {
		wg.Go(func() {
			s := &subscriber{key: i}
			var smu sync.Mutex // guards s: the reader counts, this goroutine reads
			done := make(chan struct{})
			c, err := r.dial(i, func(p []byte, at int64) {
				smu.Lock()
				defer smu.Unlock()
				if _, ok := s.count(p, at); ok && s.recv == int64(missed) {
					close(done)
				}
			}, nil)
			var resp []byte
			if err == nil {
				since := "null"
				if p := pos[i].Load(); p != nil {
					since = strconv.Quote(*p)
				}
				resp, err = c.joinWith(r.ctx, r.o.replyTimeout, topic(roomOf(i)), []byte(`{"_since":`+since+`}`))
			}
			if err != nil {
				failed.add(err)
				if c != nil {
					c.close(false)
				}
				return
			}
			back[i] = c
			recovered := strings.Contains(string(resp), `"_recovered":true`)
			if recovered {
				select {
				case <-done:
				case <-time.After(o.drain):
				case <-r.ctx.Done():
				}
			}
			took := time.Since(start)
			smu.Lock()
			defer smu.Unlock()
			mu.Lock()
			defer mu.Unlock()
			if !recovered {
				rep.NotRecovered++
				return
			}
			rep.Recovered++
			rep.Expected += int64(missed)
			rep.Replayed += s.recv
			rep.Duplicates += s.dups
			rep.Reordered += s.reordered
			lastDone = max(lastDone, int64(took))
			lat.add(i, int64(took))
		})
	}
	wg.Wait()
	rep.Header = r.header(mark)
	closeAll(back)
	closeAll(senders)
	rep.Failed, rep.Errors = failed.result()
	rep.Lost = max(rep.Expected-rep.Replayed, 0)
	rep.AllInS = round3(float64(lastDone) / 1e9)
	rep.Rejoin = lat.total().summary()
	return rep, nil
}

// waitUntil polls cond until it holds (true), the run ends or d passes.
func (r *run) waitUntil(d time.Duration, cond func() bool) bool {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-end.C:
			return cond()
		case <-r.ctx.Done():
			return false
		}
	}
	return true
}

// String is a short human-readable summary.
func (f *RecoverReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "recover %s: %d rooms of %d, %d messages missed by each, %d rejoins at once\n",
		f.Target, f.Rooms, f.RoomSize, f.Missed, f.Rejoins)
	fmt.Fprintf(&b, "  recovered     %d, told to resync %d, failed %d\n", f.Recovered, f.NotRecovered, f.Failed)
	fmt.Fprintf(&b, "  replayed      %d of %d (lost %d, duplicates %d, reordered %d), all in %.3f s\n",
		f.Replayed, f.Expected, f.Lost, f.Duplicates, f.Reordered, f.AllInS)
	b.WriteString(f.Rejoin.line("rejoin"))
	b.WriteString(f.cpuLine())
	b.WriteString(errorLines(f.Errors))
	b.WriteString(f.notes())
	return b.String()
}
