package bench

import (
	"net/http"

	jub0bs "github.com/jub0bs/cors"
	rscors "github.com/rs/cors"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// The configuration every implementation is given: as close as the peers'
// semantics allow to one S3 rule with credentials echoed.
var (
	cfgOrigins  = []string{"https://example.com", "https://*.example.com", "https://partner.example.org"}
	cfgMethods  = []string{"GET", "PUT", "POST", "DELETE", "HEAD"}
	cfgHeaders  = []string{"Authorization", "Content-Type", "Content-MD5", "X-Amz-Content-Sha256", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-User-Agent", "X-Amz-Acl"}
	cfgExpose   = []string{"ETag", "X-Amz-Request-Id"}
	cfgMaxAge   = 3600
	cfgMaxAgeS  = "3600"
	specVary    = cors.VaryValue
	allowedRule = cors.Rule{
		AllowedOrigins: cfgOrigins,
		AllowedMethods: cfgMethods,
		AllowedHeaders: cfgHeaders,
		ExposeHeaders:  cfgExpose,
		MaxAgeSeconds:  &cfgMaxAge,
	}
)

// next stands for the proxied upstream: it writes nothing, so the cost
// measured is the CORS layer's alone.
var next = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// engine is how the Caddy handler drives the engine: read the request, decide,
// write the headers; preflights are answered, other requests passed on.
type engine struct{ p *cors.Policy }

func (e engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := cors.NewRequest(r.Method, r.Header)
	if r.Method == http.MethodOptions {
		d := e.p.Preflight(req)
		d.WriteHeaders(w.Header())
		w.WriteHeader(d.StatusCode())
		return
	}
	e.p.Actual(req).WriteHeaders(w.Header())
	next.ServeHTTP(w, r)
}

func newEngine(rules ...cors.Rule) http.Handler {
	c := &cors.Configuration{Rules: rules}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return engine{cors.Compile(c)}
}

func newRS() http.Handler {
	return rscors.New(rscors.Options{
		AllowedOrigins:   cfgOrigins,
		AllowedMethods:   cfgMethods,
		AllowedHeaders:   cfgHeaders,
		ExposedHeaders:   cfgExpose,
		MaxAge:           cfgMaxAge,
		AllowCredentials: true,
	}).Handler(next)
}

func newJub0bs() http.Handler {
	m, err := jub0bs.NewMiddleware(jub0bs.Config{
		Origins:         cfgOrigins,
		Credentialed:    true,
		Methods:         cfgMethods,
		RequestHeaders:  cfgHeaders,
		MaxAgeInSeconds: cfgMaxAge,
		ResponseHeaders: cfgExpose,
	})
	if err != nil {
		panic(err)
	}
	return m.Wrap(next)
}

// floor is the least a CORS handler can do: no matching, request values
// echoed and fixed slices assigned (shared between responses, which is not
// safe in Caddy), no allocation.
type floor struct{}

var (
	floorTrue   = []string{"true"}
	floorMaxAge = []string{cfgMaxAgeS}
	floorVary   = []string{specVary}
	floorExpose = []string{"ETag, X-Amz-Request-Id"}
)

func (floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Access-Control-Allow-Origin"] = r.Header["Origin"]
	h["Access-Control-Allow-Credentials"] = floorTrue
	h["Vary"] = floorVary
	if r.Method == http.MethodOptions {
		h["Access-Control-Allow-Methods"] = r.Header["Access-Control-Request-Method"]
		h["Access-Control-Allow-Headers"] = r.Header["Access-Control-Request-Headers"]
		h["Access-Control-Max-Age"] = floorMaxAge
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h["Access-Control-Expose-Headers"] = floorExpose
	next.ServeHTTP(w, r)
}

// floorFresh is the floor made safe: the same values, copied into one fresh
// backing array per response, as the engine must. It measures what that
// safety costs by itself.
type floorFresh struct{}

func (floorFresh) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	v := new([7]string)
	v[0] = r.Header["Origin"][0]
	v[1] = "true"
	v[2] = specVary
	h["Access-Control-Allow-Origin"] = v[0:1:1]
	h["Access-Control-Allow-Credentials"] = v[1:2:2]
	h["Vary"] = v[2:3:3]
	if r.Method == http.MethodOptions {
		v[3] = r.Header["Access-Control-Request-Method"][0]
		v[4] = r.Header["Access-Control-Request-Headers"][0]
		v[5] = cfgMaxAgeS
		h["Access-Control-Allow-Methods"] = v[3:4:4]
		h["Access-Control-Allow-Headers"] = v[4:5:5]
		h["Access-Control-Max-Age"] = v[5:6:6]
		w.WriteHeader(http.StatusNoContent)
		return
	}
	v[6] = "ETag, X-Amz-Request-Id"
	h["Access-Control-Expose-Headers"] = v[6:7:7]
	next.ServeHTTP(w, r)
}

// leanWriter is a reusable ResponseWriter: its header map is cleared per
// operation and keeps its buckets, so any allocation counted is the handler's.
type leanWriter struct {
	h    http.Header
	code int
}

func newLeanWriter() *leanWriter { return &leanWriter{h: make(http.Header, 16)} }

func (w *leanWriter) Header() http.Header { return w.h }

func (w *leanWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}

func (w *leanWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *leanWriter) reset() {
	clear(w.h)
	w.code = 0
}

// status is the response status, 200 when the handler wrote nothing.
func (w *leanWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func request(method string, header map[string]string) *http.Request {
	r, err := http.NewRequest(method, "http://s3.example.com/bucket/key", nil)
	if err != nil {
		panic(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}
