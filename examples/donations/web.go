package donations

import (
	"embed"

	"github.com/pyrehq/pyre/examples/internal/httpapi"
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
const clientFile = httpapi.ClientFile

// EmbeddedClient reports whether this binary carries the page's phoenix.js
// client. Without it, and without Config.AssetsDir, the page's script
// cannot load.
func EmbeddedClient() bool { return httpapi.HasClient(webFS) }

// pageRoutes serves the page at /, its files under /static/ and the
// phoenix.js client under /assets/. Everything comes from the binary (or
// Config.AssetsDir), nothing from the working directory.
func (a *App) pageRoutes() { httpapi.ServePage(a.mux, webFS, a.cfg.AssetsDir) }
