package donations

import (
	"embed"
	"io/fs"
	"net/http"
	"os"
)

// webFS is the dashboard page. Its phoenix/ directory holds the official
// phoenix.js client, which is npm's and not in the repository: the build
// (make build) copies it there before compiling, and a binary built
// without that step has none (see EmbeddedClient).
//
//go:embed web
var webFS embed.FS

// clientFile is the phoenix.js client the page imports, as
// /assets/phoenix.mjs.
const clientFile = "phoenix.mjs"

// EmbeddedClient reports whether this binary carries the page's phoenix.js
// client. Without it, and without Config.AssetsDir, the page's script
// cannot load.
func EmbeddedClient() bool {
	_, err := fs.Stat(webFS, "web/phoenix/"+clientFile)
	return err == nil
}

// pageRoutes serves the page at /, its files under /static/ and the
// phoenix.js client under /assets/. Everything comes from the binary (or
// Config.AssetsDir), nothing from the working directory.
func (a *App) pageRoutes() {
	web, _ := fs.Sub(webFS, "web")
	a.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "index.html")
	})
	a.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web)))
	client, _ := fs.Sub(webFS, "web/phoenix")
	if a.cfg.AssetsDir != "" {
		client = os.DirFS(a.cfg.AssetsDir)
	}
	a.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(client)))
}
