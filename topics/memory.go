package topics

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pyrehq/pyre/protocol"
)

// The memory store's defaults.
const (
	// DefaultHistoryBudget bounds the memory all of a node's histories
	// take together: 64 MiB holds the last ten 200-byte messages of about
	// 20 000 busy rooms, or the last message of about 150 000 rooms, which
	// covers the reconnects of a node's users several times over, and it
	// stays a small part of a node sized for the connections that write
	// to those rooms (a connection costs 10–20 KiB).
	DefaultHistoryBudget = 64 << 20
	// DefaultIdleTTL is how long a topic with no subscriber and no
	// broadcast keeps its history and epoch before it is dropped whole: a
	// client back within it recovers; later, it resyncs.
	DefaultIdleTTL = 30 * time.Minute
	// DefaultSweepEvery is how often the store drops what aged out, what
	// idled past the TTL, and shrinks the rings that emptied.
	DefaultSweepEvery = time.Second
)

// Eviction causes, counted in MemoryStats.
const (
	EvictLimit  = iota // the topic's Retention (Count or Bytes) made room for a newer broadcast
	EvictAge           // older than the Retention's Age
	EvictBudget        // the node's budget for all histories was full
	EvictIdle          // the topic had no subscriber and no broadcast for the idle TTL
	numEvictCauses
)

// EvictCauseNames are the names of the eviction causes, by index.
var EvictCauseNames = [numEvictCauses]string{"limit", "age", "budget", "idle"}

// MemoryOption configures NewMemoryHistory.
type MemoryOption func(*memOptions) error

type memOptions struct {
	budget  int64
	idleTTL time.Duration
	every   time.Duration
}

// WithHistoryBudget bounds, in bytes, the memory of all the node's
// histories together (default DefaultHistoryBudget). Past it the store
// evicts the oldest broadcasts of the least recently used topics, and
// drops whole the ones with no subscriber left. It must be at least 64 KiB.
func WithHistoryBudget(bytes int64) MemoryOption {
	return func(o *memOptions) error {
		if bytes < 64<<10 {
			return errors.New("topics: the history budget must be at least 64 KiB")
		}
		o.budget = bytes
		return nil
	}
}

// WithIdleTTL sets how long a topic with no local subscriber and no
// broadcast keeps its history (default DefaultIdleTTL).
func WithIdleTTL(d time.Duration) MemoryOption {
	return func(o *memOptions) error {
		if d <= 0 {
			return errors.New("topics: the idle TTL must be positive")
		}
		o.idleTTL = d
		return nil
	}
}

// WithSweepEvery sets how often the store sweeps its histories (default
// DefaultSweepEvery): the Age bound and the idle TTL are applied within
// one sweep of being due, whether or not the topic is written again.
func WithSweepEvery(d time.Duration) MemoryOption {
	return func(o *memOptions) error {
		if d <= 0 {
			return errors.New("topics: the sweep interval must be positive")
		}
		o.every = d
		return nil
	}
}

// MemoryHistory keeps each recoverable topic's history in this node's
// memory: a ring of its last broadcasts, with a random epoch made when
// the ring is. All rings together stay within a byte budget; a topic idle
// past a TTL is dropped whole; the Age bound is applied by a sweep, not
// only when a topic is written; rings shrink as they empty. What is
// evicted is gone: a recovery that needs it is answered TooOld (its
// broadcasts left) or OtherEpoch (its topic was dropped), never with a
// part of what was missed.
//
// Positions are per node: another node records the same broadcasts (it
// receives them through the Remote) in a ring of its own epoch.
type MemoryHistory struct {
	o    memOptions
	d    Delivery // set once by Bind
	seed maphash.Seed

	shards [shardCount]memShard

	// rets holds one copy of each Retention the rings were made with
	// (retKey → *Retention): a route's rooms share theirs instead of
	// each ring carrying 48 bytes of it.
	rets sync.Map

	cost    atomic.Int64 // bytes accounted to all rings (see ring.cost)
	topics  atomic.Int64
	evicted [numEvictCauses]atomic.Uint64 // broadcasts evicted, by cause
	dropped [numEvictCauses]atomic.Uint64 // topics dropped whole, by cause

	evicting sync.Mutex // one evictor at a time; writers past the budget do not wait for it

	tmu    sync.Mutex  // guards timer and closed
	timer  *time.Timer // the next sweep, armed while rings exist
	closed bool
}

type memShard struct {
	mu    sync.Mutex
	rings map[string]*ring // guarded by mu
}

// NewMemoryHistory returns a memory store; give it to a PubSub with
// UseHistory.
func NewMemoryHistory(opts ...MemoryOption) (*MemoryHistory, error) {
	o := memOptions{budget: DefaultHistoryBudget, idleTTL: DefaultIdleTTL, every: DefaultSweepEvery}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s := &MemoryHistory{o: o, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].rings = map[string]*ring{}
	}
	return s, nil
}

// MemoryStats is a memory store's state and what it evicted.
type MemoryStats struct {
	Topics int64 // topics with a history
	Bytes  int64 // bytes accounted to them
	Budget int64
	// Evicted counts the broadcasts evicted, Dropped the topics dropped
	// whole, by cause (indexed as EvictCauseNames).
	Evicted [numEvictCauses]uint64
	Dropped [numEvictCauses]uint64
}

// Stats returns the store's counters; safe from any goroutine.
func (s *MemoryHistory) Stats() MemoryStats {
	st := MemoryStats{Topics: s.topics.Load(), Bytes: s.cost.Load(), Budget: s.o.budget}
	for i := range numEvictCauses {
		st.Evicted[i] = s.evicted[i].Load()
		st.Dropped[i] = s.dropped[i].Load()
	}
	return st
}

// Bind implements HistoryStore.
func (s *MemoryHistory) Bind(d Delivery) error {
	if s.d != nil {
		return ErrHistoryAttached
	}
	s.d = d
	return nil
}

// Shared implements HistoryStore: positions are valid on this node only.
func (s *MemoryHistory) Shared() bool { return false }

// Watch implements HistoryStore; the memory store asks Delivery.Subscribed
// when it needs to know.
func (s *MemoryHistory) Watch(string, Retention, bool) {}

// Close stops the sweeps. The histories stay readable.
func (s *MemoryHistory) Close() error {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	return nil
}

func (s *MemoryHistory) shard(topic string) *memShard {
	return &s.shards[maphash.String(s.seed, topic)%shardCount]
}

// lockRing returns topic's ring locked, made on first use (or anew after
// it was dropped).
func (s *MemoryHistory) lockRing(topic string, r Retention) *ring {
	for {
		sh := s.shard(topic)
		sh.mu.Lock()
		rg := sh.rings[topic]
		made := rg == nil
		var cost int64 // a new ring's cost, read before others can lock it
		if made {
			rg = newRing(topic, s.retention(r))
			cost = rg.cost()
			sh.rings[topic] = rg
		}
		sh.mu.Unlock()
		if made {
			s.topics.Add(1)
			s.cost.Add(cost)
			s.d.Keep(topic)
			s.arm()
		}
		rg.mu.Lock()
		if !rg.dead() {
			return rg
		}
		rg.mu.Unlock() // dropped meanwhile: make it anew
	}
}

// lockExisting returns topic's ring locked, or nil when it has none.
func (s *MemoryHistory) lockExisting(topic string) *ring {
	sh := s.shard(topic)
	sh.mu.Lock()
	rg := sh.rings[topic]
	sh.mu.Unlock()
	if rg == nil {
		return nil
	}
	rg.mu.Lock()
	if rg.dead() {
		rg.mu.Unlock()
		return nil
	}
	return rg
}

// Append implements HistoryStore: the broadcast is given its position,
// kept and delivered under the ring's lock, so that one topic's
// broadcasts reach the subscribers in the order of their positions.
func (s *MemoryHistory) Append(from *Subscription, b Broadcast, r Retention, origin Origin) error {
	now := time.Now()
	rg := s.lockRing(b.Topic, r)
	before := rg.cost()
	b, err := rg.record(b, now, &s.evicted)
	if err == nil {
		err = s.d.Deliver(from, 0, b, origin)
	}
	delta := rg.cost() - before
	rg.mu.Unlock()
	if s.cost.Add(delta) > s.o.budget {
		s.evict()
	}
	return err
}

// Recover implements HistoryStore.
func (s *MemoryHistory) Recover(topic string, r Retention, since *Position) Recovery {
	now := time.Now()
	rg := s.lockRing(topic, r)
	defer rg.mu.Unlock()
	s.cost.Add(rg.expire(now, &s.evicted))
	rg.used.Store(now.UnixNano())
	rec := Recovery{Head: Position{Epoch: rg.epoch, Seq: rg.head}}
	if since == nil {
		return rec
	}
	rec.Since = *since
	switch {
	case since.Epoch != rg.epoch:
		rec.Outcome = OtherEpoch
	case since.Seq > rg.head:
		rec.Outcome = Ahead
	case since.Seq < rg.head && (rg.n == 0 || since.Seq+1 < rg.at(0).seq):
		rec.Outcome = TooOld
	default:
		rec.Outcome = Recovered
		rec.Missed = rg.last(int(rg.head - since.Seq))
	}
	return rec
}

// Last implements HistoryStore.
func (s *MemoryHistory) Last(topic string, _ Retention, n int) []Broadcast {
	rg := s.lockExisting(topic)
	if rg == nil {
		return nil
	}
	defer rg.mu.Unlock()
	s.cost.Add(rg.expire(time.Now(), &s.evicted))
	return rg.last(n)
}

// arm schedules the next sweep if none is.
func (s *MemoryHistory) arm() {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.timer == nil && !s.closed {
		s.timer = time.AfterFunc(s.o.every, s.sweep)
	}
}

// sweep applies the Age bound and the idle TTL to every ring and shrinks
// the rings that emptied, then schedules the next sweep while rings are
// left. It runs on a timer's goroutine; an idle store runs none.
func (s *MemoryHistory) sweep() {
	now := time.Now()
	var rings []*ring
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, rg := range sh.rings {
			rings = append(rings, rg)
		}
		sh.mu.Unlock()
		for _, rg := range rings {
			rg.mu.Lock()
			if rg.dead() {
				rg.mu.Unlock()
				continue
			}
			delta := rg.expire(now, &s.evicted)
			delta += rg.shrink()
			used := rg.used.Load()
			rg.mu.Unlock()
			s.cost.Add(delta)
			if now.Sub(time.Unix(0, used)) > s.o.idleTTL {
				s.drop(rg, used, EvictIdle)
			}
		}
		rings = rings[:0]
	}
	s.tmu.Lock()
	defer s.tmu.Unlock()
	s.timer = nil
	if !s.closed && s.topics.Load() > 0 {
		s.timer = time.AfterFunc(s.o.every, s.sweep)
	}
}

// drop removes rg whole when its topic has no local subscriber and rg was
// not used since used; it reports whether it did.
func (s *MemoryHistory) drop(rg *ring, used int64, cause int) bool {
	if s.d.Subscribed(rg.topic) {
		return false
	}
	sh := s.shard(rg.topic)
	sh.mu.Lock()
	rg.mu.Lock()
	if rg.dead() || rg.used.Load() != used || sh.rings[rg.topic] != rg {
		rg.mu.Unlock()
		sh.mu.Unlock()
		return false
	}
	freed, n := rg.cost(), rg.n
	rg.ret = nil // dead
	delete(sh.rings, rg.topic)
	rg.mu.Unlock()
	sh.mu.Unlock()
	s.cost.Add(-freed)
	s.topics.Add(-1)
	s.evicted[cause].Add(uint64(n))
	s.dropped[cause].Add(1)
	s.d.Forget(rg.topic)
	return true
}

// evictSample is how many rings an eviction compares to find the least
// recently used; evictTries bounds the rings one eviction visits.
const (
	evictSample = 16
	evictTries  = 64
)

// evict brings the store back under its budget (with a sixteenth to
// spare, so that it does not run at every write): the least recently used
// of a sample of rings loses its oldest broadcasts, and is dropped whole
// once empty if its topic has no subscriber. A writer that finds another
// eviction running goes on.
func (s *MemoryHistory) evict() {
	// The evictor looks at the cost again after letting go, so that what a
	// writer added while it held the lock (and went on) is not left over.
	for s.cost.Load() > s.o.budget {
		if !s.evicting.TryLock() {
			return
		}
		progress := s.evictLocked()
		s.evicting.Unlock()
		if !progress {
			return
		}
	}
}

// evictLocked is evict's work, under evicting; it reports whether it
// freed anything.
func (s *MemoryHistory) evictLocked() bool {
	start := s.cost.Load()
	target := s.o.budget - s.o.budget/16
	for range evictTries {
		if s.cost.Load() <= target {
			break
		}
		rg := s.victim()
		if rg == nil {
			break
		}
		rg.mu.Lock()
		if rg.dead() {
			rg.mu.Unlock()
			continue
		}
		var delta int64
		for rg.n > 0 && s.cost.Load()+delta > target {
			delta -= int64(rg.drop())
			s.evicted[EvictBudget].Add(1)
		}
		delta += rg.shrink()
		empty, used := rg.n == 0, rg.used.Load()
		rg.mu.Unlock()
		s.cost.Add(delta)
		if empty {
			s.drop(rg, used, EvictBudget)
		}
	}
	return s.cost.Load() < start
}

// victim returns the least recently used of a sample of rings: a few
// from each of a few shards, from a random one on (a map's iteration
// starts at a random place too).
func (s *MemoryHistory) victim() *ring {
	var best *ring
	var bestUsed int64
	first := rand.IntN(shardCount)
	seen := 0
	for i := 0; i < shardCount && seen < evictSample; i++ {
		sh := &s.shards[(first+i)%shardCount]
		sh.mu.Lock()
		k := 0
		for _, rg := range sh.rings {
			if k == evictSample/4 {
				break
			}
			k++
			if u := rg.used.Load(); best == nil || u < bestUsed {
				best, bestUsed = rg, u
			}
		}
		sh.mu.Unlock()
		seen += k
	}
	return best
}

// ring is one topic's history in memory. Every recoverable room has one
// from its first join, so it is kept within 112 bytes: its cost is worked
// out from its fields, not kept, and a dropped ring is marked by letting go
// of its Retention, not by a flag of its own.
type ring struct {
	topic string // immutable
	epoch string // immutable
	mu    sync.Mutex
	// mu guards the rest, and is held while a broadcast is given its
	// position and delivered, so positions follow delivery order.
	// ret is shared with the rings of the same Retention; nil once the
	// ring is dropped from the store (dead).
	ret   *Retention
	head  uint64  // last position given
	buf   []entry // len is the capacity; n entries from start
	start int
	n     int
	bytes int // payload and event bytes of the entries (the Retention's Bytes)
	// used is the unix time in nanoseconds of the last write or recovery:
	// written under mu, read by the eviction's sampling without it.
	used atomic.Int64
}

// cost is what the ring is accounted in the budget: ringCost +
// 2·len(topic) + len(epoch) + len(buf)·entryCost + bytes. Under mu, or
// before the ring is shared.
func (rg *ring) cost() int64 {
	return ringCost + int64(2*len(rg.topic)+len(rg.epoch)) + int64(len(rg.buf))*entryCost + int64(rg.bytes)
}

// dead reports whether the ring was dropped from the store: whoever holds
// it makes it anew. Under mu.
func (rg *ring) dead() bool { return rg.ret == nil }

type entry struct {
	seq     uint64
	at      time.Time
	event   string
	payload protocol.Payload
	size    int
}

// What the budget counts for a ring besides its payloads: the ring, its
// epoch and topic, its entries in the store's map and in the PubSub's
// count of kept topics (a map entry with its share of the buckets is
// about 64 bytes, and the topic string is held by both), and a slot per
// entry of its buffer.
var (
	ringCost  = int64(unsafe.Sizeof(ring{})) + 2*64
	entryCost = int64(unsafe.Sizeof(entry{}))
)

// retKey is a Retention, comparable.
type retKey struct {
	count, bytes int
	age          time.Duration
	events       string // the events, each followed by a NUL
}

// retention returns the store's copy of r.
func (s *MemoryHistory) retention(r Retention) *Retention {
	k := retKey{count: r.Count, bytes: r.Bytes, age: r.Age}
	if len(r.Events) > 0 {
		var b strings.Builder
		for _, e := range r.Events {
			b.WriteString(e)
			b.WriteByte(0)
		}
		k.events = b.String()
	}
	if v, ok := s.rets.Load(k); ok {
		return v.(*Retention)
	}
	r.Events = slices.Clone(r.Events) // the caller's slice may change
	v, _ := s.rets.LoadOrStore(k, &r)
	return v.(*Retention)
}

func newRing(topic string, r *Retention) *ring {
	rg := &ring{topic: topic, epoch: newEpoch(), ret: r}
	rg.used.Store(time.Now().UnixNano())
	return rg
}

func (rg *ring) at(i int) *entry { return &rg.buf[(rg.start+i)%len(rg.buf)] }

// push appends e, making room as the Retention's Count says.
func (rg *ring) push(e entry, evicted *[numEvictCauses]atomic.Uint64) {
	if rg.ret.Count > 0 && rg.n == rg.ret.Count {
		rg.drop()
		evicted[EvictLimit].Add(1)
	}
	if rg.n == len(rg.buf) {
		rg.resize(max(2*len(rg.buf), 4))
	}
	*rg.at(rg.n) = e
	rg.n++
	rg.bytes += e.size
}

// resize gives the buffer c slots (at most Count, at least n), keeping
// the order.
func (rg *ring) resize(c int) {
	if rg.ret.Count > 0 {
		c = min(c, rg.ret.Count)
	}
	c = max(c, rg.n)
	buf := make([]entry, c)
	for i := range rg.n {
		buf[i] = *rg.at(i)
	}
	rg.buf, rg.start = buf, 0
}

// shrink halves the buffer while a quarter of it or less is used, and
// frees it when empty; it returns the change in cost.
func (rg *ring) shrink() int64 {
	before := rg.cost()
	switch {
	case rg.n == 0 && len(rg.buf) > 0:
		rg.buf, rg.start = nil, 0
	case len(rg.buf) > 4 && rg.n <= len(rg.buf)/4:
		c := len(rg.buf)
		for c > 4 && rg.n <= c/4 {
			c /= 2
		}
		rg.resize(c)
	}
	return rg.cost() - before
}

// drop forgets the oldest entry and returns its size.
func (rg *ring) drop() int {
	e := rg.at(0)
	size := e.size
	rg.bytes -= size
	*e = entry{}
	rg.start = (rg.start + 1) % len(rg.buf)
	rg.n--
	return size
}

// expire drops the entries past the Bytes and Age bounds and returns the
// change in cost.
func (rg *ring) expire(now time.Time, evicted *[numEvictCauses]atomic.Uint64) int64 {
	before := rg.cost()
	for rg.n > 0 && rg.ret.Bytes > 0 && rg.bytes > rg.ret.Bytes {
		rg.drop()
		evicted[EvictLimit].Add(1)
	}
	if rg.ret.Age > 0 {
		for rg.n > 0 && now.Sub(rg.at(0).at) > rg.ret.Age {
			rg.drop()
			evicted[EvictAge].Add(1)
		}
	}
	return rg.cost() - before
}

// record gives b the next position of the ring and keeps it. The caller
// holds mu and delivers the returned broadcast before releasing it.
func (rg *ring) record(b Broadcast, now time.Time, evicted *[numEvictCauses]atomic.Uint64) (Broadcast, error) {
	pos := Position{Epoch: rg.epoch, Seq: rg.head + 1}
	var q [40]byte
	p, err := protocol.WithMember(b.Payload, PositionKey, protocol.AppendString(q[:0], pos.String()))
	if err != nil {
		return b, fmt.Errorf("topics: %q keeps a history: %w", b.Topic, err)
	}
	rg.head++
	rg.used.Store(now.UnixNano())
	b.Payload, b.Seq = p, rg.head
	rg.push(entry{seq: rg.head, at: now, event: b.Event, payload: p, size: len(b.Event) + len(p.Bytes())}, evicted)
	rg.expire(now, evicted)
	return b, nil
}

// last returns the newest n entries as broadcasts, oldest first.
func (rg *ring) last(n int) []Broadcast {
	n = min(n, rg.n)
	out := make([]Broadcast, n)
	for i := range n {
		e := rg.at(rg.n - n + i)
		out[i] = Broadcast{Topic: rg.topic, Event: e.event, Payload: e.payload, Seq: e.seq}
	}
	return out
}
