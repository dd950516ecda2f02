package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// A handler passes every request that is neither a ?cors call nor a
// preflight to the next handler, which must be the store's reverse_proxy.
// With nothing after it, Caddy answers those requests with an empty 200: an
// object GET would seem to find an empty object. The app warns at start
// about every handler that nothing follows in its route, and a handler
// warns once when the handler after it wrote no response, which also
// catches a reverse_proxy whose matchers leave requests out.

// addNextHandler says what to add, in the words of both configurations.
const addNextHandler = "add `reverse_proxy <store address>` after s3_cors in the same site " +
	"(in JSON, a reverse_proxy handler after the s3_cors handler in the route)"

// warnHandlersWithoutNext logs a warning for every s3_cors handler of the
// http app's servers after which no handler can run.
func warnHandlersWithoutNext(httpApp *caddyhttp.App, logger *zap.Logger) {
	for name, srv := range httpApp.Servers {
		for range handlersWithoutNext(srv.Routes, false) {
			logger.Warn("s3_cors has no handler after it, so every request it does not answer itself "+
				"(object reads and writes, bucket listings) gets an empty 200; "+addNextHandler,
				zap.String("server", name), zap.Strings("listen", srv.Listen))
		}
	}
}

// handlersWithoutNext returns the s3_cors handlers in routes after which no
// handler can run; followed says whether a handler runs after the routes.
// It errs towards silence: a handler that may run counts, whatever its
// matchers. Named and error routes are not searched.
func handlersWithoutNext(routes caddyhttp.RouteList, followed bool) []*Handler {
	var found []*Handler
	for i, rt := range routes {
		// A terminal route's handlers end the chain, even inside a
		// subroute.
		after := !rt.Terminal && (followed || haveHandlers(routes[i+1:]))
		for j, mh := range rt.Handlers {
			next := after || j < len(rt.Handlers)-1
			switch h := mh.(type) {
			case *Handler:
				if !next {
					found = append(found, h)
				}
			case *caddyhttp.Subroute:
				found = append(found, handlersWithoutNext(h.Routes, next)...)
			}
		}
	}
	return found
}

// haveHandlers reports whether any of routes has a handler.
func haveHandlers(routes caddyhttp.RouteList) bool {
	for _, rt := range routes {
		if len(rt.Handlers) > 0 {
			return true
		}
	}
	return false
}

// warnEmptyResponse logs, once per provisioned handler, that the handler
// after it wrote nothing for r.
func (h *Handler) warnEmptyResponse(r *http.Request) {
	if h.warnedEmpty != nil && h.warnedEmpty.CompareAndSwap(false, true) {
		h.logger.Warn("the handler after s3_cors wrote no response, so the client got an empty 200; "+addNextHandler+
			", with matchers that cover every request s3_cors passes on; logged once",
			zap.String("method", r.Method), zap.String("uri", r.RequestURI))
	}
}
