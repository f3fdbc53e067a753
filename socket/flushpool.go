package socket

import (
	"sync"
	"time"
)

// flushPool writes for connections whose writers are idle when a frame
// comes. A broadcast to a thousand quiet connections used to start a
// thousand flusher goroutines, one per connection, each living for one
// write; through the pool it starts one, which writes every connection's
// frames in turn with a non-blocking write each. A connection whose
// socket cannot take everything at once, or which is closing, moves to a
// flusher goroutine of its own (writer.flush), which may wait.
//
// Workers start on demand and end as soon as no writer waits, so an idle
// handler holds none; a worker starts when none runs, and more (up to
// GOMAXPROCS) while the waiting list outgrows what those running can
// take soon, so a large broadcast still spreads over the CPUs.
//
// With a write delay, a writer is written no sooner than delay after it
// joined the list, so frames that come meanwhile share its write. The
// delay is the same for every writer, so the list stays in the order of
// those times and a worker only ever waits for its head.
type flushPool struct {
	wg    *sync.WaitGroup // the handler's goroutine group
	delay time.Duration   // set before the first add
	max   int             // workers at most: GOMAXPROCS when the handler was made

	mu sync.Mutex
	// prompt holds writers that joined the pool for a frame meant for
	// their client alone (a reply, a channel's push: protocol.Frame's
	// Prompt), fanout those that joined for broadcasts; guarded by mu.
	prompt, fanout writerList
	// promptRun counts the prompt writers written in a row while fanout
	// writers waited; guarded by mu.
	promptRun int
	waiting   int // writers in the lists; guarded by mu
	workers   int // workers running; guarded by mu
}

// A writer with a prompt frame is written before the writers that wait
// for broadcasts: a broadcast to a big room queues every subscriber's
// writer at once, and a joiner's reply and presence_state, or the answer
// to a client's push, would otherwise wait behind all of them. Each
// connection keeps its one queue, so no frame of a connection overtakes
// another of the same connection: only connections are reordered. After
// maxPromptRun prompt writers in a row, one fan-out writer goes, so that
// a stream of replies cannot hold broadcasts back for good.
const maxPromptRun = 32

// poolBacklog is how many waiting writers each running worker is expected
// to clear before another worker is worth its start.
const poolBacklog = 256

// writerList is a list of writers linked through writer.nextReady; the
// pool's mu guards it.
type writerList struct{ head, tail *writer }

func (l *writerList) push(w *writer) {
	if l.tail == nil {
		l.head = w
	} else {
		l.tail.nextReady = w
	}
	l.tail = w
}

func (l *writerList) pop() *writer {
	w := l.head
	l.head, w.nextReady = w.nextReady, nil
	if l.head == nil {
		l.tail = nil
	}
	return w
}

// add queues w, whose flushing role its caller holds (w.running), to be
// written by a worker: among the prompt writers if it has a prompt frame
// queued. The caller holds w.mu: the lock order is w.mu, then the pool's.
func (p *flushPool) add(w *writer) {
	if p.delay > 0 {
		w.readyAt = monoNow() + int64(p.delay)
	}
	p.mu.Lock()
	if w.prompt {
		p.prompt.push(w)
	} else {
		p.fanout.push(w)
	}
	p.waiting++
	start := p.workers == 0 || (p.waiting > p.workers*poolBacklog && p.workers < p.max)
	if start {
		p.workers++
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

// next takes the writer to write, or ends the worker (false) if there is
// none: the first prompt writer, unless maxPromptRun of them went in a
// row while fan-out writers waited, else the first fan-out writer. With a
// delay it may first report how long it has still to wait (wait > 0, no
// writer); a list whose head is not due yet gives way to the other.
func (p *flushPool) next() (w *writer, wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prompt.head == nil && p.fanout.head == nil {
		p.workers--
		return nil, 0, false
	}
	first, second := &p.prompt, &p.fanout
	if first.head == nil || (p.promptRun >= maxPromptRun && second.head != nil) {
		first, second = second, first
	}
	l := first
	if p.delay > 0 {
		now := monoNow()
		d := first.head.readyAt - now
		if d > 0 && second.head != nil {
			if d2 := second.head.readyAt - now; d2 <= 0 {
				l, d = second, 0
			} else {
				d = min(d, d2)
			}
		}
		if d > 0 {
			return nil, time.Duration(d), true
		}
	}
	switch {
	case l == &p.fanout:
		p.promptRun = 0
	case p.fanout.head != nil:
		p.promptRun++
	}
	p.waiting--
	return l.pop(), 0, true
}

func (p *flushPool) work() {
	defer p.wg.Done()
	var a nowWrite
	var timer *time.Timer
	for {
		w, wait, ok := p.next()
		switch {
		case !ok:
			return
		case w == nil:
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			<-timer.C
		default:
			w.poolFlush(&a)
		}
	}
}

// epoch is where monoNow counts from.
var epoch = time.Now()

// monoNow is monotonic time in nanoseconds.
func monoNow() int64 { return int64(time.Since(epoch)) }

// mono is t on monoNow's scale, for a t that has a monotonic reading.
func mono(t time.Time) int64 { return int64(t.Sub(epoch)) }
