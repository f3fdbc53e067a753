// Package phoenixjs holds the official phoenix.js client that the example
// pages import as /assets/phoenix.mjs, with its source map and its licence.
// The files are npm's (package phoenix, Version below), committed so that
// any build of the module, go install included, carries them; make vet
// and this package's test check that they equal the npm package's copy.
// It is part of the examples, not of pyre.
package phoenixjs

import "embed"

// Version is the phoenix npm package the files come from; package-lock.json
// pins the same one.
const Version = "1.8.16"

// FS holds phoenix.mjs, phoenix.mjs.map and LICENSE.md at its root.
//
//go:embed phoenix.mjs phoenix.mjs.map LICENSE.md
var FS embed.FS
