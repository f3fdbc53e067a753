package donations

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// askTimeout bounds an HTTP handler's request to the ledger.
const askTimeout = 3 * time.Second

func (a *App) routes() {
	a.mux.Handle("/socket/", a.socket)
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /api/campaigns", a.campaigns)
	a.mux.HandleFunc("POST /api/login", a.login)
	a.mux.HandleFunc("POST /api/admin-login", a.withAdminKey(a.adminLogin))
	a.mux.HandleFunc("POST /api/crash-worker", a.withAdminKey(a.crashWorker))
}

const maxBody = 1 << 20

// decodeBody decodes a JSON request body of at most maxBody bytes into v,
// or answers 413 (too large) or 400 (not JSON) and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", maxBody)})
		return false
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body"})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// healthz answers 200 while the supervision tree runs and 503 once it has
// given up.
func (a *App) healthz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-a.tree.Done():
		reason := "stopped"
		if err := a.tree.Err(); err != nil {
			reason = err.Error()
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "down", "reason": reason})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "sockets": a.socket.Len()})
	}
}

// snapshot asks the ledger for the current totals, through its mailbox.
func (a *App) snapshot() (*Snapshot, error) {
	res, err := a.system.Root.RequestFuture(a.svc.ledger, &snapshotRequest{}, askTimeout).Result()
	if err != nil {
		return nil, err
	}
	return res.(*Snapshot), nil
}

// campaigns serves GET /api/campaigns: every campaign's totals and the
// announcer's restart count.
func (a *App) campaigns(w http.ResponseWriter, _ *http.Request) {
	s, err := a.snapshot()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "ledger unavailable: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// crashWorker serves POST /api/crash-worker: the announcer panics and the
// supervisor restarts it.
func (a *App) crashWorker(w http.ResponseWriter, _ *http.Request) {
	a.system.Root.Send(a.svc.announcer, &crashWorker{})
	a.cfg.Logger.Info().Msg("announcer crash requested")
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "crash requested"})
}
