package actors

// ResultKind says what a Result asks of the channel.
type ResultKind uint8

// The kinds of Result.
const (
	NoReplyResult ResultKind = iota // nothing is sent back
	ReplyResult                     // a reply to the push being handled
	StopResult                      // the channel ends, maybe after a reply
)

// Result is what HandleIn, HandleOut and HandleInfo return. The zero Result
// is NoReply. Its accessors let a unit test look at what a callback
// returned.
type Result struct {
	kind    ResultKind
	status  string
	payload any
	reason  error
	reply   bool
}

// Ok replies {"status":"ok","response":payload}; nil payload means {}.
func Ok(payload any) Result { return Result{kind: ReplyResult, status: "ok", payload: payload} }

// Error replies {"status":"error","response":payload}.
func Error(payload any) Result { return Result{kind: ReplyResult, status: "error", payload: payload} }

// Reply replies with any status.
func Reply(status string, payload any) Result {
	return Result{kind: ReplyResult, status: status, payload: payload}
}

// NoReply sends nothing back (the client's push times out unless a reply is
// sent later with ReplyRef.Reply).
func NoReply() Result { return Result{} }

// Stop ends the channel. A nil reason or one wrapping ErrNormal closes it
// cleanly (the client gets phx_close and does not rejoin); any other reason
// is treated as a failure (phx_error, and the client rejoins).
func Stop(reason error) Result { return Result{kind: StopResult, reason: reason} }

// StopWithReply sends a reply to the current push, then stops as Stop does.
func StopWithReply(reason error, status string, payload any) Result {
	return Result{kind: StopResult, reason: reason, status: status, payload: payload, reply: true}
}

// Kind says what the result asks for.
func (r Result) Kind() ResultKind { return r.kind }

// Status is the reply's status ("" when there is no reply).
func (r Result) Status() string { return r.status }

// Payload is the reply's response payload.
func (r Result) Payload() any { return r.payload }

// Reason is a stop's reason (nil for a clean stop, and for other kinds).
func (r Result) Reason() error { return r.reason }

// Replies reports whether the result sends a reply: every ReplyResult, and
// a stop made with StopWithReply.
func (r Result) Replies() bool { return r.kind == ReplyResult || r.reply }
