package channel

import (
	"sync"
	"time"
)

// CrashRecord is one channel crash as the crash log keeps it.
type CrashRecord struct {
	Time     time.Time
	Node     string
	SocketID string
	Topic    string
	JoinRef  string
	Callback string // join, handle_in, handle_out, handle_info, stop
	Event    string
	Panic    string // the panic value, formatted
	Stack    string
	// Decision is what the route's restart policy decided: "stop",
	// "restart", "stop: restart intensity exceeded", or "join refused"
	// for a crash in Join.
	Decision string
	Restarts int // restarts within the route policy's period, this one included
}

// CrashLog keeps the last crashes of an endpoint's channels in a ring of
// fixed size: the oldest record makes room for a new one, so a crash loop
// costs the log nothing more. It is safe for concurrent use.
type CrashLog struct {
	mu    sync.Mutex
	ring  []CrashRecord // guarded by mu; len == cap once full
	next  int           // where the next record goes once full; guarded by mu
	total uint64        // records ever added; guarded by mu
}

// DefaultCrashLogSize is the size of an endpoint's crash log.
const DefaultCrashLogSize = 50

// NewCrashLog returns a log of the last size crashes (at least 1).
func NewCrashLog(size int) *CrashLog {
	return &CrashLog{ring: make([]CrashRecord, 0, max(size, 1))}
}

// Add records a crash. A nil log records nothing.
func (l *CrashLog) Add(r CrashRecord) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total++
	if len(l.ring) < cap(l.ring) {
		l.ring = append(l.ring, r)
		return
	}
	l.ring[l.next] = r
	l.next = (l.next + 1) % len(l.ring)
}

// Last returns the records kept, newest first, and how many were ever
// added (more than were kept once the ring has wrapped).
func (l *CrashLog) Last() ([]CrashRecord, uint64) {
	if l == nil {
		return nil, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]CrashRecord, 0, len(l.ring))
	n := len(l.ring)
	for i := range n {
		// The newest is just before next (or at the end before the wrap).
		out = append(out, l.ring[(l.next-1-i+2*n)%n])
	}
	return out, l.total
}
