package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// recorder is a MessageInvoker that records what it is given; a user
// message equal to "boom" panics.
type recorder struct {
	mu        sync.Mutex
	got       []any
	escalated []any
	hook      func(any)
	done      chan struct{}
	want      int
}

func (r *recorder) add(m any) {
	r.mu.Lock()
	r.got = append(r.got, m)
	n := len(r.got)
	r.mu.Unlock()
	if r.hook != nil {
		r.hook(m)
	}
	if r.done != nil && n == r.want {
		close(r.done)
	}
}

func (r *recorder) InvokeSystemMessage(m any) { r.add(m) }

func (r *recorder) InvokeUserMessage(m any) {
	if m == "boom" {
		panic("boom")
	}
	r.add(m)
}

func (r *recorder) EscalateFailure(reason, m any) {
	r.mu.Lock()
	r.escalated = append(r.escalated, reason, m)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.got...)
}

// heldDispatcher runs nothing until it is told to: it makes the order of
// what was queued before a pass observable.
type heldDispatcher struct {
	mu  sync.Mutex
	fns []func()
}

func (d *heldDispatcher) Schedule(fn func()) { d.mu.Lock(); d.fns = append(d.fns, fn); d.mu.Unlock() }
func (d *heldDispatcher) Throughput() int    { return 3 }
func (d *heldDispatcher) runAll() {
	for {
		d.mu.Lock()
		fns := d.fns
		d.fns = nil
		d.mu.Unlock()
		if len(fns) == 0 {
			return
		}
		for _, fn := range fns {
			fn()
		}
	}
}

func TestMailboxSystemFirstAndSuspension(t *testing.T) {
	r := &recorder{}
	d := &heldDispatcher{}
	m := newMailbox()
	m.RegisterHandlers(r, d)
	m.Start()

	m.PostUserMessage("u1")
	m.PostSystemMessage(&actor.SuspendMailbox{})
	m.PostUserMessage("u2")
	m.PostSystemMessage("s1")
	if n := m.UserMessageCount(); n != 2 {
		t.Fatalf("UserMessageCount = %d, want 2", n)
	}
	if len(d.fns) != 1 {
		t.Fatalf("%d passes scheduled, want 1", len(d.fns))
	}
	d.runAll()
	// Suspended before any user message ran: only the system message.
	if got := r.snapshot(); len(got) != 1 || got[0] != "s1" {
		t.Fatalf("while suspended got %v, want [s1]", got)
	}
	if n := m.UserMessageCount(); n != 2 {
		t.Fatalf("UserMessageCount while suspended = %d, want 2", n)
	}
	m.PostUserMessage("u3") // still suspended: schedules a pass that does nothing
	d.runAll()
	if got := r.snapshot(); len(got) != 1 {
		t.Fatalf("a user message ran while suspended: %v", got)
	}
	m.PostSystemMessage(&actor.ResumeMailbox{})
	d.runAll()
	want := []any{"s1", "u1", "u2", "u3"}
	got := r.snapshot()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if n := m.UserMessageCount(); n != 0 {
		t.Fatalf("UserMessageCount after = %d, want 0", n)
	}
	mb := m.(*mailbox)
	if mb.user != nil || mb.sys != nil {
		t.Fatal("a drained mailbox still holds its queues' slices")
	}
	if mb.state.Load()&mbRunning != 0 {
		t.Fatal("running flag left set after the last pass")
	}
}

func TestMailboxEscalatesAPanicWithItsMessage(t *testing.T) {
	r := &recorder{}
	d := &heldDispatcher{}
	m := newMailbox()
	m.RegisterHandlers(r, d)
	m.PostUserMessage("a")
	m.PostUserMessage("boom")
	m.PostUserMessage("b")
	d.runAll()
	r.mu.Lock()
	esc := append([]any(nil), r.escalated...)
	r.mu.Unlock()
	if len(esc) != 2 || esc[0] != "boom" || esc[1] != "boom" {
		t.Fatalf("escalated %v, want [boom boom]", esc)
	}
	// The failure ends the pass; unless the invoker suspends the mailbox
	// (protoactor's supervision does, with a system message), the next
	// pass goes on with what is queued.
	if got := r.snapshot(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("got %v, want [a b]", got)
	}
	if n := m.UserMessageCount(); n != 0 {
		t.Fatalf("UserMessageCount = %d, want 0", n)
	}
}

type batch []any

func (b batch) GetMessages() []any { return b }

func TestMailboxBatchIsSpread(t *testing.T) {
	r := &recorder{}
	d := &heldDispatcher{}
	m := newMailbox()
	m.RegisterHandlers(r, d)
	b := batch{"x", "y"}
	m.PostUserMessage(b)
	d.runAll()
	got := r.snapshot()
	if len(got) != 3 || got[0] != "x" || got[1] != "y" || got[2] == nil {
		t.Fatalf("got %v, want x, y, then the batch", got)
	}
}

// Many posters at once, on protoactor's own dispatcher: every message is
// handled once, each poster's in its order, one pass at a time.
func TestMailboxConcurrentPosters(t *testing.T) {
	const posters, each = 8, 2000
	var running, overlap int32
	var mu sync.Mutex
	last := make([]int, posters)
	bad := 0
	r := &recorder{want: posters * (each + each/97), done: make(chan struct{})}
	r.hook = func(m any) {
		if atomic.AddInt32(&running, 1) > 1 {
			atomic.AddInt32(&overlap, 1)
		}
		runtime.Gosched() // widen the window a second pass would need
		mu.Lock()
		if v := m.([2]int); v[1] > 0 { // a user message (system ones are negative)
			if v[1] != last[v[0]]+1 {
				bad++
			}
			last[v[0]] = v[1]
		}
		mu.Unlock()
		atomic.AddInt32(&running, -1)
	}
	m := newMailbox()
	m.RegisterHandlers(r, actor.NewDefaultDispatcher(5))
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= each; i++ {
				m.PostUserMessage([2]int{p, i})
				if i%97 == 0 {
					m.PostSystemMessage([2]int{p, -i})
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("handled %d of %d messages", len(r.snapshot()), r.want)
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap := atomic.LoadInt32(&overlap); overlap != 0 {
		t.Fatalf("%d messages ran while another was running", overlap)
	}
	if bad != 0 {
		t.Fatalf("%d user messages out of their poster's order", bad)
	}
}
