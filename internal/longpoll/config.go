package longpoll

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pyrehq/pyre/token"
)

// Config is the long-poll transport's own settings. socket's WithLongPoll
// options fill it in and check it; New takes it as they leave it.
type Config struct {
	Window         time.Duration // longest wait of one poll (Phoenix window_ms)
	SessionTimeout time.Duration // a session nobody polls for this long is closed
	MaxBody        int64         // largest POST body
	MaxSessions    int           // live sessions at most; 0: no limit
	// MaxSessionsPerID bounds the live sessions of one socket id (one
	// user's tabs, or one token opening session after session); 0: no
	// limit. Anonymous sockets are not counted.
	MaxSessionsPerID int
	Signer           *token.Signer // signs session tokens; nil: a random secret per Transport
	Relay            *RelayConfig  // forwards other nodes' sessions; nil: none
}

// RelayConfig connects a node's long-poll transport to the others of its
// cluster (see relay.go).
type RelayConfig struct {
	Conn   *nats.Conn
	Node   string // this node's name in session tokens, at most MaxNodeName bytes
	Prefix string // the cluster's subject prefix
}

// Defaults returns the default settings, as in Phoenix where Phoenix has
// one.
func Defaults() Config {
	return Config{
		Window:         10 * time.Second,
		SessionTimeout: 20 * time.Second,
		MaxBody:        4 << 20,
		// Phoenix has no limits; these keep one client, or many, from
		// holding sockets without end (a session lives until its timeout
		// without a single poll).
		MaxSessions:      10000,
		MaxSessionsPerID: 16,
	}
}

// MaxNodeName is the longest node name a session token carries.
const MaxNodeName = 255

const (
	tokenSalt     = "pyre long-poll session"
	tokenPrefix   = "lp1."
	tokenHeader   = "X-Phoenix-Longpoll-Token"
	authHeader    = "X-Phoenix-AuthToken" // phoenix.js's authToken option, on every poll
	tokenMaxAge   = 14 * 24 * time.Hour
	maxBatch      = 100             // lines in one POST, as phoenix.js sends at most
	relayMargin   = 2 * time.Second // added to the window for a relayed request
	randomSecretN = 32              // bytes of the secret made when Config.Signer is nil
)

// NewSigner returns the signer of session tokens for secret (at least 16
// bytes).
func NewSigner(secret []byte) (*token.Signer, error) {
	return token.NewSigner(secret, tokenSalt, token.WithMaxAge(tokenMaxAge))
}
