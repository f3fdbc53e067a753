package socket

import (
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// An idle WebSocket connection holds no goroutine: its reader, having read
// what there was, parks the connection with the idle poller and ends. The
// poller is one epoll instance of the process's, watched by one goroutine
// through the runtime's own poller (an epoll descriptor is itself
// pollable), that starts a reader goroutine for each connection that
// becomes readable. Three things can resume a parked reader, and the first
// one to claim it (wsReader.parked, a compare-and-swap) does:
//   - the poller: the socket has bytes, end of stream or an error;
//   - the poller's sweep, once the reader's read deadline has passed: the
//     read that follows times out, and the connection closes as idle. The
//     sweep runs every refresh period (refreshEvery of the shortest idle
//     timeout among the registered readers) while readers are registered,
//     and looks at each slot's deadline: a few bytes per connection
//     instead of a timer each, and at most a period late, the slack the
//     read deadline itself has;
//   - the connection's Close (batchConn.Close): closing a descriptor takes
//     it out of every epoll set without an event, so the closer resumes
//     the reader itself, whose read then fails.
//
// Registrations are made and changed only through the connection's
// syscall.RawConn (Control), while its descriptor is open: a descriptor
// number that a closed connection gave back and a new one got is never
// touched on the old one's behalf. Each registration carries the reader's
// slot and the slot's generation, so an event that was already on its way
// when a reader ended resumes nobody.
//
// The epoll instance lives while some reader is registered with it (from
// its first park until it ends): the last one to end closes it, which ends
// the poller's goroutine, and the next park makes a new one.

// idle is the process's idle poller.
var idle idlePoller

type idlePoller struct {
	mu    sync.Mutex
	file  *os.File // the epoll instance; nil while no reader is registered
	epfd  int      // file's descriptor (file.Fd would make it blocking)
	slots []*wsReader
	gens  []uint32 // each slot's generation, bumped when it is freed
	// each slot's read deadline while its reader is parked (monoNow), 0
	// once the sweep has resumed it or it is free
	deadlines []int64
	free      []uint32 // free slots
	n         int      // registered readers
	sweep     *time.Timer
	period    time.Duration // between sweeps
}

// The readiness a parked reader waits for: one event, then none until the
// reader parks again (EPOLLONESHOT).
const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// register gives r a slot, and the epoll instance it parks in; false if
// no epoll instance can be made. period is how late r's idle deadline
// may be noticed.
func (p *idlePoller) register(r *wsReader, period time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.file == nil {
		f, fd, err := newEpollFile()
		if err != nil {
			return false
		}
		rc, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return false
		}
		p.file, p.epfd = f, fd
		go p.run(rc)
	}
	var slot uint32
	if k := len(p.free); k > 0 {
		slot, p.free = p.free[k-1], p.free[:k-1]
	} else {
		slot = uint32(len(p.slots))
		p.slots, p.gens, p.deadlines = append(p.slots, nil), append(p.gens, 0), append(p.deadlines, 0)
	}
	p.slots[slot] = r
	r.slot, r.gen, r.epfd = slot, p.gens[slot], int32(p.epfd)
	p.n++
	switch {
	case p.sweep == nil:
		p.period = period
		p.sweep = time.AfterFunc(period, p.sweepDue)
	case period < p.period:
		p.period = period
		p.sweep.Reset(period)
	}
	return true
}

// parkUntil records when the parked reader r's read deadline passes.
func (p *idlePoller) parkUntil(r *wsReader, at int64) {
	p.mu.Lock()
	p.deadlines[r.slot] = at
	p.mu.Unlock()
}

// sweepDue resumes the parked readers whose read deadline has passed.
func (p *idlePoller) sweepDue() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return
	}
	now := monoNow()
	for i, at := range p.deadlines {
		if at != 0 && at <= now {
			p.deadlines[i] = 0
			p.slots[i].wake()
		}
	}
	p.sweep.Reset(p.period)
}

// newEpollFile makes a non-blocking epoll instance, which the runtime's
// poller then watches.
func newEpollFile() (*os.File, int, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, -1, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, -1, err
	}
	return os.NewFile(uintptr(fd), "pyre-idle-epoll"), fd, nil
}

// release frees r's slot once r has ended; the last reader closes the
// epoll instance.
func (p *idlePoller) release(r *wsReader) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slots[r.slot] = nil
	p.gens[r.slot]++
	p.deadlines[r.slot] = 0
	p.free = append(p.free, r.slot)
	p.n--
	if p.n == 0 {
		p.file.Close() // ends run
		p.sweep.Stop()
		p.file, p.sweep = nil, nil
		p.slots, p.gens, p.deadlines, p.free = nil, nil, nil, nil
	}
}

// run resumes the readers whose connections the epoll instance reports,
// until the instance is closed.
func (p *idlePoller) run(rc syscall.RawConn) {
	var evs [128]syscall.EpollEvent
	_ = rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), evs[:], 0)
			if err == syscall.EINTR {
				continue
			}
			if n <= 0 {
				return false // wait until the instance has events again
			}
			for i := range evs[:n] {
				p.fire(uint32(evs[i].Fd), uint32(evs[i].Pad))
			}
		}
	})
}

// fire resumes the reader of slot if it is still the one the event was
// registered for.
func (p *idlePoller) fire(slot, gen uint32) {
	p.mu.Lock()
	var r *wsReader
	if int(slot) < len(p.slots) && p.gens[slot] == gen {
		r = p.slots[slot]
	}
	p.mu.Unlock()
	if r != nil {
		r.wake()
	}
}

// arm registers r's connection for one readiness event. The caller then
// marks r parked and checks once more for bytes (see wsReader.park).
func (r *wsReader) arm() bool {
	if r.epfd < 0 && !idle.register(r, refreshEvery(r.c.s.h.opt.idleTimeout)) {
		return false
	}
	ev := syscall.EpollEvent{Events: parkEvents, Fd: int32(r.slot), Pad: int32(r.gen)}
	var err error
	cerr := r.w.bc.rc.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !r.added {
			op = syscall.EPOLL_CTL_ADD
		}
		err = syscall.EpollCtl(int(r.epfd), op, int(fd), &ev)
		if err == nil {
			r.added = true
		}
	})
	return cerr == nil && err == nil
}

// unregister undoes register once r has ended: its connection leaves the
// epoll set (if the connection is still open) and its slot is freed.
func (r *wsReader) unregister() {
	if r.epfd < 0 {
		return
	}
	if r.added {
		_ = r.w.bc.rc.Control(func(fd uintptr) {
			_ = syscall.EpollCtl(int(r.epfd), syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	idle.release(r)
	r.epfd = -1
}

// readable reports whether the connection has bytes, end of stream or an
// error waiting (a peek that consumes nothing), or is closed.
func (r *wsReader) readable() bool {
	var probe [1]byte
	ready := true
	_ = r.w.bc.rc.Control(func(fd uintptr) {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&probe[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		ready = errno != syscall.EAGAIN
	})
	return ready
}

// parkUntil records when the read deadline of the reader, about to
// park, passes: d from now.
func (r *wsReader) parkUntil(d time.Duration) {
	idle.parkUntil(r, monoNow()+int64(d))
}
