// Package ui holds routewatch's web UI: plain ES modules, CSS and SVG
// drawn in the browser, embedded in the binary (no CDN, no build step).
// The api package serves it at / on the API listener.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed index.html static
var assets embed.FS

// Index is the single HTML page every UI route answers with.
func Index() []byte {
	b, _ := assets.ReadFile("index.html")
	return b
}

// Static is the tree served under /ui/ (app.js, style.css, …).
func Static() fs.FS {
	sub, _ := fs.Sub(assets, "static")
	return sub
}
