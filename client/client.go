package client

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
)

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
