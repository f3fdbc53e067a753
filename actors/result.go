package actors

type resultKind uint8

const (
	kindNoReply resultKind = iota
	kindReply
	kindStop
)

// Result is what HandleIn, HandleOut and HandleInfo return. The zero Result
// is NoReply.
type Result struct {
	kind    resultKind
	status  string
	payload any
	reason  error
	reply   bool
}

// Ok replies {"status":"ok","response":payload}; nil payload means {}.
func Ok(payload any) Result { return Result{kind: kindReply, status: "ok", payload: payload} }

// Error replies {"status":"error","response":payload}.
func Error(payload any) Result { return Result{kind: kindReply, status: "error", payload: payload} }

// Reply replies with any status.
func Reply(status string, payload any) Result {
	return Result{kind: kindReply, status: status, payload: payload}
}

// NoReply sends nothing back (the client's push times out unless a reply is
// sent later with ReplyRef.Reply).
func NoReply() Result { return Result{} }

// Stop ends the channel. A nil reason or one wrapping ErrNormal closes it
// cleanly (the client gets phx_close and does not rejoin); any other reason
// is treated as a failure (phx_error, and the client rejoins).
func Stop(reason error) Result { return Result{kind: kindStop, reason: reason} }

// StopWithReply sends a reply to the current push, then stops as Stop does.
func StopWithReply(reason error, status string, payload any) Result {
	return Result{kind: kindStop, reason: reason, status: status, payload: payload, reply: true}
}
