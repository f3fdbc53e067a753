package longpoll

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/protocol"
	"github.com/pyrehq/pyre/token"
)

// FuzzLongPollBody: any POST body decodes without panicking, to at most
// maxBatch messages, or is refused whole with 413.
func FuzzLongPollBody(f *testing.F) {
	push := append([]byte{0, 1, 1, 1, 1}, "12te"...)
	f.Add("application/x-ndjson", []byte(`["1","1","t","phx_join",{}]`+"\n"+base64.StdEncoding.EncodeToString(push)))
	f.Add("application/json", []byte(`{"topic":"t","event":"e","payload":{},"ref":"1"}`))
	f.Add("application/x-ndjson; charset=utf-8", []byte("\r\n\n[\n{\n====\n"))
	f.Add("", []byte(`[null,null,"phoenix","heartbeat",{}]`))
	log := zerolog.Nop()
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		for _, ser := range []protocol.Serializer{protocol.V1(), protocol.V2()} {
			msgs, status := decodeBody(ser, contentType, body, 1<<12, &log)
			switch status {
			case http.StatusOK:
				if len(msgs) > maxBatch {
					t.Fatalf("%d messages from one body", len(msgs))
				}
			case http.StatusRequestEntityTooLarge:
				if msgs != nil {
					t.Fatalf("a refused body yielded %d messages", len(msgs))
				}
			default:
				t.Fatalf("status %d", status)
			}
		}
	})
}

// FuzzLongPollToken: only the token the node signed verifies, and reading
// the node out of any string never panics.
func FuzzLongPollToken(f *testing.F) {
	// A fixed clock: the fuzzer runs this function again in its workers,
	// which must sign the same valid token.
	signedAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	signer, _ := token.NewSigner([]byte("0123456789abcdef0123456789abcdef"), tokenSalt,
		token.WithClock(func() time.Time { return signedAt }))
	lp := &Transport{node: "node-a", signer: signer}
	valid := lp.sign("sid")
	f.Add(valid)
	f.Add(valid + "x")
	f.Add("lp1.bm9kZS1h.x.y")
	f.Add("lp1..")
	f.Fuzz(func(t *testing.T, tok string) {
		node, ok := tokenNode(tok)
		if ok && len(node) > MaxNodeName {
			t.Fatalf("node name of %d bytes", len(node))
		}
		id, ok := lp.verify(tok)
		if ok != (tok == valid) || ok && id != "sid" {
			t.Fatalf("verify(%q) = %q, %v", tok, id, ok)
		}
	})
}

// FuzzLongPollEnvelope: a frame's text survives the trip into a JSON
// string and back, and protocol.QuotedLen predicts its size (the relay's
// budget counts on it).
func FuzzLongPollEnvelope(f *testing.F) {
	f.Add([]byte(`["1",null,"t","e",{"a":"x\ny\"z\\"}]`))
	f.Add([]byte("\x00\x1f\x7f\u2028"))
	f.Fuzz(func(t *testing.T, text []byte) {
		if !utf8.Valid(text) {
			return // frames are UTF-8 JSON text
		}
		body := envelope(200, "tok", []protocol.Frame{{Data: text}, {Data: text}})
		// The envelope with one frame less: what the frame adds to it.
		one := envelope(200, "tok", []protocol.Frame{{Data: text}})
		if n := len(body) - len(one); n != protocol.QuotedLen(text)+1 {
			t.Fatalf("a frame adds %d bytes to the envelope, QuotedLen+1 = %d", n, protocol.QuotedLen(text)+1)
		}
		var got struct {
			Status   int      `json:"status"`
			Token    string   `json:"token"`
			Messages []string `json:"messages"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("envelope %q: %v", body, err)
		}
		if got.Status != 200 || got.Token != "tok" || len(got.Messages) != 2 || got.Messages[0] != string(text) {
			t.Fatalf("envelope %q decoded to %+v", body, got)
		}
	})
}
