package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestHandlersWithoutNext(t *testing.T) {
	h := new(Handler)
	proxy := new(caddyhttp.StaticResponse) // stands for reverse_proxy
	route := func(terminal bool, handlers ...caddyhttp.MiddlewareHandler) caddyhttp.Route {
		return caddyhttp.Route{Terminal: terminal, Handlers: handlers}
	}
	subroute := func(routes ...caddyhttp.Route) *caddyhttp.Subroute {
		return &caddyhttp.Subroute{Routes: routes}
	}
	tests := []struct {
		name   string
		routes caddyhttp.RouteList
		alone  bool
	}{
		{"alone in the server", caddyhttp.RouteList{route(false, h)}, true},
		{"before the proxy in one route", caddyhttp.RouteList{route(false, h, proxy)}, false},
		{"a route before the proxy's", caddyhttp.RouteList{route(false, h), route(false, proxy)}, false},
		{"in a terminal route before the proxy's", caddyhttp.RouteList{route(true, h), route(false, proxy)}, true},
		{"after the proxy", caddyhttp.RouteList{route(false, proxy, h)}, true},
		{"a Caddyfile site without reverse_proxy",
			caddyhttp.RouteList{route(true, subroute(route(false, h)))}, true},
		{"a Caddyfile site with reverse_proxy",
			caddyhttp.RouteList{route(true, subroute(route(false, h), route(false, proxy)))}, false},
		{"a subroute the proxy follows", caddyhttp.RouteList{route(false, subroute(route(false, h)), proxy)}, false},
		{"a terminal route inside a subroute the proxy follows",
			caddyhttp.RouteList{route(false, subroute(route(true, h)), proxy)}, true},
		{"later routes without handlers", caddyhttp.RouteList{route(false, h), route(false)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := handlersWithoutNext(tt.routes, false)
			if alone := len(got) == 1 && got[0] == h; alone != tt.alone || len(got) > 1 {
				t.Errorf("found %v, want the handler found: %v", got, tt.alone)
			}
		})
	}
}
