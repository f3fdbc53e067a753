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

	mu      sync.Mutex
	head    *writer // writers waiting, linked through writer.nextReady; guarded by mu
	tail    *writer // guarded by mu
	waiting int     // writers in the list; guarded by mu
	workers int     // workers running; guarded by mu
}

// poolBacklog is how many waiting writers each running worker is expected
// to clear before another worker is worth its start.
const poolBacklog = 256

// add queues w, whose flushing role its caller holds (w.running), to be
// written by a worker. The caller holds w.mu: the lock order is w.mu, then
// the pool's.
func (p *flushPool) add(w *writer) {
	if p.delay > 0 {
		w.readyAt = monoNow() + int64(p.delay)
	}
	p.mu.Lock()
	if p.tail == nil {
		p.head = w
	} else {
		p.tail.nextReady = w
	}
	p.tail = w
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

// next takes the first waiting writer, or ends the worker (false) if
// there is none. With a delay it may first report how long the head has
// still to wait (wait > 0, no writer).
func (p *flushPool) next() (w *writer, wait time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w = p.head
	if w == nil {
		p.workers--
		return nil, 0, false
	}
	if p.delay > 0 {
		if d := w.readyAt - monoNow(); d > 0 {
			return nil, time.Duration(d), true
		}
	}
	p.head, w.nextReady = w.nextReady, nil
	if p.head == nil {
		p.tail = nil
	}
	p.waiting--
	return w, 0, true
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
