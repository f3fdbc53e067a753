package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/loadgen"
)

const benchUsage = `usage: pyre bench MODE [flags]

Load-tests a pyre or Phoenix Channels server on this machine (Phoenix V2
JSON over WebSocket) and prints what it measured.

modes:
  storm    -conns N             open N connections, each joining room:storm-<i>:
                                joins/s, connect+join latency, failures, server
                                RSS per connection (with -pid)
  reconnect -conns N            N clients connect at once, each joining
                                room:reconnect-<i>, and retry a failed attempt
                                after phoenix.js's backoff (10, 50, 100, 150,
                                200, 250, 500, 1000, 2000 ms, then 5 s; -jitter F
                                spreads each wait over ±F of it) until joined or
                                -duration D has passed: joins/s, time to get in,
                                attempts refused with 503, failures, server RSS
                                before, at peak and after (with -pid)
  fanout   -subs N              N subscribers and one publisher on room:fanout;
                                the publisher pushes "bench" events, paced by
                                -rate R or by -window W in flight per subscriber,
                                for -duration D or -count C messages of -size S:
                                deliveries/s, loss, reordering, latency;
                                -slow K of the subscribers stop reading once
                                joined (no heartbeats either) and read again
                                only when publishing ends, for at most -drain:
                                the report says how many of them the server
                                closed, with which close codes (pyre: 4000)
                                and when; flow control and every other figure
                                count only the healthy subscribers;
                                -targets URL1,URL2,… spreads the subscribers
                                over several nodes of one cluster (subscriber
                                i on node i mod N, the publisher on the first,
                                logins on the first: the nodes must share
                                -secret), and the report splits the figures
                                by node
  rooms    -rooms N -size-of M  N rooms of M connections each (room:rooms-<n>);
                                the first member of every room pushes "bench"
                                events, -rate R per room (default 5), spread
                                evenly, for -duration D: deliveries/s (every
                                member, the sender too, reads each message),
                                loss, latency, server CPU per delivery (with
                                -pid); -targets URL1,URL2,… puts member k of
                                every room on node k mod N (the senders on
                                the first); the join latency is reported too
  recover  -rooms N -size-of M  N recoverable rooms of M connections
                                (bench-history:recover-<n>, which pyre chat
                                records); all but each room's sender leave,
                                each sender sends -missed K messages, then
                                every member that left rejoins at once with
                                the last position it saw ("_since"): how many
                                were recovered or told to resync, whether
                                every missed message came back once and in
                                order, and how long until the last had all;
                                -targets as for rooms
  topics   -conns N -per-conn M N connections, each joining M topics of its own
                                (room:topics-<n>) one after the other, so that
                                the server holds more topics than this
                                machine can hold connections: joins/s, join
                                latency, server RSS per topic (with -pid);
                                -targets puts connection i on node i mod N
  ping     -clients N           closed-loop "ping" round trips for -duration D:
                                replies/s, round-trip time
  presence -joiners N           N users (one login each) join one room
                                (room:presence) as fast as -conc allows; every
                                client applies presence_state and each
                                presence_diff as phoenix.js does and is checked
                                against the truth: join → presence_state
                                latency, how long after the last join reply
                                every view is complete (at most -drain, else
                                the view counts as wrong), bytes read, then a
                                late joiner's presence_state time; server CPU
                                (with -pid) covers the joins until every view
                                is complete; -targets URL1,URL2,… spreads the
                                users over the nodes of one cluster

Every run is bounded: by its counts, its duration and a hard wall-clock
-limit (5m by default). The target must be on loopback (127.0.0.0/8, ::1 or
localhost); there is no -allow-remote. -pid takes one process id or several,
comma-separated (the nodes of a cluster): server CPU and RSS are then summed
over them and listed for each, and fanout reports server CPU per delivery. The server must answer POST
/api/login {"user"} with {"token"} (or use -token T, or -no-login), and its
room channel must answer "ping" with an ok reply carrying the payload and
broadcast "bench" unchanged; pyre chat does both. Start it with
-rate-limit 100000: its default (10 events a second per socket) would
refuse most pushes of fanout's publisher and of ping's clients.

pyre bench MODE -h lists the flags of a mode. -json prints one JSON line
instead of the summary; its field names match the team's load harness.`

// benchConfig is the bench command's configuration: the flags, with their
// defaults from package loadgen.
type benchConfig struct {
	Mode         string
	Target       string
	Targets      []string // fanout and rooms: the nodes to spread the connections over
	JSON         bool
	Verbose      bool
	Label        string
	PIDs         []int
	SrcIPs       int
	Users        int
	Token        string
	NoLogin      bool
	Path         string
	Topic        string
	Conc         int
	Heartbeat    time.Duration
	Limit        time.Duration
	ReplyTimeout time.Duration

	Conns  int           // storm, reconnect
	Hold   time.Duration // storm
	Jitter float64       // reconnect

	Subs     int           // fanout
	Slow     int           // fanout
	Rate     float64       // fanout
	Window   int           // fanout
	Size     int           // fanout
	Drain    time.Duration // fanout
	Duration time.Duration // fanout, ping
	Count    int64         // fanout, ping

	Clients int // ping

	Rooms    int // rooms, recover
	RoomSize int // rooms, recover
	Missed   int // recover
	PerConn  int // topics

	Joiners int // presence
}

func (c benchConfig) validate() error {
	if c.Token != "" && c.NoLogin {
		return errors.New("-token and -no-login exclude each other")
	}
	if len(c.PIDs) > 1 && slices.Contains(c.PIDs, 0) {
		return errors.New("-pid: 0 (skip) cannot be part of a list")
	}
	return nil
}

// pidList is the value of -pid: process ids, comma-separated.
type pidList []int

func (p *pidList) String() string {
	if p == nil {
		return ""
	}
	ids := make([]string, len(*p))
	for i, id := range *p {
		ids[i] = strconv.Itoa(id)
	}
	return strings.Join(ids, ",")
}

func (p *pidList) Set(s string) error {
	var ids []int
	for f := range strings.SplitSeq(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || id < 0 {
			return fmt.Errorf("%q is not a process id", f)
		}
		ids = append(ids, id)
	}
	*p = ids
	return nil
}

// targetList is the value of -targets: server URLs, comma-separated.
type targetList []string

func (t *targetList) String() string {
	if t == nil {
		return ""
	}
	return strings.Join(*t, ",")
}

func (t *targetList) Set(s string) error {
	var urls []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return errors.New("empty entry in the list of servers")
		}
		urls = append(urls, f)
	}
	*t = urls
	return nil
}

// options turns the configuration into loadgen options; loadgen checks
// their values.
func (c benchConfig) options() []loadgen.Option {
	opts := []loadgen.Option{
		loadgen.WithLabel(c.Label),
		loadgen.WithSourceIPs(c.SrcIPs),
		loadgen.WithPath(c.Path),
		loadgen.WithConcurrency(c.Conc),
		loadgen.WithHeartbeat(c.Heartbeat),
		loadgen.WithLimit(c.Limit),
		loadgen.WithReplyTimeout(c.ReplyTimeout),
		loadgen.WithHold(c.Hold),
		loadgen.WithRate(c.Rate),
		loadgen.WithWindow(c.Window),
		loadgen.WithPayloadSize(c.Size),
		loadgen.WithDrain(c.Drain),
		loadgen.WithSlow(c.Slow),
		loadgen.WithDuration(c.Duration),
		loadgen.WithCount(c.Count),
		loadgen.WithJitter(c.Jitter),
	}
	switch len(c.PIDs) {
	case 0:
	case 1:
		opts = append(opts, loadgen.WithServerPID(c.PIDs[0])) // 0 skips
	default:
		opts = append(opts, loadgen.WithServerPIDs(c.PIDs...))
	}
	if len(c.Targets) > 1 {
		opts = append(opts, loadgen.WithMoreTargets(c.Targets[1:]...))
	}
	if c.Token != "" {
		opts = append(opts, loadgen.WithToken(c.Token))
	}
	if c.NoLogin {
		opts = append(opts, loadgen.WithoutLogin())
	}
	if c.Topic != "" {
		opts = append(opts, loadgen.WithTopic(c.Topic))
	}
	if c.Verbose {
		log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.DebugLevel).With().Timestamp().Logger()
		opts = append(opts, loadgen.WithLogger(log))
	}
	if c.Users != 0 {
		opts = append(opts, loadgen.WithUsers(c.Users))
	}
	return opts
}

// errStoppedEarly follows the report of a run that the limit or a signal
// cut short.
var errStoppedEarly = errors.New("bench: the run stopped early")

// bench parses args, runs one mode and writes its report to out.
func bench(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(errOut, benchUsage)
		return errors.New("bench: give a mode: storm, reconnect, fanout, rooms, ping or presence")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(errOut, benchUsage)
		return flag.ErrHelp
	}
	cfg := benchConfig{Mode: args[0]}
	fs := flag.NewFlagSet("bench "+cfg.Mode, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:4000", "server base URL; the host must be loopback")
	fs.BoolVar(&cfg.JSON, "json", false, "print the report as one JSON line")
	fs.BoolVar(&cfg.Verbose, "v", false, "log progress to stderr")
	fs.StringVar(&cfg.Label, "label", "", "name of the server under test, copied into the report (pyre, phoenix, …)")
	fs.Var((*pidList)(&cfg.PIDs), "pid", "server process id, to read its CPU time and VmRSS from /proc, or several `ids`, comma-separated, for the nodes of a cluster (0: skip)")
	fs.IntVar(&cfg.SrcIPs, "src-ips", 0, "spread connections over source addresses 127.0.0.2 … 127.0.0.(N+1) (0: let the kernel choose; each address has about 28k ports)")
	fs.IntVar(&cfg.Users, "users", 0, "users to log in as; connection i uses user i mod N (default: 100, or one per 8 connections when that is more, within pyre chat's 16 sockets per user)")
	fs.StringVar(&cfg.Token, "token", "", "connect every socket with this token instead of logging in")
	fs.BoolVar(&cfg.NoLogin, "no-login", false, "connect without a token")
	fs.StringVar(&cfg.Path, "path", "/socket/websocket", "WebSocket path of the socket")
	fs.IntVar(&cfg.Conc, "conc", loadgen.DefaultConcurrency, "connections being opened at once")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", loadgen.DefaultHeartbeat, "heartbeat interval of every connection")
	fs.DurationVar(&cfg.Limit, "limit", loadgen.DefaultLimit, "hard wall-clock limit of the whole run")
	fs.DurationVar(&cfg.ReplyTimeout, "reply-timeout", loadgen.DefaultReplyTimeout, "bound on each handshake, login, join and ping reply")
	cfg.Hold, cfg.Drain = 0, 10*time.Second
	cfg.Duration, cfg.Count = loadgen.DefaultDuration, loadgen.DefaultCount
	cfg.Window, cfg.Size = loadgen.DefaultWindow, loadgen.DefaultPayloadSize
	switch cfg.Mode {
	case "storm":
		fs.IntVar(&cfg.Conns, "conns", 1000, "connections to open")
		fs.DurationVar(&cfg.Hold, "hold", 0, "keep the connections open this long before closing them")
		fs.StringVar(&cfg.Topic, "topic", "", "topic prefix; connection i joins PREFIX<i> (default room:storm-)")
	case "reconnect":
		fs.IntVar(&cfg.Conns, "conns", 1000, "clients connecting at once")
		fs.Float64Var(&cfg.Jitter, "jitter", 0, "spread each backoff wait evenly over ±this share of it, 0 to 1 (0: phoenix.js's default schedule, no jitter)")
		fs.DurationVar(&cfg.Duration, "duration", time.Minute, "a client that has not joined after this long gives up and counts as failed")
		fs.StringVar(&cfg.Topic, "topic", "", "topic prefix; client i joins PREFIX<i> (default room:reconnect-)")
	case "fanout":
		fs.IntVar(&cfg.Subs, "subs", 1000, "subscribers")
		fs.IntVar(&cfg.Slow, "slow", 0, "of the subscribers, this many stop reading once joined (slow consumers); fewer than -subs")
		fs.Float64Var(&cfg.Rate, "rate", 0, "messages per second to publish (0: as fast as -window allows)")
		fs.IntVar(&cfg.Window, "window", loadgen.DefaultWindow, "with -rate 0: messages in flight per subscriber (0: no flow control, overload on purpose)")
		fs.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "publish for at most this long")
		fs.Int64Var(&cfg.Count, "count", loadgen.DefaultCount, "publish at most this many messages")
		fs.IntVar(&cfg.Size, "size", loadgen.DefaultPayloadSize, "payload padding in bytes")
		fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "after publishing, wait at most this long for deliveries (and for -slow subscribers to read up to their close)")
		fs.StringVar(&cfg.Topic, "topic", "", "topic (default room:fanout)")
		fs.Var((*targetList)(&cfg.Targets), "targets", "instead of -target: base `URLs` of several nodes of one cluster, comma-separated; subscriber i goes to node i mod N, the publisher and the logins to the first")
	case "rooms":
		fs.IntVar(&cfg.Rooms, "rooms", 1000, "rooms")
		fs.IntVar(&cfg.RoomSize, "size-of", 10, "connections in each room")
		fs.Float64Var(&cfg.Rate, "rate", 5, "messages per second per room")
		fs.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "publish for this long")
		fs.IntVar(&cfg.Size, "size", loadgen.DefaultPayloadSize, "payload padding in bytes")
		fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "after publishing, wait at most this long for deliveries")
		fs.StringVar(&cfg.Topic, "topic", "", "topic prefix; room n is PREFIX<n> (default room:rooms-)")
		fs.Var((*targetList)(&cfg.Targets), "targets", "instead of -target: base `URLs` of several nodes of one cluster, comma-separated; member k of every room goes to node k mod N (the senders to the first), the logins to the first")
	case "topics":
		fs.IntVar(&cfg.Conns, "conns", 100, "connections")
		fs.IntVar(&cfg.PerConn, "per-conn", 100, "topics each connection joins (pyre chat allows 100 channels a socket)")
		fs.StringVar(&cfg.Topic, "topic", "", "topic prefix; topic n is PREFIX<n> (default room:topics-)")
		fs.Var((*targetList)(&cfg.Targets), "targets", "instead of -target: base `URLs` of several nodes of one cluster, comma-separated; connection i goes to node i mod N, the logins to the first")
	case "recover":
		fs.IntVar(&cfg.Rooms, "rooms", 500, "rooms")
		fs.IntVar(&cfg.RoomSize, "size-of", 3, "connections in each room, its sender included (at least 2)")
		fs.IntVar(&cfg.Missed, "missed", 20, "messages each room gets while its members are away (at most what the route keeps: 1 000 for bench-history:*)")
		fs.IntVar(&cfg.Size, "size", loadgen.DefaultPayloadSize, "payload padding in bytes")
		fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "wait at most this long for the senders to read their messages back, and for each rejoin's missed messages")
		fs.StringVar(&cfg.Topic, "topic", "", "topic prefix; room n is PREFIX<n> (default bench-history:recover-)")
		fs.Var((*targetList)(&cfg.Targets), "targets", "instead of -target: base `URLs` of several nodes of one cluster, comma-separated; member k of every room goes to node k mod N (the senders to the first), the logins to the first")
	case "presence":
		fs.IntVar(&cfg.Joiners, "joiners", 1000, "users joining the room, one connection and one login each")
		fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "after the last join reply, wait at most this long for every view to be complete")
		fs.StringVar(&cfg.Topic, "topic", "", "topic (default room:presence)")
		fs.Var((*targetList)(&cfg.Targets), "targets", "instead of -target: base `URLs` of several nodes of one cluster, comma-separated; user i goes to node i mod N, the logins to the first")
	case "ping":
		fs.IntVar(&cfg.Clients, "clients", 50, "clients, each with one request in flight")
		fs.DurationVar(&cfg.Duration, "duration", loadgen.DefaultDuration, "how long to run")
		fs.Int64Var(&cfg.Count, "count", loadgen.DefaultCount, "round trips per client at most")
		fs.StringVar(&cfg.Topic, "topic", "", "topic prefix; client i joins PREFIX<i> (default room:ping-)")
	default:
		fmt.Fprintln(errOut, benchUsage)
		return fmt.Errorf("bench: unknown mode %q", cfg.Mode)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	if len(cfg.Targets) > 0 {
		both := false
		fs.Visit(func(f *flag.Flag) { both = both || f.Name == "target" })
		if both {
			return errors.New("bench: -target and -targets exclude each other")
		}
		cfg.Target = cfg.Targets[0]
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}

	// The runs keep to -limit themselves; this is the backstop should one
	// ever fail to.
	backstop := time.AfterFunc(cfg.Limit+30*time.Second, func() {
		fmt.Fprintf(errOut, "pyre bench: still running %v past the limit; exiting\n", 30*time.Second)
		os.Exit(3)
	})
	defer backstop.Stop()

	var rep interface {
		fmt.Stringer
		stopped() string
	}
	opts := cfg.options()
	switch cfg.Mode {
	case "storm":
		r, err := loadgen.Storm(ctx, cfg.Target, cfg.Conns, opts...)
		if err != nil {
			return err
		}
		rep = stormReport{r}
	case "reconnect":
		r, err := loadgen.Reconnect(ctx, cfg.Target, cfg.Conns, opts...)
		if err != nil {
			return err
		}
		rep = reconnectReport{r}
	case "fanout":
		r, err := loadgen.Fanout(ctx, cfg.Target, cfg.Subs, opts...)
		if err != nil {
			return err
		}
		rep = fanoutReport{r}
	case "rooms":
		r, err := loadgen.Rooms(ctx, cfg.Target, cfg.Rooms, cfg.RoomSize, opts...)
		if err != nil {
			return err
		}
		rep = roomsReport{r}
	case "topics":
		r, err := loadgen.Topics(ctx, cfg.Target, cfg.Conns, cfg.PerConn, opts...)
		if err != nil {
			return err
		}
		rep = topicsReport{r}
	case "recover":
		r, err := loadgen.Recover(ctx, cfg.Target, cfg.Rooms, cfg.RoomSize, cfg.Missed, opts...)
		if err != nil {
			return err
		}
		rep = recoverReport{r}
	case "presence":
		r, err := loadgen.Presence(ctx, cfg.Target, cfg.Joiners, opts...)
		if err != nil {
			return err
		}
		rep = presenceReport{r}
	case "ping":
		r, err := loadgen.Ping(ctx, cfg.Target, cfg.Clients, opts...)
		if err != nil {
			return err
		}
		rep = pingReport{r}
	}
	if cfg.JSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s\n", b)
	} else {
		fmt.Fprint(out, rep)
	}
	if why := rep.stopped(); why != "" {
		return fmt.Errorf("%w (%s)", errStoppedEarly, why)
	}
	return nil
}

// The reports, seen through what bench needs of them.
type (
	stormReport     struct{ *loadgen.StormReport }
	reconnectReport struct{ *loadgen.ReconnectReport }
	fanoutReport    struct{ *loadgen.FanoutReport }
	roomsReport     struct{ *loadgen.RoomsReport }
	recoverReport   struct{ *loadgen.RecoverReport }
	topicsReport    struct{ *loadgen.TopicsReport }
	pingReport      struct{ *loadgen.PingReport }
	presenceReport  struct{ *loadgen.PresenceReport }
)

func (r stormReport) stopped() string     { return r.Stopped }
func (r reconnectReport) stopped() string { return r.Stopped }
func (r fanoutReport) stopped() string    { return r.Stopped }
func (r roomsReport) stopped() string     { return r.Stopped }
func (r recoverReport) stopped() string   { return r.Stopped }
func (r topicsReport) stopped() string    { return r.Stopped }
func (r pingReport) stopped() string      { return r.Stopped }
func (r presenceReport) stopped() string  { return r.Stopped }
