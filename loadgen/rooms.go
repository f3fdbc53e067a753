package loadgen

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// RoomsReport is the outcome of a many-rooms run.
type RoomsReport struct {
	Header
	Rooms      int            `json:"rooms"`
	RoomSize   int            `json:"room_size"`
	Conns      int            `json:"conns"`
	Joined     int64          `json:"joined"`
	JoinFailed int            `json:"join_failed"`
	JoinErrors map[string]int `json:"join_errors,omitempty"`
	SetupS     float64        `json:"setup_s"`
	// JoinLatency is each joined connection's time from dialling to its
	// join reply.
	JoinLatency Latency `json:"join_latency"`
	Dropped     int64   `json:"conns_dropped"` // joined connections that ended in the window
	// RoomRate is messages per second per room; every message goes to the
	// whole room, its sender included.
	RoomRate     float64 `json:"rate_per_room"`
	PayloadBytes int     `json:"payload_bytes"`
	Sent         int64   `json:"sent"`
	PublishPerS  float64 `json:"publish_per_s"`
	// Expected is every message sent times the members of its room that
	// joined; Received counts what they read (duplicates aside).
	Expected      int64   `json:"expected"`
	Received      int64   `json:"received"`
	Lost          int64   `json:"lost"`
	LossPct       float64 `json:"loss_pct"`
	Duplicates    int64   `json:"duplicates"`
	Reordered     int64   `json:"reordered"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	// ServerCPUUsPerDelivery is the server's CPU time in the window divided
	// by the deliveries, in microseconds (0 without the server's pid).
	ServerCPUUsPerDelivery float64 `json:"server_cpu_us_per_delivery,omitempty"`
	Latency                Latency `json:"latency"`
	PublishError           string  `json:"publish_error,omitempty"`
}

// Rooms joins rooms×size connections, size to each of the topics
// room:rooms-0 … (WithTopic sets the prefix before the number), and has
// the first member of each room publish `bench` events at WithRate
// messages per second per room (default 5), the rooms' sends spread
// evenly in time, for WithDuration. Every member, the sender included,
// counts what it reads: a delivery is one message read by one member.
// It reports deliveries per second, loss, order, latency and, with the
// server's pid, its CPU time per delivery.
func Rooms(ctx context.Context, target string, rooms, size int, opts ...Option) (*RoomsReport, error) {
	if rooms < 1 || size < 1 {
		return nil, fmt.Errorf("loadgen: rooms needs at least 1 room of at least 1 member, got %d of %d", rooms, size)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	rate := o.rate
	if rate <= 0 {
		rate = 5
	}
	prefix := o.topic
	if prefix == "" {
		prefix = "room:rooms-"
	}
	n := rooms * size
	r, err := newRun(ctx, "rooms", target, prefix+"0", n, 4<<10, opts)
	if err != nil {
		return nil, err
	}
	defer r.stop()

	// Connection i is member i/rooms of room i%rooms, so each room's
	// sender (member 0) is among the first connections dialled. With
	// several targets (WithMoreTargets), member k of every room goes to
	// node k mod N: the senders to the first, the rooms spread over all.
	roomOf := func(i int) int { return i % rooms }
	if nsrv := len(r.servers); nsrv > 1 {
		r.serverOf = func(i int) int { return (i / rooms) % nsrv }
	}
	topic := func(room int) string { return prefix + strconv.Itoa(room) }
	var lat latencies
	var gone atomic.Int64
	fl := newFlow()
	tallies := make([]*subscriber, n)
	h := func(i int) (benchFunc, func()) {
		s := &subscriber{key: i}
		tallies[i] = s
		return func(p []byte, at int64) {
				ts, ok := s.count(p, at)
				if !ok {
					return
				}
				lat.add(i, at-ts)
				fl.deliver()
			}, func() {
				if s.state.Swap(subGone) == subJoined {
					gone.Add(1)
				}
			}
	}

	setup := time.Now()
	var joinLat latencies
	conns, fails := r.dialJoin(n, func(i int) string { return topic(roomOf(i)) }, h, &joinLat)
	members := make([]int64, rooms) // joined members per room
	var joined int64
	for i, c := range conns {
		if c == nil {
			continue
		}
		if !tallies[i].state.CompareAndSwap(subPending, subJoined) {
			c.close(false)
			conns[i] = nil
			continue
		}
		joined++
		members[roomOf(i)]++
	}
	nFailed, joinErrs := fails.result()
	senders := conns[:rooms]
	for room, c := range senders {
		if c == nil {
			closeAll(conns)
			return nil, fmt.Errorf("loadgen: the sender of %s could not join: %d failures%s", topic(room), nFailed, errorSummary(r.ctx, joinErrs))
		}
	}
	setupTook := time.Since(setup)
	r.quiesce(300*time.Millisecond, 30*time.Second)

	pad := strings.Repeat("x", o.size)
	var payload, frame []byte
	sentTo := make([]int64, rooms) // messages sent per room
	var sent int64
	var pubErr error
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	total := rate * float64(rooms) // sends per second, all rooms
	mark := markUsage(o.pids...)
	start := time.Now()
	firstSend := int64(start.Sub(r.origin))
	deadline := start.Add(o.duration)
publish:
	for m := int64(0); m < o.count; m++ {
		due := start.Add(time.Duration(float64(m) / total * float64(time.Second)))
		if r.ctx.Err() != nil || !due.Before(deadline) {
			break
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-r.ctx.Done():
				timer.Stop()
				break publish
			}
		}
		room := int(m % int64(rooms))
		seq := sentTo[room] + 1
		payload = strconv.AppendInt(append(payload[:0], `{"s":`...), seq, 10)
		payload = strconv.AppendInt(append(payload, `,"t":`...), int64(time.Since(r.origin)), 10)
		payload = append(append(append(payload, `,"p":"`...), pad...), `"}`...)
		if frame, pubErr = senders[room].cast(frame, topic(room), "bench", payload); pubErr != nil {
			break
		}
		sentTo[room] = seq
		sent++
	}
	lastSend := int64(time.Since(r.origin))
	var expected int64
	for room, k := range sentTo {
		expected += k * members[room]
	}
	if r.ctx.Err() == nil {
		fl.wait(r.ctx, func() int64 { return expected }, time.Now().Add(o.drain), o.drain)
	}
	hdr := r.header(mark)
	dropped := gone.Load() // before the close below ends them all
	closeAll(conns)

	rep := &RoomsReport{Header: hdr, Rooms: rooms, RoomSize: size, Conns: n, Joined: joined, JoinFailed: nFailed,
		JoinErrors: joinErrs, SetupS: round3(setupTook.Seconds()), JoinLatency: joinLat.total().summary(), Dropped: dropped, RoomRate: rate,
		PayloadBytes: len(payload), Sent: sent, Expected: expected}
	if pubErr != nil {
		rep.PublishError = pubErr.Error()
	}
	var lastAt int64
	for i, s := range tallies {
		if s == nil || conns[i] == nil {
			continue
		}
		rep.Received += s.recv
		rep.Duplicates += s.dups
		rep.Reordered += s.reordered
		lastAt = max(lastAt, s.lastAt)
	}
	rep.Latency = lat.total().summary()
	rep.Lost = max(rep.Expected-rep.Received, 0)
	if rep.Expected > 0 {
		rep.LossPct = round3(100 * float64(rep.Lost) / float64(rep.Expected))
	}
	if sent > 1 {
		rep.PublishPerS = perSecond(float64(sent-1), float64(lastSend-firstSend)/1e9)
	}
	rep.DeliveredPerS = perSecond(float64(rep.Received), float64(lastAt-firstSend)/1e9)
	if rep.ServerPID > 0 && rep.Received > 0 {
		rep.ServerCPUUsPerDelivery = round3(rep.ServerCPUS * 1e6 / float64(rep.Received))
	}
	return rep, nil
}

// String is a short human-readable summary.
func (f *RoomsReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rooms %s: %d rooms of %d (%d of %d connections joined, %d failed), %g msg/s per room, %d-byte payloads\n",
		f.Target, f.Rooms, f.RoomSize, f.Joined, f.Conns, f.JoinFailed, f.RoomRate, f.PayloadBytes)
	b.WriteString(f.JoinLatency.line("join"))
	fmt.Fprintf(&b, "  published     %d messages at %.0f/s\n", f.Sent, f.PublishPerS)
	fmt.Fprintf(&b, "  delivered     %d of %d = %.0f deliveries/s\n", f.Received, f.Expected, f.DeliveredPerS)
	fmt.Fprintf(&b, "  lost %d (%.3f%%), reordered %d, duplicates %d, dropped connections %d\n",
		f.Lost, f.LossPct, f.Reordered, f.Duplicates, f.Dropped)
	b.WriteString(f.Latency.line("latency"))
	b.WriteString(f.cpuLine())
	if f.ServerCPUUsPerDelivery > 0 {
		fmt.Fprintf(&b, "  server CPU    %.2f µs per delivery\n", f.ServerCPUUsPerDelivery)
	}
	if f.PublishError != "" {
		fmt.Fprintf(&b, "  publish error: %s\n", f.PublishError)
	}
	b.WriteString(errorLines(f.JoinErrors))
	b.WriteString(f.notes())
	return b.String()
}
