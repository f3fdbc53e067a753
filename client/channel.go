package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Message is a push or broadcast the server sent on a channel.
type Message struct {
	Topic, Event string
	// Payload is JSON text, or the frame's raw bytes when Binary.
	Payload []byte
	Binary  bool
}

// Decode unmarshals the JSON payload into v.
func (m Message) Decode(v any) error {
	if m.Binary {
		return fmt.Errorf("client: %s %s: binary payload is not JSON", m.Topic, m.Event)
	}
	return json.Unmarshal(m.Payload, v)
}

// Reply is the server's answer to a join or a push.
type Reply struct {
	// Status is "ok" for the replies Join and Push return without error.
	Status string
	// Response is JSON text, or raw bytes when Binary.
	Response []byte
	Binary   bool
}

// Decode unmarshals the JSON response into v.
func (r Reply) Decode(v any) error {
	if r.Binary {
		return errors.New("client: binary reply is not JSON")
	}
	return json.Unmarshal(r.Response, v)
}

// Resync tells a channel's application that a rejoin could not recover
// what was broadcast while it was away: it asked for what followed Since
// and the server could not give it (a position older than the topic's
// history, or a history that was lost). Live messages follow from
// Position (the stream's position at the rejoin; "" when the server gave
// none). The application should reload its state from elsewhere.
type Resync struct {
	Since, Position string
}

type state int

const (
	stateIdle    state = iota // Join not called
	stateJoining              // the first join is on its way
	stateJoined
	stateErrored // to be joined again: the connection ended, or the server errored or refused a rejoin
	stateLeaving
	stateClosed
)

// Channel is one topic of a Client. Make it with Client.Channel, add
// handlers with On, then Join. Its methods are safe from any goroutine;
// its handlers run one at a time on the channel's own goroutine, in the
// order the server sent the messages.
type Channel struct {
	c      *Client
	topic  string
	params func() map[string]any

	queue chan item     // to the channel's goroutine; bounded
	quit  chan struct{} // closed when the channel closes

	hmu      sync.RWMutex // guards the handlers
	handlers map[string][]func(Message)
	resyncs  []func(Resync)
	onJoined []func() // run on the channel's goroutine after every ok join reply

	// Guarded by c.mu:
	state    state
	joinRef  string
	pos      string        // the last "_pos" seen
	asked    string        // the "_since" the join in flight asked with
	attempts int           // rejoins since the last ok
	joined   chan struct{} // closed while joined
	first    chan joinResult
	timer    *time.Timer // the next rejoin
}

type joinResult struct {
	reply Reply
	err   error
}

// item is one thing for the channel's goroutine: a message, or the mark
// of an ok join (with a Resync if that join could not recover).
type item struct {
	msg    Message
	joined bool
	resync *Resync
}

// Channel returns a channel for topic. params, if not nil, gives the join
// params; it is called before every join, the rejoins after a reconnect
// included, and must not call the client. Nothing is sent before Join.
func (c *Client) Channel(topic string, params func() map[string]any) *Channel {
	return &Channel{c: c, topic: topic, params: params, handlers: map[string][]func(Message){},
		quit: make(chan struct{}), joined: make(chan struct{})}
}

// Topic returns the channel's topic.
func (ch *Channel) Topic() string { return ch.topic }

// On adds a handler for the event's messages. Handlers run on the
// channel's goroutine, one at a time, in arrival order; a slow handler
// delays the channel's later messages (and, once its buffer is full, the
// whole connection). Add handlers before Join to see every message.
func (ch *Channel) On(event string, h func(Message)) {
	ch.hmu.Lock()
	ch.handlers[event] = append(ch.handlers[event], h)
	ch.hmu.Unlock()
}

// OnResync adds a handler for rejoins that could not recover (see
// Resync). It runs on the channel's goroutine, before the messages that
// follow the rejoin.
func (ch *Channel) OnResync(h func(Resync)) {
	ch.hmu.Lock()
	ch.resyncs = append(ch.resyncs, h)
	ch.hmu.Unlock()
}

// onJoin adds a hook run on the channel's goroutine after every ok join.
func (ch *Channel) onJoin(h func()) {
	ch.hmu.Lock()
	ch.onJoined = append(ch.onJoined, h)
	ch.hmu.Unlock()
}

// Position returns the "_pos" of the last recorded message the channel
// received ("" before any), the position a rejoin recovers after.
func (ch *Channel) Position() string {
	ch.c.mu.Lock()
	defer ch.c.mu.Unlock()
	return ch.pos
}

// Join joins the channel and returns the server's ok reply; a refusal is
// a *ReplyError and closes the channel. If the connection is down, the
// join waits for the next one. Once joined, the channel is joined again
// after every reconnect and after a server error, with fresh params, until
// Leave, a phx_close from the server, or Close. If ctx ends first the join
// is abandoned (a leave is sent if the join was) and ctx's error returned.
func (ch *Channel) Join(ctx context.Context) (Reply, error) {
	c := ch.c
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return Reply{}, ErrClosed
	case ch.state == stateClosed:
		c.mu.Unlock()
		return Reply{}, ErrChannelClosed
	case ch.state != stateIdle || c.channels[ch.topic] != nil:
		c.mu.Unlock()
		return Reply{}, ErrAlreadyJoined
	}
	c.channels[ch.topic] = ch
	ch.state = stateJoining
	ch.queue = make(chan item, c.opts.buffer)
	ch.first = make(chan joinResult, 1)
	first := ch.first
	c.wg.Add(1)
	go ch.loop()
	var out []byte
	cn := c.conn
	if cn != nil {
		out = c.joinFrameLocked(ch)
	}
	c.mu.Unlock()
	if out != nil {
		_ = cn.write(false, out)
	}
	select {
	case r := <-first:
		return r.reply, r.err
	case <-ctx.Done():
		ch.abandon()
		return Reply{}, ctx.Err()
	case <-c.ctx.Done():
		return Reply{}, ErrClosed
	}
}

// Push sends event with payload on the channel and returns the reply; a
// reply with another status than "ok" is a *ReplyError. A []byte payload
// goes as a binary frame (V2 only); nil as {}; anything else is encoded as
// JSON. A
// push made while the channel is not joined (a reconnect in progress)
// waits until it is. If the connection ends before the reply, Push returns
// ErrDisconnected; if ctx ends first, ctx's error.
func (ch *Channel) Push(ctx context.Context, event string, payload any) (Reply, error) {
	c := ch.c
	var body []byte
	binary := false
	switch p := payload.(type) {
	case nil:
		body = []byte("{}") // as phoenix.js sends a push without payload
	case []byte:
		if c.opts.vsn == V1 {
			return Reply{}, ErrBinaryV1
		}
		body, binary = p, true
	default:
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return Reply{}, fmt.Errorf("client: push %s: %w", event, err)
		}
	}
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return Reply{}, ErrClosed
		case ch.state == stateIdle:
			c.mu.Unlock()
			return Reply{}, ErrNotJoined
		case ch.state == stateClosed || ch.state == stateLeaving:
			c.mu.Unlock()
			return Reply{}, ErrChannelClosed
		case ch.state == stateJoined && c.conn != nil:
			return ch.send(ctx, event, body, binary)
		}
		joined := ch.joined
		c.mu.Unlock()
		select {
		case <-joined:
		case <-ch.quit:
			return Reply{}, ErrChannelClosed
		case <-ctx.Done():
			return Reply{}, ctx.Err()
		case <-c.ctx.Done():
			return Reply{}, ErrClosed
		}
	}
}

// Leave leaves the channel: phx_leave, then, once the server answers (or
// ctx ends, or the connection is down), the channel closes: no rejoin,
// and its goroutine ends after the messages already received. Leaving a
// channel that is closed already does nothing.
func (ch *Channel) Leave(ctx context.Context) error {
	c := ch.c
	c.mu.Lock()
	switch ch.state {
	case stateIdle:
		c.mu.Unlock()
		return ErrNotJoined
	case stateClosed:
		c.mu.Unlock()
		return nil
	case stateJoined:
		if c.conn != nil {
			break
		}
		fallthrough
	default:
		// Not joined now: nothing to wait for, but a join on its way is
		// told to leave too.
		c.mu.Unlock()
		ch.abandon()
		return nil
	}
	ref := c.nextRefLocked()
	res := make(chan result, 1)
	c.replies[ref] = &waiter{
		topic: ch.topic,
		done:  func(f frame) { res <- result{f: f} },
		fail:  func(err error) { res <- result{err: err} },
	}
	ch.state = stateLeaving
	out := encodeText(c.opts.vsn, ch.joinRef, ref, ch.topic, eventLeave, []byte("{}"))
	cn := c.conn
	c.mu.Unlock()
	err := cn.write(false, out)
	if err == nil {
		select {
		case <-res:
		case <-ctx.Done():
			err = ctx.Err()
			c.forget(ref)
		case <-c.ctx.Done():
		}
	}
	c.mu.Lock()
	ch.closeLocked()
	c.mu.Unlock()
	return err
}
