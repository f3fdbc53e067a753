package socket

import (
	"bufio"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pyrehq/pyre/protocol"
)

// writer is a connection's single outbound path: a bounded queue of encoded
// frames drained by a flusher goroutine that runs only while there is work,
// so an idle connection holds no writer goroutine. Each drain writes every
// queued frame and hands them to the kernel in one write.
//
// Every idle connection holds one, so it is kept within 96 bytes: the
// logger is its socket's, reached through the connection's reader (only
// warnings need it), what a writer needs only now and then is in rare, and
// the flags share one word. The serializer stays here: every delivery of
// a fan-out asks for it, and the socket's struct is not otherwise touched
// then.
type writer struct {
	ws  *websocket.Conn
	bc  *batchConn
	ser protocol.Serializer
	// h gives the limits (the queue's bytes, the reader's frame, the write
	// timeout), the goroutine group flushers join, the flush histogram and
	// the flush pool, which writes for the writer while it has no flusher
	// of its own, if the connection takes non-blocking writes (pooled).
	h *Handler
	// nextReady links the pool's waiting list; guarded by the pool's mu.
	nextReady *writer
	// readyAt is when the pool may write, with a write delay (monoNow);
	// set by whoever holds the flushing role, before the writer joins
	// the list.
	readyAt int64

	mu     sync.Mutex
	queue  *frames     // taken from the pool by Send, nil while empty; guarded by mu
	queued int         // bytes in queue; guarded by mu
	rare   *writerRare // made on first use, then kept; guarded by mu

	pooled  bool // set before the writer is shared
	running bool // a flusher is active, or the pool has the writer; guarded by mu
	// prompt: the queue holds a Prompt frame (see flushPool); guarded by
	// mu, and read by the pool's add under it.
	prompt    bool
	closing   bool // no more frames are accepted; guarded by mu
	flushLast bool // write the queue before closing; guarded by mu
	slow      bool // closed as a slow consumer; guarded by mu
	// linger: the client may still be sending (the rest of a frame over
	// the limit), so the connection ends with a lingering close; guarded
	// by mu.
	linger bool
}

// writerRare is what a writer needs only now and then: most connections
// never have a batch written in part, and close once.
type writerRare struct {
	// rest is the unwritten end of a batch the pool wrote in part, in
	// segments; the flusher writes it before anything else.
	rest      [][]byte
	closeCode int // close frame to send (0: none)
	closeText string
}

// rareLocked returns the writer's writerRare, made if it has none.
func (w *writer) rareLocked() *writerRare {
	if w.rare == nil {
		w.rare = new(writerRare)
	}
	return w.rare
}

// hasRestLocked reports whether the end of a batch waits to be written.
func (w *writer) hasRestLocked() bool { return w.rare != nil && w.rare.rest != nil }

func (w *writer) Serializer() protocol.Serializer { return w.ser }

// logger is the connection's logger: its socket's, reached through the
// batchConn's reader, set before the writer is shared.
func (w *writer) logger() connLog { return w.bc.reader.c.s.logger() }

// QueuedBytes returns the bytes waiting to be written.
func (w *writer) QueuedBytes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

// Transport names the transport, for the socket's inspection.
func (*writer) Transport() string { return "websocket" }

// Send queues f without blocking. A frame that would take the queue past its
// byte limit closes the connection as a slow consumer.
func (w *writer) Send(f protocol.Frame) bool {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return false
	}
	if w.queued+f.Len() > w.h.opt.maxQueue {
		w.logger().Warn().Int("queued_bytes", w.queued).Msg("write queue overflow; closing slow connection")
		w.slow = true
		w.closeLocked(CloseSlowConsumer, "write queue overflow", false)
		w.mu.Unlock()
		return false
	}
	if w.queue == nil {
		w.queue = getFrames()
	}
	w.queue.f = append(w.queue.f, f)
	w.queued += f.Len()
	w.prompt = w.prompt || f.Prompt
	w.startLocked()
	w.mu.Unlock()
	return true
}

// Overflow closes the connection as a slow consumer.
func (w *writer) Overflow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closing {
		w.logger().Warn().Msg("channel mailbox overflow; closing slow connection")
		w.slow = true
		w.closeLocked(CloseSlowConsumer, "channel queue overflow", false)
	}
}

// Overflowed reports whether the writer closed the connection as a slow
// consumer.
func (w *writer) Overflowed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.slow
}

// Close stops accepting frames, writes what is queued, sends a close frame
// with code (none if code is 0) and closes the connection. Idempotent.
func (w *writer) Close(code int, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeLocked(code, text, true)
}

// lingerOnClose makes the coming close a lingering one (see
// batchConn.lingerClose): the reader calls it when it stops reading in
// the middle of a frame.
func (w *writer) lingerOnClose() {
	w.mu.Lock()
	w.linger = true
	w.mu.Unlock()
}

func (w *writer) closeLocked(code int, text string, flush bool) {
	if w.closing {
		return
	}
	w.closing = true
	w.flushLast = flush
	if code != 0 || text != "" {
		r := w.rareLocked()
		r.closeCode, r.closeText = code, text
	}
	if !flush && w.queue != nil {
		clear(w.queue.f)
		w.queue.f, w.queued = w.queue.f[:0], 0
	}
	w.startLocked()
}

func (w *writer) startLocked() {
	if !w.running {
		w.running = true
		if w.pooled && !w.closing {
			w.h.flushes.add(w)
			return
		}
		w.h.wg.Add(1)
		go w.flush()
	}
}

// takeLocked takes the whole queue to be written, counting its bytes in
// the flush histogram. The batch leaves the writer: the next Send takes a
// fresh queue from the pool, so an idle connection holds none.
func (w *writer) takeLocked() *frames {
	batch := w.queue
	if o := w.h.metrics.queueWS; o != nil {
		o.Observe(float64(w.queued))
	}
	w.queue, w.queued, w.prompt = nil, 0, false
	return batch
}

// handOffLocked moves the flushing role the pool held to a flusher
// goroutine of the writer's own.
func (w *writer) handOffLocked() {
	w.h.wg.Add(1)
	go w.flush()
}

// poolWriteShort, when set (by tests), is called each time a pool worker
// finds a socket that cannot take a whole batch.
var poolWriteShort func()

// poolFlush writes what is queued with one non-blocking write, on a pool
// worker. What the socket cannot take at once, a close, or an error goes
// on to the writer's own flusher.
func (w *writer) poolFlush(a *nowWrite) {
	w.mu.Lock()
	if w.closing || w.queue == nil || len(w.queue.f) == 0 {
		w.handOffLocked()
		w.mu.Unlock()
		return
	}
	batch := w.takeLocked()
	w.mu.Unlock()

	rest, err := w.bc.writeFramesNow(a, batch.f)
	putFrames(batch)

	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err != nil:
		if !w.closing {
			w.closeLocked(0, "", false)
		}
		w.handOffLocked()
	case rest != nil:
		w.rareLocked().rest = rest
		if poolWriteShort != nil {
			poolWriteShort()
		}
		w.handOffLocked()
	case w.closing:
		w.handOffLocked()
	case w.queue != nil && len(w.queue.f) > 0:
		w.h.flushes.add(w)
	default:
		w.running = false
	}
}

func (w *writer) flush() {
	defer w.h.wg.Done()
	for {
		w.mu.Lock()
		if w.hasRestLocked() {
			// The end of a frame the pool began: it goes first, and
			// whole, even if the connection is closing.
			rest := w.rare.rest
			w.rare.rest = nil
			w.mu.Unlock()
			err := w.bc.writeRaw(rest, w.h.opt.writeTimeout)
			w.mu.Lock()
			if err != nil && !w.closing {
				w.closeLocked(0, "", false)
			}
			w.mu.Unlock()
			continue
		}
		if w.queue == nil || len(w.queue.f) == 0 {
			if w.closing {
				code, text, linger := 0, "", w.linger
				if r := w.rare; r != nil {
					code, text = r.closeCode, r.closeText
				}
				w.mu.Unlock()
				w.finish(code, text, linger)
				return
			}
			w.running = false
			w.mu.Unlock()
			return
		}
		batch := w.takeLocked()
		w.mu.Unlock()

		err := w.writeBatch(batch.f)
		putFrames(batch)
		w.mu.Lock()
		if err != nil && !w.closing {
			w.closeLocked(0, "", false)
		}
		w.mu.Unlock()
	}
}

// writeBatch frames the batch straight into the connection's buffer and
// hands it to the kernel in one write. Data frames from server to client are
// a two- to ten-byte header and the payload (RFC 6455 §5.2, no mask), so
// framing them here saves gorilla's per-message locking; control frames
// (ping replies, close) still go through gorilla, which writes them
// through the same batchConn, whole.
func (w *writer) writeBatch(batch []protocol.Frame) error {
	return w.bc.writeFrames(batch, w.h.opt.writeTimeout)
}

func (w *writer) finish(code int, text string, linger bool) {
	if code != 0 {
		msg := websocket.FormatCloseMessage(code, text)
		_ = w.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	}
	if linger {
		w.bc.lingerClose(lingerTime, lingerBytes(w.h.opt.maxFrame))
	}
	// Closing the connection ends the reader, which tells the socket.
	_ = w.ws.Close()
}

// A close while the client is still sending ends the connection with
// unread data, and the kernel answers that with a reset, which can destroy
// the close frame on its way or in the client's buffers before the client
// reads it (the client sees 1006, not 1009). So the close lingers: the
// server's side is shut first, which sends everything written (the close
// frame last) and then end-of-stream; then what the client still sends is
// read and thrown away, in a small buffer, until the client closes its
// side in turn, lingerBytes have come, or lingerTime has passed. Only then
// is the connection closed.
const lingerTime = time.Second

// lingerBytes is the most a lingering close reads: a few frames' worth,
// so a client that sends without end costs little.
func lingerBytes(maxFrame int64) int64 { return 4 * max(maxFrame, 1<<20) }

// lingerClose is the lingering close above, on a connection whose frames
// have all been written. It returns once the connection can be closed.
func (b *batchConn) lingerClose(d time.Duration, limit int64) {
	hc, ok := b.Conn.(interface{ CloseWrite() error })
	if !ok || hc.CloseWrite() != nil {
		return
	}
	deadline := time.Now().Add(d)
	if b.Conn.SetReadDeadline(deadline) != nil {
		return
	}
	buf := make([]byte, 32<<10)
	var n int64
	for n < limit {
		k, err := b.Conn.Read(buf)
		n += int64(k)
		if err != nil {
			return // the client closed its side, or the time is up
		}
	}
	// The client sends on and on: give it the rest of the time to read
	// the close frame, without reading any more.
	t := time.NewTimer(time.Until(deadline))
	<-t.C
}

// Frame slices and batch buffers are pooled across connections, so that
// one that is idle holds neither.
var (
	framePool  sync.Pool // of *frames
	bufferPool sync.Pool // of *[]byte
)

const maxKeptFrames = 1024

// frames is a pooled frame queue. Pooled queues hold no frames: putFrames
// clears each batch once written.
type frames struct{ f []protocol.Frame }

func getFrames() *frames {
	if q, ok := framePool.Get().(*frames); ok {
		return q
	}
	return &frames{f: make([]protocol.Frame, 0, 8)}
}

// putFrames empties q, dropping its frames, and pools it unless it grew
// too large to keep.
func putFrames(q *frames) {
	if q == nil || cap(q.f) > maxKeptFrames {
		return
	}
	clear(q.f)
	q.f = q.f[:0]
	framePool.Put(q)
}

// batchConn is the connection under gorilla. Data frames reach it whole,
// a batch at a time, through writeFrames; gorilla's own writes (the
// handshake, pongs, the close frame) pass straight through. The mutex keeps
// the two from interleaving inside a frame.
type batchConn struct {
	net.Conn
	rc syscall.RawConn // for non-blocking writes; nil where unsupported
	mu sync.Mutex
	// deadlineSet is when writeFrames last set the write deadline
	// (monoNow; zero once anyone else has set one); guarded by mu.
	deadlineSet int64
	// reader is the connection's reader, which Close resumes if it is
	// parked with the idle poller; set before the connection is shared.
	reader *wsReader
	// rbuf is the read buffer the hijacker gives gorilla (see hijacker),
	// held here because the two live exactly as long as the connection.
	rbuf bufio.Reader
}

// Close closes the connection and resumes its reader if it is parked:
// a closed descriptor leaves the idle poller's set without an event.
func (b *batchConn) Close() error {
	err := b.Conn.Close()
	if b.reader != nil {
		b.reader.wake()
	}
	return err
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Conn.Write(p)
}

// SetWriteDeadline waits for a batch in progress, so that gorilla's short
// deadline for a control frame cannot cut a batch write short.
func (b *batchConn) SetWriteDeadline(t time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadlineSet = 0
	return b.Conn.SetWriteDeadline(t)
}

const maxKeptBuffer = 64 << 10

// WebSocket opcodes of data frames.
const (
	opText   = 0x1
	opBinary = 0x2
	finBit   = 0x80
)

// appendFrame appends one unmasked, final data frame.
func appendFrame(dst []byte, f protocol.Frame) []byte {
	return f.AppendTo(appendHeader(dst, f.Binary, f.Len()))
}

// appendHeader appends the header of a data frame of n bytes.
func appendHeader(dst []byte, binary bool, n int) []byte {
	op := byte(opText)
	if binary {
		op = opBinary
	}
	switch {
	case n < 126:
		dst = append(dst, finBit|op, byte(n))
	case n <= 0xffff:
		dst = append(dst, finBit|op, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, finBit|op, 127)
		dst = binary64(dst, uint64(n))
	}
	return dst
}

func binary64(dst []byte, v uint64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// writeFramesNow frames batch into a pooled buffer and makes one
// non-blocking write of it. rest is what the socket did not take (nil when
// it took everything), to be written by a goroutine that may wait.
func (b *batchConn) writeFramesNow(a *nowWrite, batch []protocol.Frame) (rest [][]byte, err error) {
	if hasBigPart(batch) {
		return b.writeSegmentsNow(a, batch)
	}
	p, buf := framed(batch)
	b.mu.Lock()
	n, err := a.write(b.rc, buf)
	b.mu.Unlock()
	if err == nil && n < len(buf) {
		rest = [][]byte{append([]byte(nil), buf[n:]...)}
	}
	release(p, buf)
	return rest, err
}

// hasBigPart reports whether a frame of batch has a part too big for the
// pooled buffers: a big room's presence_state, alone (a frame that is
// Data alone) or shared by every joiner's frame (protocol.SharedJSON).
func hasBigPart(batch []protocol.Frame) bool {
	for _, f := range batch {
		head, body, tail := f.Parts()
		if len(head) > maxKeptBuffer || len(body) > maxKeptBuffer || len(tail) > maxKeptBuffer {
			return true
		}
	}
	return false
}

// segment is a piece of a segmented batch: a piece of the pooled buffer,
// or a big part of a frame, written from the frame itself.
type segment struct {
	b     []byte
	frame bool // b is a frame's part, which nobody modifies; else the buffer's
}

// segmented frames batch as framed does, except that a frame's part too
// big for the pooled buffers is not copied: it becomes a segment of its
// own between the pieces of the buffer, which hold every header and the
// small parts. Release the buffer with release(p, buf).
func segmented(batch []protocol.Frame) (p *[]byte, buf []byte, segs []segment) {
	p = getBuffer()
	buf = (*p)[:0]
	segs = make([]segment, 0, 4)
	start := 0
	for _, f := range batch {
		buf = appendHeader(buf, f.Binary, f.Len())
		head, body, tail := f.Parts()
		for _, part := range [...][]byte{head, body, tail} {
			if len(part) <= maxKeptBuffer {
				buf = append(buf, part...)
				continue
			}
			// A segment keeps pointing at the array it was cut from
			// even if buf grows into a new one later.
			if start < len(buf) {
				segs = append(segs, segment{b: buf[start:len(buf):len(buf)]})
			}
			segs = append(segs, segment{b: part, frame: true})
			start = len(buf)
		}
	}
	if start < len(buf) {
		segs = append(segs, segment{b: buf[start:]})
	}
	return p, buf, segs
}

// writeSegmentsNow is writeFramesNow for a batch holding a part too big
// for the pooled buffers (a big room's presence_state): see segmented.
// The segments go out in order, one non-blocking write each, until one is
// not taken whole. What is left becomes rest: the pieces of the buffer
// copied, the frames' big parts as they are (nobody modifies them), so
// that a joiner's shared list is not copied even when the socket cannot
// take it at once.
func (b *batchConn) writeSegmentsNow(a *nowWrite, batch []protocol.Frame) (rest [][]byte, err error) {
	p, buf, segs := segmented(batch)
	b.mu.Lock()
	for i, seg := range segs {
		var n int
		if n, err = a.write(b.rc, seg.b); err != nil {
			break
		}
		if n < len(seg.b) {
			rest = make([][]byte, 0, len(segs)-i)
			for j, more := range segs[i:] {
				part := more.b
				if j == 0 {
					part = part[n:]
				}
				if !more.frame {
					part = append([]byte(nil), part...)
				}
				rest = append(rest, part)
			}
			break
		}
	}
	b.mu.Unlock()
	release(p, buf)
	return rest, err
}

func getBuffer() *[]byte {
	if p, ok := bufferPool.Get().(*[]byte); ok {
		return p
	}
	return new([]byte)
}

// framed frames batch into a buffer from the pool; release gives it back.
func framed(batch []protocol.Frame) (*[]byte, []byte) {
	p := getBuffer()
	buf := (*p)[:0]
	size := 0
	for _, f := range batch {
		size += f.Len() + 10 // the longest header of a server frame
	}
	if size > cap(buf) {
		// A batch with a big frame gets its buffer in one allocation,
		// not by doubling through append.
		buf = make([]byte, 0, size)
	}
	for _, f := range batch {
		buf = appendFrame(buf, f)
	}
	return p, buf
}

// release returns a buffer framed took, unless it grew too large to keep.
func release(p *[]byte, buf []byte) {
	if cap(buf) <= maxKeptBuffer {
		*p = buf[:0]
		bufferPool.Put(p)
	}
}

// writeRaw writes rest, already framed, within timeout.
func (b *batchConn) writeRaw(rest [][]byte, timeout time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.deadlineSet = mono(now)
	_ = b.Conn.SetWriteDeadline(now.Add(timeout))
	bufs := net.Buffers(rest)
	_, err := bufs.WriteTo(b.Conn)
	return err
}

// writeFrames frames batch into a pooled buffer and writes it with one
// system call, which must end within timeout. Setting a deadline is a
// timer update, so it moves only every quarter of timeout: a write gets
// between three quarters of timeout and all of it. A batch with a part
// too big for the pooled buffers goes out in segments (see segmented),
// in one vectored write.
func (b *batchConn) writeFrames(batch []protocol.Frame, timeout time.Duration) error {
	var (
		p    *[]byte
		buf  []byte
		bufs net.Buffers
	)
	if hasBigPart(batch) {
		var segs []segment
		p, buf, segs = segmented(batch)
		bufs = make(net.Buffers, len(segs))
		for i, seg := range segs {
			bufs[i] = seg.b
		}
	} else {
		p, buf = framed(batch)
	}
	b.mu.Lock()
	if now := time.Now(); b.deadlineSet == 0 || mono(now)-b.deadlineSet >= int64(timeout/4) {
		b.deadlineSet = mono(now)
		_ = b.Conn.SetWriteDeadline(now.Add(timeout))
	}
	var err error
	if bufs != nil {
		_, err = bufs.WriteTo(b.Conn)
	} else {
		_, err = b.Conn.Write(buf)
	}
	b.mu.Unlock()
	release(p, buf)
	return err
}
