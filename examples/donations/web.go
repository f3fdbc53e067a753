package donations

import (
	"embed"

	"github.com/pyrehq/pyre/examples/internal/httpapi"
)

// webFS is the dashboard page; the phoenix.js client it imports is served
// from examples/internal/phoenixjs, the copy both example pages share.
//
//go:embed web
var webFS embed.FS

// clientFile is the phoenix.js client the page imports, as
// /assets/phoenix.mjs.
const clientFile = httpapi.ClientFile

// pageRoutes serves the page at /, its files under /static/ and the
// phoenix.js client under /assets/. Everything comes from the binary (or
// Config.AssetsDir), nothing from the working directory.
func (a *App) pageRoutes() { httpapi.ServePage(a.mux, webFS, a.cfg.AssetsDir) }
