package client

// The engine behind Client: connections, heartbeats, reconnects, and
// the reader that routes each frame to its waiter or channel.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// writeWait bounds each frame's write.
const writeWait = 10 * time.Second

// bearerPrefix starts the subprotocol that carries an auth token, as
// phoenix.js sends it: the token in base64 (standard alphabet, padding
// cut) after the prefix, beside the "phoenix" subprotocol.
const bearerPrefix = "base64url.bearer.phx."

// conn is one WebSocket connection.
type conn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex    // one writer at a time, as gorilla requires
	lost chan struct{} // closed when the reader has ended
}

func (cn *conn) write(binary bool, b []byte) error {
	mt := websocket.TextMessage
	if binary {
		mt = websocket.BinaryMessage
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	_ = cn.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return cn.ws.WriteMessage(mt, b)
}

// waiter is what waits for the reply to one ref. done runs on the reader
// goroutine and must not block; fail, if set, runs when the connection
// ends or the client closes first.
type waiter struct {
	topic string // of a push or leave; "" for joins and heartbeats
	done  func(frame)
	fail  func(error)
}

// dial makes one connection.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	u := *c.endpoint
	q := url.Values{}
	if c.opts.params != nil {
		for k, vs := range c.opts.params() {
			q[k] = append([]string(nil), vs...)
		}
	}
	q.Set("vsn", c.opts.vsn)
	u.RawQuery = q.Encode()
	header := c.opts.header.Clone()
	if c.opts.authToken != "" {
		if header == nil {
			header = http.Header{}
		}
		header.Set("Sec-WebSocket-Protocol", "phoenix, "+bearerPrefix+base64.RawStdEncoding.EncodeToString([]byte(c.opts.authToken)))
	}
	ws, resp, err := c.opts.dialer.DialContext(ctx, u.String(), header)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &HandshakeError{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	return &conn{ws: ws, lost: make(chan struct{})}, nil
}

// retryAfter reads a Retry-After in seconds (the form pyre and most
// servers send); an HTTP date or garbage counts as none.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// run owns the connection's life: heartbeats while it is up, reconnects
// with backoff once it is down, until Close.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	for {
		c.serve(cn)
		c.disconnected(cn)
		if cn = c.reconnect(); cn == nil {
			return
		}
		c.connected(cn)
	}
}

// serve sends heartbeats on cn until it is lost or the client closes.
func (c *Client) serve(cn *conn) {
	var tick <-chan time.Time
	if c.opts.heartbeat > 0 {
		t := time.NewTicker(c.opts.heartbeat)
		defer t.Stop()
		tick = t.C
	}
	var answered atomic.Bool
	answered.Store(true)
	for {
		select {
		case <-c.ctx.Done():
			_ = cn.ws.Close()
			<-cn.lost
			return
		case <-cn.lost:
			return
		case <-tick:
			if !answered.Load() {
				c.log.Warn().Msg("heartbeat unanswered, reconnecting")
				_ = cn.ws.Close()
				continue
			}
			answered.Store(false)
			c.mu.Lock()
			ref := c.nextRefLocked()
			c.replies[ref] = &waiter{done: func(frame) { answered.Store(true) }}
			c.mu.Unlock()
			_ = cn.write(false, encodeText(c.opts.vsn, "", ref, topicPhoenix, eventHeartbeat, []byte("{}")))
		}
	}
}

// reconnect dials with backoff until it connects or the client closes
// (then nil).
func (c *Client) reconnect() *conn {
	var last error
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(reconnectDelay(c.opts.backoff, attempt, last))
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		cn, err := c.dial(c.ctx)
		if err == nil {
			c.log.Info().Int("attempt", attempt).Msg("reconnected")
			return cn
		}
		if c.ctx.Err() != nil {
			return nil
		}
		last = err
		c.log.Debug().Err(err).Int("attempt", attempt).Msg("reconnect failed")
	}
}

// reconnectDelay is the wait before reconnect attempt n after the
// previous attempt failed with last (nil for the first): the backoff's,
// or longer if the server asked for more with a 503's Retry-After.
func reconnectDelay(backoff func(int) time.Duration, n int, last error) time.Duration {
	d := backoff(n)
	var he *HandshakeError
	if errors.As(last, &he) {
		d = max(d, he.RetryAfter)
	}
	return d
}

// connected makes cn the connection: its reader starts and every channel
// that should be joined is joined on it.
func (c *Client) connected(cn *conn) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = cn.ws.Close()
		close(cn.lost)
		return
	}
	c.conn = cn
	c.wg.Add(1)
	go c.read(cn)
	var out [][]byte
	for _, ch := range c.channels {
		if ch.state == stateErrored || ch.state == stateJoining {
			out = append(out, c.joinFrameLocked(ch))
		}
	}
	c.mu.Unlock()
	for _, b := range out {
		if b != nil {
			_ = cn.write(false, b)
		}
	}
}

// disconnected forgets cn: replies awaited on it fail, and every joined
// channel waits to be joined again.
func (c *Client) disconnected(cn *conn) {
	c.mu.Lock()
	if c.conn == cn {
		c.conn = nil
	}
	waiting := c.replies
	c.replies = map[string]*waiter{}
	for _, ch := range c.channels {
		switch ch.state {
		case stateJoined:
			ch.joined = make(chan struct{})
			ch.state = stateErrored
		case stateLeaving:
			ch.closeLocked()
		}
		ch.stopTimerLocked()
		if ch.state == stateJoining {
			ch.state = stateErrored
		}
	}
	closed := c.closed
	c.mu.Unlock()
	err := ErrDisconnected
	if closed {
		err = ErrClosed
	}
	for _, w := range waiting {
		if w.fail != nil {
			w.fail(err)
		}
	}
	if !closed {
		c.log.Info().Msg("disconnected")
	}
}

// read reads cn's frames until it fails, and routes them.
func (c *Client) read(cn *conn) {
	defer c.wg.Done()
	defer close(cn.lost)
	for {
		mt, data, err := cn.ws.ReadMessage()
		if err != nil {
			_ = cn.ws.Close()
			c.log.Debug().Err(err).Msg("connection ended")
			return
		}
		var f frame
		if mt == websocket.BinaryMessage {
			f, err = decodeBinary(data)
		} else {
			f, err = decodeText(c.opts.vsn, data)
		}
		if err != nil {
			c.log.Warn().Err(err).Int("bytes", len(data)).Msg("malformed frame dropped")
			continue
		}
		c.route(f)
	}
}

// route hands a frame to the waiter of its ref (a reply) or to the
// channel of its topic.
func (c *Client) route(f frame) {
	if f.event == eventReply {
		c.mu.Lock()
		w := c.replies[f.ref]
		delete(c.replies, f.ref)
		c.mu.Unlock()
		if w == nil {
			c.log.Debug().Str("topic", f.topic).Str("ref", f.ref).Msg("reply to an unknown ref dropped")
			return
		}
		w.done(f)
		return
	}
	c.mu.Lock()
	ch := c.channels[f.topic]
	c.mu.Unlock()
	if ch == nil {
		c.log.Debug().Str("topic", f.topic).Str("event", f.event).Msg("frame for a topic not joined dropped")
		return
	}
	ch.receive(f)
}

// nextRefLocked returns a new ref; c.mu must be held.
func (c *Client) nextRefLocked() string {
	c.ref++
	return itoa(c.ref)
}
