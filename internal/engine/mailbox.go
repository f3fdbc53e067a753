package engine

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// mailbox is the mailbox of every channel and Socket actor: protoactor's
// Mailbox contract (system messages before user messages, none of the
// latter while suspended, a yield every Throughput messages, a panic
// escalated to the invoker) over two slice queues under one mutex.
//
// It exists for its size at rest. protoactor's lock-free mailbox is a
// 96-byte struct plus two linked queues, each a header and a node kept
// after the last message (about 190 bytes per actor, twice per
// connection); this one is a single 96-byte object that holds nothing
// else while it is empty. A message costs about what it costs there:
// one slot of a slice that is let go when the queue drains, where the
// linked queue allocates a node per message.
type mailbox struct {
	mu   sync.Mutex
	sys  queue // guarded by mu
	user queue // guarded by mu

	// state packs the scheduling flag and the suspension, read and
	// written atomically by posters and the running pass.
	state atomic.Uint32
	// users counts the queued user messages (UserMessageCount, and the
	// check after a pass); sys is counted in state's high bits.
	users atomic.Int32

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

const (
	mbRunning   uint32 = 1 << 0 // a pass is scheduled or running
	mbSuspended uint32 = 1 << 1 // user messages wait (a crashed actor)
	mbSysOne    uint32 = 1 << 2 // one queued system message
)

// queue is a FIFO of messages. Popping moves the slice's start; the
// slots before it are given up with the slice, when it drains or when an
// append reallocates.
type queue []any

func (q *queue) push(m any) { *q = append(*q, m) }

func (q *queue) pop() any {
	if len(*q) == 0 {
		return nil
	}
	m := (*q)[0]
	(*q)[0] = nil
	*q = (*q)[1:]
	if len(*q) == 0 {
		*q = nil // drained: an idle actor holds no slice
	}
	return m
}

func newMailbox() actor.Mailbox { return &mailbox{} }

// PostUserMessage queues a user message. Like protoactor's own mailboxes
// it also queues the messages of a MessageBatch (or of an envelope
// carrying one) one by one, ahead of the batch itself.
func (m *mailbox) PostUserMessage(msg any) {
	switch b := msg.(type) {
	case actor.MessageBatch:
		for _, x := range b.GetMessages() {
			m.PostUserMessage(x)
		}
	case *actor.MessageEnvelope:
		if batch, ok := b.Message.(actor.MessageBatch); ok {
			for _, x := range batch.GetMessages() {
				m.PostUserMessage(x)
			}
		}
	}
	m.mu.Lock()
	m.user.push(msg)
	m.mu.Unlock()
	m.users.Add(1)
	m.schedule()
}

// PostSystemMessage queues a system message, which runs before any user
// message still waiting.
func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys.push(msg)
	m.mu.Unlock()
	m.state.Add(mbSysOne)
	m.schedule()
}

func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

func (m *mailbox) Start() {}

func (m *mailbox) UserMessageCount() int { return int(m.users.Load()) }

// schedule starts a pass unless one is scheduled or running.
func (m *mailbox) schedule() {
	for {
		s := m.state.Load()
		if s&mbRunning != 0 {
			return
		}
		if m.state.CompareAndSwap(s, s|mbRunning) {
			m.dispatcher.Schedule(m.process)
			return
		}
	}
}

// process runs passes until nothing that may run is waiting. A message
// posted after a pass looked at the queues finds the flag set, or clears
// the check below, so none is left behind.
func (m *mailbox) process() {
	for {
		m.run()
		s := m.state.And(^mbRunning) &^ mbRunning
		more := s >= mbSysOne || (s&mbSuspended == 0 && m.users.Load() > 0)
		if !more || !m.state.CompareAndSwap(s, s|mbRunning) {
			return
		}
	}
}

// run handles messages until the queues are empty or, suspended, until
// the system queue is. A panic that escapes the invoker ends the pass
// and is escalated with the message that caused it.
func (m *mailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	i, t := 0, m.dispatcher.Throughput()
	for {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		i++
		m.mu.Lock()
		msg = m.sys.pop()
		m.mu.Unlock()
		if msg != nil {
			m.state.Add(^(mbSysOne - 1)) // minus one system message
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.setSuspended(true)
			case *actor.ResumeMailbox:
				m.setSuspended(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.state.Load()&mbSuspended != 0 {
			return
		}
		m.mu.Lock()
		msg = m.user.pop()
		m.mu.Unlock()
		if msg == nil {
			return
		}
		m.users.Add(-1)
		m.invoker.InvokeUserMessage(msg)
	}
}

func (m *mailbox) setSuspended(on bool) {
	if on {
		m.state.Or(mbSuspended)
	} else {
		m.state.And(^mbSuspended)
	}
}
