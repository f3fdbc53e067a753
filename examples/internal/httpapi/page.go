package httpapi

import (
	"io/fs"
	"net/http"
	"os"
)

// ClientFile is the phoenix.js client an example page imports, as
// /assets/phoenix.mjs.
const ClientFile = "phoenix.mjs"

// HasClient reports whether an example's embedded files (web/, with the
// phoenix.js client in web/phoenix/) carry the client: the build copies it
// there from npm before compiling, so a binary built without that step has
// none.
func HasClient(files fs.FS) bool {
	_, err := fs.Stat(files, "web/phoenix/"+ClientFile)
	return err == nil
}

// ServePage serves an example's page from its embedded files: web/index.html
// at /, the rest of web/ under /static/, and the phoenix.js client under
// /assets/, from web/phoenix/ or, if assetsDir is set, from that
// directory. Nothing comes from the working directory.
func ServePage(mux *http.ServeMux, files fs.FS, assetsDir string) {
	web, _ := fs.Sub(files, "web")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(web)))
	client, _ := fs.Sub(files, "web/phoenix")
	if assetsDir != "" {
		client = os.DirFS(assetsDir)
	}
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(client)))
}
