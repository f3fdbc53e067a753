package socket

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair is a connected pair of loopback TCP connections.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// The lingering close sends what was written and end-of-stream, then
// returns as soon as the client closes its side.
func TestLingerCloseEndsWhenTheClientCloses(t *testing.T) {
	srv, cl := tcpPair(t)
	bc := &batchConn{Conn: srv}
	if _, err := bc.Write([]byte("close frame")); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = cl.Write(bytes.Repeat([]byte("x"), 100<<10)) // the rest of a frame
		got, _ := io.ReadAll(cl)                            // until the server's end-of-stream
		if string(got) != "close frame" {
			t.Errorf("the client read %q", got)
		}
		cl.Close()
	}()
	start := time.Now()
	bc.lingerClose(10*time.Second, 1<<20)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("lingerClose took %v after the client closed", d)
	}
}

// A client that sends on and on is read for at most limit bytes, then
// given the rest of the time, no more.
func TestLingerCloseIsBounded(t *testing.T) {
	srv, cl := tcpPair(t)
	bc := &batchConn{Conn: srv}
	stop := make(chan struct{})
	sent := make(chan int64, 1)
	go func() {
		var n int64
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for {
			select {
			case <-stop:
				sent <- n
				return
			default:
			}
			_ = cl.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			k, _ := cl.Write(chunk)
			n += int64(k)
		}
	}()
	const d, limit = 300 * time.Millisecond, 256 << 10
	start := time.Now()
	bc.lingerClose(d, limit)
	took := time.Since(start)
	close(stop)
	n := <-sent
	if took < d-20*time.Millisecond || took > d+2*time.Second {
		t.Errorf("lingerClose took %v, want about %v", took, d)
	}
	// What the client got written is at most the limit plus what the
	// kernel buffers hold on both sides.
	if n < limit {
		t.Errorf("the client wrote only %d bytes; the test needs more than %d", n, limit)
	}
}
