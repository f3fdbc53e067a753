package client

// The engine behind Channel: joins and rejoins, frames routed into a
// channel's queue, and the goroutine that runs its handlers.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// abandon gives up a first join whose caller stopped waiting.
func (ch *Channel) abandon() {
	c := ch.c
	c.mu.Lock()
	if ch.state != stateJoining && ch.state != stateJoined {
		if ch.state != stateClosed {
			ch.closeLocked()
		}
		c.mu.Unlock()
		return
	}
	var out []byte
	cn := c.conn
	if cn != nil {
		out = encodeText(c.opts.vsn, ch.joinRef, c.nextRefLocked(), ch.topic, eventLeave, []byte("{}"))
	}
	ch.closeLocked()
	c.mu.Unlock()
	if out != nil {
		_ = cn.write(false, out)
	}
}

// joinFrameLocked makes the channel's next phx_join, with a new join_ref,
// fresh params and, with recovery on, "_since"; c.mu must be held and a
// connection up. It returns nil if the params cannot be encoded (the
// channel then closes or retries as for a refusal).
func (c *Client) joinFrameLocked(ch *Channel) []byte {
	ref := c.nextRefLocked()
	ch.joinRef = ref
	ch.state = stateJoining
	params := map[string]any{}
	if ch.params != nil {
		for k, v := range ch.params() {
			params[k] = v
		}
	}
	if c.opts.recovery {
		ch.asked = ch.pos
		params["_since"] = nullable(ch.pos)
	}
	payload, err := json.Marshal(params)
	if err != nil {
		c.log.Error().Err(err).Str("topic", ch.topic).Msg("join params cannot be encoded")
		ch.refusedLocked(err)
		return nil
	}
	c.replies[ref] = &waiter{done: func(f frame) { ch.joinReply(ref, f) }}
	return encodeText(c.opts.vsn, ref, ref, ch.topic, eventJoin, payload)
}

// joinReply handles the reply to the join with join_ref ref.
func (ch *Channel) joinReply(ref string, f frame) {
	c := ch.c
	c.mu.Lock()
	if ch.joinRef != ref || ch.state != stateJoining {
		c.mu.Unlock()
		return
	}
	if f.status != "ok" {
		ch.refusedLocked(&ReplyError{Topic: ch.topic, Event: eventJoin, Status: f.status, Response: f.payload, Binary: f.binary})
		c.mu.Unlock()
		return
	}
	ch.state = stateJoined
	ch.attempts = 0
	close(ch.joined)
	var resync *Resync
	if !f.binary {
		var r struct {
			Recovered *bool   `json:"_recovered"`
			Pos       *string `json:"_pos"`
		}
		if json.Unmarshal(f.payload, &r) == nil && r.Recovered != nil && !*r.Recovered {
			pos := ""
			if r.Pos != nil {
				pos = *r.Pos
			}
			if ch.asked != "" {
				resync = &Resync{Since: ch.asked, Position: pos}
				c.log.Info().Str("topic", ch.topic).Str("since", ch.asked).Str("position", pos).Msg("rejoin could not recover")
			}
			ch.pos = pos
		}
	}
	first := ch.first
	ch.first = nil
	c.mu.Unlock()
	ch.enqueue(item{joined: true, resync: resync})
	if first != nil {
		first <- joinResult{reply: Reply{Status: f.status, Response: f.payload, Binary: f.binary}}
	}
}

// refusedLocked handles a join that failed: a first join ends the
// channel with err, a rejoin is tried again after a backoff.
func (ch *Channel) refusedLocked(err error) {
	if first := ch.first; first != nil {
		ch.first = nil
		ch.closeLocked()
		first <- joinResult{err: err}
		return
	}
	ch.c.log.Warn().Err(err).Str("topic", ch.topic).Msg("rejoin refused")
	ch.state = stateErrored
	ch.scheduleRejoinLocked()
}

// scheduleRejoinLocked joins the channel again after the rejoin backoff,
// if the connection is up then (a reconnect joins it anyway).
func (ch *Channel) scheduleRejoinLocked() {
	c := ch.c
	ch.stopTimerLocked()
	d := c.opts.rejoin(ch.attempts)
	ch.attempts++
	ch.timer = time.AfterFunc(d, func() {
		c.mu.Lock()
		if ch.state != stateErrored || c.conn == nil || c.closed {
			c.mu.Unlock()
			return
		}
		cn := c.conn
		out := c.joinFrameLocked(ch)
		c.mu.Unlock()
		if out != nil {
			_ = cn.write(false, out)
		}
	})
}

func (ch *Channel) stopTimerLocked() {
	if ch.timer != nil {
		ch.timer.Stop()
		ch.timer = nil
	}
}

// closeLocked ends the channel: it leaves the client's table and its
// goroutine ends once it has handled what was queued.
func (ch *Channel) closeLocked() {
	if ch.state == stateClosed {
		return
	}
	ch.state = stateClosed
	ch.stopTimerLocked()
	if ch.c.channels[ch.topic] == ch {
		delete(ch.c.channels, ch.topic)
	}
	close(ch.quit)
	if first := ch.first; first != nil {
		ch.first = nil
		first <- joinResult{err: ErrChannelClosed}
	}
}

// receive takes a frame for the channel's topic, on the reader goroutine.
func (ch *Channel) receive(f frame) {
	c := ch.c
	c.mu.Lock()
	if f.joinRef != "" && f.joinRef != ch.joinRef || ch.state == stateClosed {
		c.mu.Unlock()
		c.log.Debug().Str("topic", f.topic).Str("event", f.event).Str("join_ref", f.joinRef).Msg("stale frame dropped")
		return
	}
	switch f.event {
	case eventClose:
		ch.closeLocked()
		failed := ch.dropWaitersLocked()
		c.mu.Unlock()
		failed.fail(ErrChannelClosed)
		return
	case eventError:
		if ch.state == stateJoined {
			ch.joined = make(chan struct{})
		}
		if ch.state == stateJoined || ch.state == stateJoining {
			c.log.Warn().Str("topic", ch.topic).Msg("channel errored, rejoining")
			ch.state = stateErrored
			ch.scheduleRejoinLocked()
		}
		failed := ch.dropWaitersLocked()
		c.mu.Unlock()
		failed.fail(ErrChannelError)
		return
	}
	if !f.binary {
		if p := position(f.payload); p != "" {
			ch.pos = p
		}
	}
	c.mu.Unlock()
	ch.enqueue(item{msg: Message{Topic: f.topic, Event: f.event, Payload: f.payload, Binary: f.binary}})
}

type waiters []*waiter

func (ws waiters) fail(err error) {
	for _, w := range ws {
		w.fail(err)
	}
}

// dropWaitersLocked stops waiting for the replies to the channel's pushes
// and leaves, and returns their waiters, to fail once c.mu is released.
func (ch *Channel) dropWaitersLocked() waiters {
	var out waiters
	for ref, w := range ch.c.replies {
		if w.topic == ch.topic {
			delete(ch.c.replies, ref)
			out = append(out, w)
		}
	}
	return out
}

// enqueue hands it to the channel's goroutine, waiting while the buffer
// is full.
func (ch *Channel) enqueue(it item) {
	select {
	case ch.queue <- it:
	case <-ch.quit:
	case <-ch.c.ctx.Done():
	}
}

// loop runs the channel's handlers, one item at a time.
func (ch *Channel) loop() {
	defer ch.c.wg.Done()
	for {
		select {
		case it := <-ch.queue:
			ch.handle(it)
		case <-ch.quit:
			for {
				select {
				case it := <-ch.queue:
					ch.handle(it)
				default:
					return
				}
			}
		case <-ch.c.ctx.Done():
			return
		}
	}
}

func (ch *Channel) handle(it item) {
	ch.hmu.RLock()
	var hs []func(Message)
	var rs []func(Resync)
	var js []func()
	if it.joined {
		js, rs = ch.onJoined, ch.resyncs
	} else {
		hs = ch.handlers[it.msg.Event]
	}
	ch.hmu.RUnlock()
	for _, h := range js {
		h()
	}
	if it.resync != nil {
		for _, h := range rs {
			h(*it.resync)
		}
	}
	for _, h := range hs {
		h(it.msg)
	}
}

type result struct {
	f   frame
	err error
}

// send writes one push and waits for its reply; it is called with c.mu
// held and releases it.
func (ch *Channel) send(ctx context.Context, event string, body []byte, binary bool) (Reply, error) {
	c := ch.c
	ref := c.nextRefLocked()
	var out []byte
	if binary {
		var err error
		if out, err = encodeBinary(ch.joinRef, ref, ch.topic, event, body); err != nil {
			c.mu.Unlock()
			return Reply{}, err
		}
	} else {
		out = encodeText(c.opts.vsn, ch.joinRef, ref, ch.topic, event, body)
	}
	res := make(chan result, 1)
	c.replies[ref] = &waiter{
		topic: ch.topic,
		done:  func(f frame) { res <- result{f: f} },
		fail:  func(err error) { res <- result{err: err} },
	}
	cn := c.conn
	c.mu.Unlock()
	if err := cn.write(binary, out); err != nil {
		c.forget(ref)
		return Reply{}, fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	select {
	case r := <-res:
		if r.err != nil {
			return Reply{}, r.err
		}
		reply := Reply{Status: r.f.status, Response: r.f.payload, Binary: r.f.binary}
		if reply.Status != "ok" {
			return reply, &ReplyError{Topic: ch.topic, Event: event, Status: reply.Status, Response: reply.Response, Binary: reply.Binary}
		}
		return reply, nil
	case <-ctx.Done():
		c.forget(ref)
		return Reply{}, ctx.Err()
	case <-c.ctx.Done():
		return Reply{}, ErrClosed
	}
}

// forget stops waiting for the reply to ref.
func (c *Client) forget(ref string) {
	c.mu.Lock()
	delete(c.replies, ref)
	c.mu.Unlock()
}
