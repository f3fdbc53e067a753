package client

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
	"github.com/rs/zerolog"
)

// writeWait bounds each frame's write.
const writeWait = 10 * time.Second

// bearerPrefix starts the subprotocol that carries an auth token, as
// phoenix.js sends it: the token in base64 (standard alphabet, padding
// cut) after the prefix, beside the "phoenix" subprotocol.
const bearerPrefix = "base64url.bearer.phx."

// Client is a connection to a Phoenix Channels endpoint that reconnects by
// itself until Close. Its methods are safe from any goroutine.
type Client struct {
	opts     options
	endpoint *url.URL // ws:// or wss://, ending in /websocket
	log      zerolog.Logger

	ctx    context.Context // ends at Close: dials and backoffs stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // the run loop, the readers and every channel's goroutine

	// mu guards the fields below and the Channel fields marked so.
	mu       sync.Mutex
	closed   bool
	conn     *conn               // nil while disconnected
	ref      uint64              // the last ref used
	channels map[string]*Channel // by topic, from Join until the channel closes
	replies  map[string]*waiter  // by ref, on the current connection
}

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

// Dial connects to the endpoint at rawURL, the URL phoenix.js is given
// ("ws://host/socket"; "/websocket" is added, and http:// and https:// are
// taken for ws:// and wss://), and keeps the connection up until Close.
// The first connection is made before Dial returns: a refused handshake is
// a *HandshakeError. ctx bounds that first connection only.
func Dial(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	o := defaults()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	u, err := endpointURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, endpoint: u, log: o.log.With().Str("endpoint", u.String()).Logger(),
		channels: map[string]*Channel{}, replies: map[string]*waiter{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cn, err := c.dial(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.mu.Lock()
	c.wg.Add(1)
	c.mu.Unlock()
	c.connected(cn)
	go c.run(cn)
	return c, nil
}

// endpointURL is the WebSocket URL of the endpoint at raw.
func endpointURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("client: endpoint: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("client: endpoint %q: want a ws, wss, http or https URL", raw)
	}
	if !strings.HasSuffix(u.Path, "/websocket") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/websocket"
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
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

// Connected reports whether the client has a connection now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Close leaves nothing running: it closes the connection, stops
// reconnecting, ends every channel (awaited replies fail with ErrClosed)
// and returns once every goroutine the client started has ended. Handlers
// running at that moment are waited for, so Close must not be called from
// one.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	cn := c.conn
	for _, ch := range c.channels {
		ch.stopTimerLocked()
	}
	c.mu.Unlock()
	c.cancel()
	if cn != nil {
		cn.wmu.Lock()
		_ = cn.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		cn.wmu.Unlock()
		_ = cn.ws.Close()
	}
	c.wg.Wait()
	return nil
}
