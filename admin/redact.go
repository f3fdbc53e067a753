package admin

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Redacted replaces the value of every secret key in what the admin view
// shows of assigns and presence metas. A key is secret when it was named
// with WithSecretAssigns, or when its name, in any case, contains one of
// AlwaysSecret.
const Redacted = "[redacted]"

// AlwaysSecret are the parts of a key name that make it secret without
// being named.
var AlwaysSecret = [...]string{"token", "secret", "password", "passwd", "credential", "apikey", "api_key", "private"}

// maxValueBytes bounds the JSON of one shown value; a longer one is cut.
const maxValueBytes = 512

func (a *Handler) secret(key string) bool {
	if a.opt.secrets[key] {
		return true
	}
	lower := strings.ToLower(key)
	for _, w := range AlwaysSecret {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// redactMap returns m as JSON values with the secret keys' values
// replaced, at every depth, each value cut to maxValueBytes of JSON.
func (a *Handler) redactMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if a.secret(k) {
			out[k] = Redacted
			continue
		}
		out[k] = a.redactValue(v)
	}
	return out
}

// redactValue turns v into plain JSON data (through its own encoding, so
// a struct's fields are keys too) and redacts it.
func (a *Handler) redactValue(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("[%T, not JSON]", v)
	}
	var plain any
	if err := json.Unmarshal(data, &plain); err != nil {
		return fmt.Sprintf("[%T, not JSON]", v)
	}
	plain = a.walk(plain)
	if data, err = json.Marshal(plain); err == nil && len(data) > maxValueBytes {
		return fmt.Sprintf("[%d bytes of JSON]", len(data))
	}
	return plain
}

func (a *Handler) walk(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if a.secret(k) {
				x[k] = Redacted
			} else {
				x[k] = a.walk(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = a.walk(e)
		}
	}
	return v
}
