package httpapi

import (
	"io/fs"
	"net/http"
	"os"

	"github.com/pyrehq/pyre/examples/internal/phoenixjs"
)

// ClientFile is the phoenix.js client an example page imports, as
// /assets/phoenix.mjs.
const ClientFile = "phoenix.mjs"

// ServePage serves an example's page from its embedded files: web/index.html
// at /, the rest of web/ under /static/, and the phoenix.js client under
// /assets/, the copy built into the binary (package phoenixjs) or, if
// assetsDir is set, that directory's. Nothing comes from the working
// directory.
func ServePage(mux *http.ServeMux, files fs.FS, assetsDir string) {
	web, _ := fs.Sub(files, "web")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web)))
	var client fs.FS = phoenixjs.FS
	if assetsDir != "" {
		client = os.DirFS(assetsDir)
	}
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(client)))
}
