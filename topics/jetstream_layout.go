package topics

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The stream layout of the JetStream store: a retention class (Count and
// Age) has a fixed number of partitions, each one stream.

// class is one retention class: its streams, made once.
type class struct {
	token string        // "n<Count>" and, with an Age, "_a<milliseconds>"
	ready chan struct{} // closed once the streams are made, or failed to be
	err   error         // written before ready is closed
	at    time.Time     // when it failed; written before ready is closed
	parts []*part

	// stale is set when a publish found no stream of the class (deleted
	// while this node ran): the next use makes the streams again, under
	// remake, into the same parts.
	stale  atomic.Bool
	remake sync.Mutex
}

// part is one stream of a class.
type part struct {
	name   string // stream name
	base   string // "PREFIX.h.<class>.<i>.", a topic's subject is base + token
	live   string // "PREFIX.hr.<class>.<i>.", where the stream republishes
	maxPer int64  // the stream's MaxMsgsPerSubject (-1 for none)
	s      jetstream.Stream
	epoch  atomic.Pointer[string] // the stream's creation time in base 36

	hmu   sync.Mutex // guards heads
	heads *headRead  // the newest read of the stream's last sequence, in flight or done

	// The stream's live subscription on this node (see jetstream_live.go).
	lmu     sync.Mutex        // guards the three below
	seen    uint64            // the last sequence the subscription received, or the stream's last once it ran
	seenAt  string            // its time stamp as the server wrote it ("" when read from the stream)
	watches map[string]*watch // subject token → the watch of a topic with local subscribers
}

// headRead is one read of a stream's last sequence, shared by the fresh
// joins it is good for.
type headRead struct {
	began time.Time
	done  chan struct{} // closed when seq and err are set
	seq   uint64
	err   error
}

// sharedHead returns the stream's last sequence as read by a read that
// began at after or later: the newest read when it qualifies (in flight
// or done, and not failed), otherwise a new one made with read. Any such
// read is as good as one made now for a join whose subscription was in
// place at after: every message stored after the read began reaches the
// subscription. Under a storm of fresh joins one read serves many.
func (p *part) sharedHead(ctx context.Context, after time.Time, read func(context.Context) (uint64, error)) (uint64, error) {
	p.hmu.Lock()
	hr := p.heads
	reuse := hr != nil && !hr.began.Before(after)
	if reuse {
		select {
		case <-hr.done:
			reuse = hr.err == nil
		default:
		}
	}
	if !reuse {
		hr = &headRead{began: time.Now(), done: make(chan struct{})}
		p.heads = hr
		p.hmu.Unlock()
		hr.seq, hr.err = read(ctx)
		close(hr.done)
		return hr.seq, hr.err
	}
	p.hmu.Unlock()
	select {
	case <-hr.done:
		return hr.seq, hr.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (p *part) subject(topic string) string { return p.base + SubjectToken(topic) }

func (p *part) currentEpoch() string { return *p.epoch.Load() }

// setEpoch records the creation time read in info, which changes when the
// stream was deleted and made again while this node ran.
func (p *part) setEpoch(info *jetstream.StreamInfo) string {
	e := epochOf(info)
	if old := p.epoch.Load(); old == nil || *old != e {
		p.epoch.Store(&e)
	}
	return e
}

func epochOf(info *jetstream.StreamInfo) string {
	return strconv.FormatInt(info.Created.UnixNano(), 36)
}

func classToken(r Retention) string {
	t := "n" + strconv.Itoa(r.Count)
	if r.Age > 0 {
		t += "_a" + strconv.FormatInt(r.Age.Milliseconds(), 10)
	}
	return t
}

// partitionOf is stable across nodes and runs (FNV-1a of the topic).
func partitionOf(topic string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(topic))
	return int(h.Sum32() % uint32(n))
}

// classRetry is how long a class whose streams could not be made waits
// before the next attempt.
const classRetry = time.Second

// partition returns the stream of topic, making its class's streams on
// the first use of the class.
func (j *JetStream) partition(ctx context.Context, topic string, r Retention) (*part, error) {
	c, err := j.class(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.parts[partitionOf(topic, len(c.parts))], nil
}

func (j *JetStream) class(ctx context.Context, r Retention) (*class, error) {
	token := classToken(r)
	j.cmu.Lock()
	c := j.classes[token]
	if c != nil {
		select {
		case <-c.ready:
			if c.err != nil && time.Since(c.at) > classRetry {
				c = nil
			}
		default:
		}
	}
	if c == nil {
		made := 0
		for t, o := range j.classes {
			if t != token {
				made += len(o.parts)
			}
		}
		c = &class{token: token, ready: make(chan struct{})}
		j.classes[token] = c
		j.cmu.Unlock()
		if made+j.partitions > MaxHistoryStreams {
			c.err = fmt.Errorf("topics: retention class %s would pass %d history streams", token, MaxHistoryStreams)
		} else {
			mctx, cancel := context.WithTimeout(context.Background(), j.timeout)
			c.err = j.makeClass(mctx, c, r)
			cancel()
		}
		if c.err != nil {
			c.at = time.Now()
			j.log.Error().Err(c.err).Str("class", token).Msg("history streams unavailable")
		}
		close(c.ready)
		return c, c.err
	}
	j.cmu.Unlock()
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err == nil && c.stale.Load() {
		if err := j.remakeClass(ctx, c, r); err != nil {
			return nil, err
		}
	}
	return c, c.err
}

// remakeClass makes c's streams again after they were found missing; the
// parts keep their identity, and take the new streams' epochs.
func (j *JetStream) remakeClass(ctx context.Context, c *class, r Retention) error {
	c.remake.Lock()
	defer c.remake.Unlock()
	if !c.stale.Load() {
		return nil // another caller did it
	}
	for i, p := range c.parts {
		s, err := j.ensureStream(ctx, c, p, i, r)
		if err != nil {
			return err
		}
		p.setEpoch(s.CachedInfo())
	}
	c.stale.Store(false)
	j.log.Warn().Str("class", c.token).Msg("history streams made again; the positions of the old ones are void")
	return nil
}

// markStale notes that the stream of subject (a topic's subject in the
// history layout) is gone.
func (j *JetStream) markStale(subject string) {
	rest, ok := strings.CutPrefix(subject, j.prefix+".h.")
	if !ok {
		return
	}
	token, _, _ := strings.Cut(rest, ".")
	j.cmu.Lock()
	c := j.classes[token]
	j.cmu.Unlock()
	if c != nil {
		c.stale.Store(true)
	}
}

// metaPartitions is the stream metadata key that records the number of
// partitions of the class, so that nodes configured differently fail
// loudly instead of splitting a topic over two streams.
const metaPartitions = "pyre_partitions"

// makeClass makes (or finds) the streams of c, each with this node's
// subscription to what it republishes, made first: once the subscription
// is flushed, the stream's last sequence read after is a baseline every
// later message passes (see part.setSeen).
func (j *JetStream) makeClass(ctx context.Context, c *class, r Retention) (err error) {
	parts := make([]*part, j.partitions)
	for i := range parts {
		is := strconv.Itoa(i)
		parts[i] = &part{
			name: strings.ToUpper(j.prefix) + "_HIST_" + strings.ToUpper(c.token) + "_" + is,
			base: j.prefix + ".h." + c.token + "." + is + ".",
			live: j.prefix + ".hr." + c.token + "." + is + ".",
		}
	}
	defer func() {
		if err != nil {
			for _, p := range parts {
				j.unsubscribeLive(p)
			}
		}
	}()
	for _, p := range parts {
		if err := j.subscribeLive(p); err != nil {
			return fmt.Errorf("topics: history stream %s: %w", p.name, err)
		}
	}
	if err := j.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("topics: history streams of class %s: %w", c.token, err)
	}
	for i, p := range parts {
		s, err := j.ensureStream(ctx, c, p, i, r)
		if err != nil {
			return err
		}
		p.s = s
		p.maxPer = s.CachedInfo().Config.MaxMsgsPerSubject
		p.setEpoch(s.CachedInfo())
		p.setSeen(s.CachedInfo())
	}
	c.parts = parts
	return nil
}

// ensureStream makes p, partition i of class c, or finds it made by
// another node.
func (j *JetStream) ensureStream(ctx context.Context, c *class, p *part, i int, r Retention) (jetstream.Stream, error) {
	cfg := j.streamConfig(c, p, i, r)
	s, err := j.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = j.js.Stream(ctx, p.name)
		if err == nil {
			err = j.checkFound(s.CachedInfo(), cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("topics: history stream %s: %w", p.name, err)
	}
	return s, nil
}

// streamConfig is the configuration of p, partition i of class c.
func (j *JetStream) streamConfig(c *class, p *part, i int, r Retention) jetstream.StreamConfig {
	maxPer := int64(-1)
	if r.Count > 0 {
		maxPer = int64(r.Count)
	}
	maxBytes := int64(-1)
	if j.maxBytes > 0 {
		maxBytes = max(j.maxBytes/int64(j.partitions), 1)
	}
	np := strconv.Itoa(j.partitions)
	return jetstream.StreamConfig{
		Name:        p.name,
		Description: "pyre histories: retention class " + c.token + ", partition " + strconv.Itoa(i) + " of " + np,
		Subjects:    []string{p.base + "*"},
		Storage:     j.storage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1, MaxBytes: maxBytes, MaxAge: r.Age,
		MaxMsgsPerSubject: maxPer,
		AllowDirect:       true,
		RePublish:         &jetstream.RePublish{Source: p.base + ">", Destination: p.live + ">"},
		Metadata:          map[string]string{metaPartitions: np},
	}
}

// checkFound accepts a stream another node made with other settings
// unless it would break the layout: the stream's own limits win.
func (j *JetStream) checkFound(info *jetstream.StreamInfo, want jetstream.StreamConfig) error {
	got := info.Config
	if got.Metadata[metaPartitions] != want.Metadata[metaPartitions] {
		return fmt.Errorf("made by a node with %s partitions, this one has %s: every node must use the same",
			got.Metadata[metaPartitions], want.Metadata[metaPartitions])
	}
	if !got.AllowDirect || got.RePublish == nil || *got.RePublish != *want.RePublish ||
		len(got.Subjects) != 1 || got.Subjects[0] != want.Subjects[0] {
		return errors.New("made with subjects, republishing or direct access this layout does not use")
	}
	j.log.Warn().Str("stream", want.Name).Msg("history stream exists with other limits or storage; using it as it is")
	return nil
}

// checkOldLayout finds the streams of the layout pyre used before (one
// per topic, PREFIX_H_ and 24 hex digits, on PREFIX.h.<token>) and
// deletes them when told to, or refuses.
func (j *JetStream) checkOldLayout(ctx context.Context, remove bool) error {
	old := regexp.MustCompile(`^` + regexp.QuoteMeta(strings.ToUpper(j.prefix)) + `_H_[0-9a-f]{24}$`)
	var found []string
	names := j.js.StreamNames(ctx, jetstream.WithStreamListSubject(j.prefix+".h.>"))
	for name := range names.Name() {
		if old.MatchString(name) {
			found = append(found, name)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("topics: listing history streams: %w", err)
	}
	if len(found) == 0 {
		return nil
	}
	if !remove {
		return fmt.Errorf("%w: %d streams such as %s; delete them (nats stream rm NAME for each name "+
			"nats stream ls lists with the prefix %s_H_) or start once with WithOldHistoryRemoved "+
			"(cluster.Config.JetStreamRemoveOld); their histories are lost either way and clients resync",
			ErrOldHistoryLayout, len(found), found[0], strings.ToUpper(j.prefix))
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, name := range found {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(context.Background(), j.timeout)
			defer cancel()
			if err := j.js.DeleteStream(dctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("topics: removing old history streams: %w", errors.Join(errs...))
	}
	j.log.Warn().Int("streams", len(found)).Msg("history streams of the old layout removed")
	return nil
}
