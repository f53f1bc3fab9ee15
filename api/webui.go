package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"routewatch/api/ui"
)

// uiCSP allows only the UI's own scripts, styles and API: no inline
// script or style, no third-party origin, no framing.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// uiPages are the UI's client-side routes; each answers with index.html.
var uiPages = []string{"/", "/timeline", "/peers", "/events/:id", "/prefix/*"}

// routeUI serves the web UI at / and its assets under /ui/. The pages
// need no token: they hold no data, the API calls they make do.
func (s *Server) routeUI(e *echo.Echo) {
	index := ui.Index()
	page := func(c echo.Context) error {
		setUIHeaders(c)
		return c.Blob(http.StatusOK, echo.MIMETextHTMLCharsetUTF8, index)
	}
	for _, p := range uiPages {
		e.GET(p, page)
		e.HEAD(p, page)
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(ui.Static()))
	assets := func(c echo.Context) error {
		if strings.HasSuffix(c.Request().URL.Path, "/") {
			return &Error{Status: http.StatusNotFound, Message: "not found"} // no listings
		}
		setUIHeaders(c)
		// Assets change only with the binary.
		c.Response().Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}
	e.GET("/ui/*", assets)
	e.HEAD("/ui/*", assets)
}

func setUIHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}
