package donations

import (
	"net/http"
	"time"

	"github.com/pyrehq/pyre/admin"
	"github.com/pyrehq/pyre/examples/internal/httpapi"
)

// askTimeout bounds an HTTP handler's request to the ledger.
const askTimeout = 3 * time.Second

func (a *App) routes() error {
	a.pageRoutes()
	if a.cfg.AdminKey != "" {
		// The live admin view, with the app's supervision tree.
		view, err := admin.New(a.socket, a.cfg.AdminKey, admin.WithTree(treeName, a.tree))
		if err != nil {
			return err
		}
		a.mux.Handle("/admin", view)
		a.mux.Handle("/admin/", view)
	}
	a.mux.Handle("/socket/", a.socket)
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /api/campaigns", a.campaigns)
	a.mux.HandleFunc("POST /api/login", a.login)
	a.mux.HandleFunc("POST /api/admin-login", httpapi.RequireBearer(a.cfg.AdminKey, a.adminLogin))
	a.mux.HandleFunc("POST /api/crash-worker", httpapi.RequireBearer(a.cfg.AdminKey, a.crashWorker))
	return nil
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
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "down", "reason": reason})
	default:
		httpapi.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "sockets": a.socket.Len()})
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
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "ledger unavailable: " + err.Error()})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s)
}

// crashWorker serves POST /api/crash-worker: the announcer panics and the
// supervisor restarts it.
func (a *App) crashWorker(w http.ResponseWriter, _ *http.Request) {
	a.system.Root.Send(a.svc.announcer, &crashWorker{})
	a.cfg.Logger.Info().Msg("announcer crash requested")
	httpapi.WriteJSON(w, http.StatusAccepted, map[string]string{"status": "crash requested"})
}
