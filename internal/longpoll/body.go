package longpoll

import (
	"bytes"
	"encoding/base64"
	"mime"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/pyrehq/pyre/protocol"
)

// decodeBody reads a POST body: one text frame, or with Content-Type
// application/x-ndjson one frame a line, base64 for binary ones. Malformed
// frames are dropped with a warning, as on WebSocket; a frame over
// maxFrame or more than maxBatch lines refuse the whole body (413).
func decodeBody(ser protocol.Serializer, contentType string, body []byte, maxFrame int64,
	log *zerolog.Logger) ([]protocol.Message, int) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/x-ndjson" {
		if int64(len(body)) > maxFrame {
			return nil, http.StatusRequestEntityTooLarge
		}
		msg, err := ser.Decode(body, false)
		if err != nil {
			log.Warn().Err(err).Int("bytes", len(body)).Msg("malformed frame dropped")
			return nil, http.StatusOK
		}
		return []protocol.Message{msg}, http.StatusOK
	}
	var msgs []protocol.Message
	lines := 0
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		if lines++; lines > maxBatch {
			return nil, http.StatusRequestEntityTooLarge
		}
		binary := line[0] != '[' && line[0] != '{'
		data := line
		if binary {
			if int64(base64.StdEncoding.DecodedLen(len(line))) > maxFrame+2 {
				return nil, http.StatusRequestEntityTooLarge
			}
			data = make([]byte, base64.StdEncoding.DecodedLen(len(line)))
			n, err := base64.StdEncoding.Decode(data, line)
			if err != nil {
				log.Warn().Err(err).Int("bytes", len(line)).Msg("malformed base64 frame dropped")
				continue
			}
			data = data[:n]
		}
		if int64(len(data)) > maxFrame {
			return nil, http.StatusRequestEntityTooLarge
		}
		msg, err := ser.Decode(data, binary)
		if err != nil {
			log.Warn().Err(err).Int("bytes", len(data)).Msg("malformed frame dropped")
			continue
		}
		msgs = append(msgs, msg)
	}
	return msgs, http.StatusOK
}

// Response bodies.

func writeBody(w http.ResponseWriter, body []byte) { writeBodyStatus(w, http.StatusOK, body) }

// writeBodyStatus answers with HTTP code, which only a refused opening poll
// sets to anything but 200 (phoenix.js reads the body's status alone; the
// code is for proxies, logs and other clients).
func writeBodyStatus(w http.ResponseWriter, code int, body []byte) {
	if body == nil {
		return // the client went away
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("Cache-Control", "no-store") // the poll URL can be the same for every session
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func statusBody(status int) []byte {
	b := strconv.AppendInt([]byte(`{"status":`), int64(status), 10)
	return append(b, '}')
}

func envelope(status int, tok string, frames []protocol.Frame) []byte {
	n := 48 + len(tok)
	for _, f := range frames {
		n += len(f.Data) + len(f.Data)/8 + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"token":`...)
	b = protocol.AppendString(b, tok)
	b = append(b, `,"messages":[`...)
	for i, f := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = protocol.AppendBytes(b, f.Data)
	}
	return append(b, "]}"...)
}
