package presence

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Tracker holds this node's presences and broadcasts their diffs.
type Tracker struct {
	b    Broadcaster
	opts options
	log  zerolog.Logger

	nodeHash uint16
	seq      atomic.Uint32

	mu         sync.Mutex              // guards the fields below
	topics     map[string]*topicState  // topic → its presences
	owners     map[string]tk           // owner → the first thing it tracks (most track one)
	ownersMore map[string][]tk         // owner → the rest, in track order, for an owner tracking more
	pending    map[string]*pendingDiff // topic → changes not yet broadcast
	pendingSeq uint64                  // pendingDiff.seq of the last topic added to pending
	due        []string                // topics to broadcast at once (no window open)
	windows    map[string]*time.Timer  // topic → its open coalescing window
	published  map[string]*published   // topic → its published view, once asked for
	closed     bool
	entries    int // presences in topics, this node's and replicas'

	// Replication (nil repl: this node only). Guarded by mu: version,
	// outbox, replicas.
	repl     *replication
	inc      int64               // this tracker's incarnation
	version  uint64              // count of this node's changes
	outbox   []wireOp            // changes not yet sent to peers
	replicas map[string]*replica // other nodes by name
	stop     chan struct{}       // closed by Close to end run

	emitMu  sync.Mutex    // serialises broadcasts so diffs leave in change order
	encodes atomic.Uint64 // listings encoded (see Stats)
	wg      sync.WaitGroup
}

// tk names one (topic, key) pair.
type tk struct{ topic, key string }

type entry struct {
	node  *string // owning node's name for a replicated entry (its replica's own); nil for this node's
	owner string
	meta  meta // never modified after it is stored
}

// replica is the name of the node that owns the entry, "" for this node.
// A pointer to the name, not the name, keeps the entry at 64 bytes.
func (e *entry) replica() string {
	if e.node == nil {
		return ""
	}
	return *e.node
}

// New returns a tracker that broadcasts diffs through b.
func New(b Broadcaster, opts ...Option) (*Tracker, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.coalescePerKey > 0 && (o.coalesce == 0 || o.coalesceMax < o.coalesce) {
		return nil, errors.New("presence: WithCoalesceGrowth needs WithCoalesce, and a maximum no shorter than its period")
	}
	if o.node == "" {
		if o.nc != nil {
			return nil, errors.New("presence: WithNATS needs a unique WithNode name")
		}
		o.node, _ = os.Hostname()
	}
	h := fnv.New32a()
	h.Write([]byte(o.node))
	sum := h.Sum32()
	t := &Tracker{
		b:          b,
		opts:       o,
		log:        o.logger.With().Str("component", "presence").Str("node", o.node).Logger(),
		nodeHash:   uint16(sum>>16) ^ uint16(sum),
		topics:     map[string]*topicState{},
		owners:     map[string]tk{},
		ownersMore: map[string][]tk{},
		pending:    map[string]*pendingDiff{},
		windows:    map[string]*time.Timer{},
		published:  map[string]*published{},
		inc:        time.Now().UnixNano(),
		replicas:   map[string]*replica{},
		stop:       make(chan struct{}),
	}
	if o.nc != nil || o.transport != nil {
		t.repl = &replication{
			tr:          o.transport,
			deltaEvery:  o.deltaEvery,
			beatEvery:   o.beatEvery,
			downAfter:   o.downAfter,
			forgetAfter: o.forgetAfter,
			chunkSize:   500,
			now:         time.Now,
		}
		if o.nc != nil {
			tr, err := newNATSTransport(t, o.nc, o.prefix)
			if err != nil {
				return nil, err
			}
			t.repl.tr = tr
		}
		if !o.manual {
			t.wg.Add(1)
			go t.run()
		}
	}
	return t, nil
}

// lockOpen locks mu and reports true while the tracker is open; once it
// is closed it leaves mu unlocked and reports false.
func (t *Tracker) lockOpen() bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	return true
}

// newRef returns a fresh phx_ref: 12 bytes (nanosecond clock, node hash,
// counter) in unpadded URL-safe base64, 16 characters.
func (t *Tracker) newRef() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint16(b[8:10], t.nodeHash)
	binary.BigEndian.PutUint16(b[10:12], uint16(t.seq.Add(1)))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Track adds a presence for key on topic, owned by owner, and returns its
// phx_ref. Tracking the same (owner, topic, key) twice is ErrAlreadyTracked.
func (t *Tracker) Track(owner, topic, key string, meta Meta) (string, error) {
	return t.track(owner, topic, key, meta, nil)
}

// TrackAndList is Track for a joiner that is subscribed to topic and is
// about to be sent the list: list gets the topic's Listing, exactly once.
// When the change goes out at once (the topic was quiet), list runs after
// the topic's list has taken the new presence and before its diff is
// broadcast, so that the joiner's presence_state is queued ahead of the
// diff to everyone else; inside an open window it runs once the presence
// is tracked, with the list as it stands. list must not block or call the
// tracker. It is not called when tracking fails.
func (t *Tracker) TrackAndList(owner, topic, key string, meta Meta, list func(Listing, error)) (string, error) {
	return t.track(owner, topic, key, meta, list)
}

func (t *Tracker) track(owner, topic, key string, meta Meta, list func(Listing, error)) (string, error) {
	if owner == "" || topic == "" || key == "" {
		return "", ErrInvalid
	}
	ref := t.newRef()
	m := withRef(meta, ref, "")
	if !t.lockOpen() {
		return "", ErrClosed
	}
	ts := t.topics[topic]
	if ts == nil {
		ts = &topicState{}
		t.topics[topic] = ts
	}
	for _, e := range ts.get(key) {
		if e.node == nil && e.owner == owner {
			t.mu.Unlock()
			return "", ErrAlreadyTracked
		}
	}
	ts.set(key, append(ts.get(key), entry{owner: owner, meta: m}))
	t.entries++
	t.recordLocked(topic, key, owner, &m)
	// Not tracked yet (checked above), so not in owners either.
	t.ownLocked(owner, tk{topic, key})
	t.noteLocked(topic, key, &m, nil)
	t.mu.Unlock()
	if list == nil {
		t.afterChange()
		return ref, nil
	}
	if !t.afterChangeListing(topic, list) {
		list(t.Listing(topic))
	}
	return ref, nil
}

// Update replaces the meta of owner's presence for key on topic and returns
// the new phx_ref; the new meta carries phx_ref_prev. It is ErrNotTracked
// when there is no such presence.
func (t *Tracker) Update(owner, topic, key string, meta Meta) (string, error) {
	if owner == "" || topic == "" || key == "" {
		return "", ErrInvalid
	}
	ref := t.newRef()
	if !t.lockOpen() {
		return "", ErrClosed
	}
	ts := t.topics[topic]
	if ts == nil {
		t.mu.Unlock()
		return "", ErrNotTracked
	}
	entries := ts.get(key)
	for i, e := range entries {
		if e.node != nil || e.owner != owner {
			continue
		}
		m := withRef(meta, ref, e.meta.Ref())
		entries[i].meta = m
		t.recordLocked(topic, key, owner, &m)
		t.noteLocked(topic, key, &m, &e.meta)
		t.mu.Unlock()
		t.afterChange()
		return ref, nil
	}
	t.mu.Unlock()
	return "", ErrNotTracked
}

// Untrack removes owner's presence for key on topic; it is a no-op when
// there is none.
func (t *Tracker) Untrack(owner, topic, key string) error {
	if !t.lockOpen() {
		return ErrClosed
	}
	changed := t.removeLocked(owner, topic, key)
	t.mu.Unlock()
	if changed {
		t.afterChange()
	}
	return nil
}

// UntrackAll removes every presence owner has on every topic. It is what
// runs when a channel stops.
func (t *Tracker) UntrackAll(owner string) {
	if !t.lockOpen() {
		return
	}
	changed := false
	for _, p := range t.ownedLocked(owner) {
		changed = t.removeLocked(owner, p.topic, p.key) || changed
	}
	t.mu.Unlock()
	if changed {
		t.afterChange()
	}
}

// removeLocked drops one presence and records the leave; t.mu must be held.
func (t *Tracker) removeLocked(owner, topic, key string) bool {
	old, ok := t.dropEntryLocked("", topic, key, owner)
	if !ok {
		return false
	}
	t.recordLocked(topic, key, owner, nil)
	t.disownLocked(owner, tk{topic, key})
	t.noteLocked(topic, key, nil, &old)
	return true
}

// The owners' index keeps an owner's first (topic, key) as a map value
// and the rest, if any, in a second map: most owners (a channel) track one
// presence, and a slice of one of its own would cost each of them more
// than the map's wider slot. t.mu must be held by all three.

// ownLocked adds p, which owner does not track yet, to owner's list.
func (t *Tracker) ownLocked(owner string, p tk) {
	if _, ok := t.owners[owner]; ok {
		t.ownersMore[owner] = append(t.ownersMore[owner], p)
		return
	}
	t.owners[owner] = p
}

// disownLocked removes p from owner's list, which keeps its order.
func (t *Tracker) disownLocked(owner string, p tk) {
	first, ok := t.owners[owner]
	if !ok {
		return
	}
	more := t.ownersMore[owner]
	if first == p {
		if len(more) == 0 {
			delete(t.owners, owner)
			return
		}
		t.owners[owner] = more[0]
		more = slices.Delete(more, 0, 1)
	} else {
		more = slices.DeleteFunc(more, func(q tk) bool { return q == p })
	}
	if len(more) > 0 {
		t.ownersMore[owner] = more
	} else {
		delete(t.ownersMore, owner)
	}
}

// ownedLocked returns a copy of what owner tracks, in track order.
func (t *Tracker) ownedLocked(owner string) []tk {
	first, ok := t.owners[owner]
	if !ok {
		return nil
	}
	return append([]tk{first}, t.ownersMore[owner]...)
}

// dropEntryLocked removes the entry of (replica, owner) under topic and key
// from the visible state and returns its meta; t.mu must be held.
func (t *Tracker) dropEntryLocked(replica, topic, key, owner string) (meta, bool) {
	ts := t.topics[topic]
	if ts == nil {
		return meta{}, false
	}
	entries := ts.get(key)
	for i, e := range entries {
		if e.replica() != replica || e.owner != owner {
			continue
		}
		entries = append(entries[:i:i], entries[i+1:]...)
		t.entries--
		if len(entries) == 0 {
			ts.del(key)
			if ts.len() == 0 {
				delete(t.topics, topic)
			}
		} else {
			ts.set(key, entries)
		}
		return e.meta, true
	}
	return meta{}, false
}

// putEntryLocked adds or replaces the entry of (node, owner) under topic
// and key, node being the owning replica's name; t.mu must be held.
func (t *Tracker) putEntryLocked(node *string, topic, key, owner string, m meta) {
	ts := t.topics[topic]
	if ts == nil {
		ts = &topicState{}
		t.topics[topic] = ts
	}
	entries := ts.get(key)
	for i, e := range entries {
		if e.replica() == *node && e.owner == owner {
			entries[i].meta = m
			return
		}
	}
	ts.set(key, append(entries, entry{node: node, owner: owner, meta: m}))
	t.entries++
}

// List returns the presences on topic (an empty State when there are none),
// passed through the fetch function.
func (t *Tracker) List(topic string) State {
	t.mu.Lock()
	s := State{}
	if ts := t.topics[topic]; ts != nil {
		for k, entries := range ts.all() {
			s[k] = presenceOf(entries)
		}
	}
	t.mu.Unlock()
	return t.fetch(topic, s)
}

// Get returns key's presence on topic, passed through the fetch function,
// and whether it exists.
func (t *Tracker) Get(topic, key string) (Entry, bool) {
	t.mu.Lock()
	var entries []entry
	if ts := t.topics[topic]; ts != nil {
		entries = ts.get(key)
	}
	if len(entries) == 0 {
		t.mu.Unlock()
		return Entry{}, false
	}
	s := State{key: presenceOf(entries)}
	t.mu.Unlock()
	s = t.fetch(topic, s)
	p, ok := s[key]
	return p, ok
}

// TopicCount is a topic with presences and how many: keys (users, say)
// and metas (one per owner tracking a key, so one per tab).
type TopicCount struct {
	Topic string
	Keys  int
	Metas int
}

// Topics returns the topics that have presences, this node's and the
// replicated ones, sorted by name.
func (t *Tracker) Topics() []TopicCount {
	t.mu.Lock()
	out := make([]TopicCount, 0, len(t.topics))
	for name, ts := range t.topics {
		if ts.len() > 0 {
			out = append(out, TopicCount{Topic: name, Keys: ts.len(), Metas: ts.metas})
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b TopicCount) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// Count returns the number of presences (metas) tracked on topic.
func (t *Tracker) Count(topic string) int { return t.Counts(topic).Metas }

// Counts returns how many keys and metas topic has now, this node's and
// the replicated ones, without listing them; it costs the same in a room
// of ten and of ten thousand.
func (t *Tracker) Counts(topic string) TopicCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := TopicCount{Topic: topic}
	if ts := t.topics[topic]; ts != nil {
		c.Keys, c.Metas = ts.len(), ts.metas
	}
	return c
}

// Close broadcasts the pending diffs and refuses further changes. Presences
// already tracked stay listed.
func (t *Tracker) Close() error {
	if !t.lockOpen() {
		return nil
	}
	t.closed = true
	for topic, w := range t.windows {
		if w.Stop() {
			t.wg.Done()
		}
		delete(t.windows, topic)
	}
	t.mu.Unlock()
	close(t.stop)
	t.wg.Wait()
	if t.repl != nil {
		t.repl.tr.broadcast(&wireMsg{Kind: kindBye, Node: t.opts.node, Inc: t.inc})
		t.repl.tr.close()
	}
	t.flushAll()
	return nil
}

func presenceOf(entries []entry) Entry {
	metas := make([]Meta, len(entries))
	for i := range entries {
		metas[i] = entries[i].meta.Meta()
	}
	return Entry{Metas: metas}
}

func (t *Tracker) fetch(topic string, s State) State {
	if t.opts.fetch == nil || len(s) == 0 {
		return s
	}
	out := t.opts.fetch(topic, s)
	if out == nil {
		return State{}
	}
	return out
}
