//go:build linux

package socket

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/pyrehq/pyre/protocol"
)

// A batch with frames too big for the pooled buffers is written in
// segments, the big frames' data straight from the frames: the peer reads
// exactly what one framed buffer would have carried, whether the socket
// takes it all at once or only part of it (the rest then follows through
// the flusher's blocking write, as any rest does).
//
// A frame of a shared payload (a room's presence list, sent to every
// joiner) is framed around the shared bytes, and what the socket does not
// take of them stays a view of those bytes in rest, not a copy.
func TestSegmentedWriteMatchesFramed(t *testing.T) {
	big := func(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }
	list := append(append([]byte(`{"u":"`), big('s', 2*maxKeptBuffer)...), `"}`...)
	state, err := protocol.V2().Push(protocol.Ref(`"1"`), "room:a", "presence_state", protocol.SharedJSON(list))
	if err != nil {
		t.Fatal(err)
	}
	batch := []protocol.Frame{
		{Data: []byte(`[null,null,"room:a","presence_diff",{}]`)},
		{Data: big('x', 3*maxKeptBuffer)},
		{Data: []byte(`[null,null,"room:a","x",1]`)},
		{Data: big('y', maxKeptBuffer+1), Binary: true},
		{Data: []byte(strings.Repeat("z", 200))},
		state,
		{Data: []byte(`[null,null,"room:a","presence_diff",{}]`)},
	}
	_, want := framed(batch)
	wantState := `["1",null,"room:a","presence_state",` + string(list) + "]"
	if !bytes.Contains(want, []byte(wantState)) {
		t.Fatalf("the framed batch does not hold the joiner's whole presence_state")
	}
	for _, sndbuf := range []int{0, 4096} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer c.Close()
			// A stream cut short ends at the deadline instead of hanging.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(io.LimitReader(c, int64(len(want))))
			got <- b
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if sndbuf > 0 {
			_ = c.(*net.TCPConn).SetWriteBuffer(sndbuf)
		}
		bc := &batchConn{Conn: c, rc: rawConnOf(c)}
		var a nowWrite
		rest, err := bc.writeFramesNow(&a, batch)
		if err != nil {
			t.Fatal(err)
		}
		if sndbuf > 0 && rest == nil {
			t.Logf("a %d-byte send buffer took the whole batch", sndbuf)
		}
		if sndbuf > 0 && len(rest) > 0 && !pointsInto(rest, list) {
			t.Errorf("the rest copies the shared list instead of pointing at it")
		}
		if rest != nil {
			bufs := net.Buffers(rest)
			if _, err := bufs.WriteTo(c); err != nil {
				t.Fatal(err)
			}
		}
		if b := <-got; !bytes.Equal(b, want) {
			t.Fatalf("send buffer %d: the peer read %d bytes that differ from the %d framed", sndbuf, len(b), len(want))
		}
		c.Close()
		ln.Close()
	}
}

// pointsInto reports whether a segment of rest lies in shared's array.
func pointsInto(rest [][]byte, shared []byte) bool {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(shared)))
	hi := lo + uintptr(len(shared))
	for _, seg := range rest {
		if len(seg) == 0 {
			continue
		}
		if p := uintptr(unsafe.Pointer(unsafe.SliceData(seg))); p >= lo && p < hi {
			return true
		}
	}
	return false
}
