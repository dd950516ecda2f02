package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/s3cors/caddy-s3-cors/cors"
)

const s3Vary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

func TestMergeVary(t *testing.T) {
	matched := []string{s3Vary}
	tests := []struct {
		name     string
		ours     []string // nil: no rule matched
		upstream []string
		want     []string
	}{
		{"names already ours", matched, []string{"Origin", "origin, ACCESS-CONTROL-REQUEST-METHOD"}, matched},
		{"two lines as MinIO sends them", matched, []string{"Origin", "Accept-Encoding"}, []string{s3Vary + ", Accept-Encoding"}},
		{"duplicates and spaces", matched, []string{" Accept-Encoding ,accept-encoding,, Range"}, []string{s3Vary + ", Accept-Encoding, Range"}},
		{"a star wins", matched, []string{"Accept-Encoding", "*"}, []string{"*"}},
		{"no match: MinIO's Origin goes, Accept-Encoding stays", nil, []string{"Origin", "Accept-Encoding"}, []string{"Accept-Encoding"}},
		{"no match: every CORS name goes, in any case", nil,
			[]string{"ORIGIN, access-control-request-method", " Access-Control-Request-Headers "}, nil},
		{"no match: other names keep their order on one line", nil,
			[]string{"X-Tenant, origin", "Accept-Encoding, Access-Control-Request-Method"}, []string{"X-Tenant, Accept-Encoding"}},
		{"no match: a name that only starts like a CORS one stays", nil, []string{"Origin-Trial, Access-Control-Request-Private-Network"},
			[]string{"Origin-Trial, Access-Control-Request-Private-Network"}},
		{"no match: a star wins", nil, []string{"Origin", "*"}, []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeVary(tt.ours, tt.upstream); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergeVary(%q, %q) = %q, want %q", tt.ours, tt.upstream, got, tt.want)
			}
		})
	}
}

// allowed returns an allowing decision for a GET from https://app.example.
func allowed(t *testing.T) cors.Decision {
	t.Helper()
	cfg, err := cors.Parse([]byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>` +
		`<AllowedOrigin>https://app.example</AllowedOrigin><ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	d := cors.Compile(cfg).Actual(cors.NewRequest(http.MethodGet, http.Header{"Origin": {"https://app.example"}}))
	if !d.Allowed() {
		t.Fatal("the test rule does not allow the request")
	}
	return d
}

// upstreamHeaders are what a permissive store sends, as reverse_proxy
// copies them: with Add, so in canonical form.
func upstreamHeaders(h http.Header) {
	h.Add("Access-Control-Allow-Origin", "*")
	h.Add("Access-Control-Expose-Headers", "ETag")
	h.Add("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	h.Add("Vary", "Accept-Encoding")
	h.Add("Etag", `"abc"`)
}

// Every way a handler can start the response must rewrite the headers
// first: WriteHeader, Write, io.Copy (ReadFrom), a Flush before anything
// was written, and writing nothing at all.
func TestCORSWriterRewritesOnEveryPath(t *testing.T) {
	paths := map[string]func(w http.ResponseWriter){
		"WriteHeader": func(w http.ResponseWriter) { w.WriteHeader(http.StatusPartialContent) },
		"Write":       func(w http.ResponseWriter) { _, _ = w.Write([]byte("body")) },
		"ReadFrom":    func(w http.ResponseWriter) { _, _ = io.Copy(w, strings.NewReader("body")) },
		"Flush":       func(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() },
		"nothing":     func(http.ResponseWriter) {},
	}
	for name, write := range paths {
		for _, d := range []cors.Decision{{}, allowed(t)} {
			t.Run(name, func(t *testing.T) {
				rec := httptest.NewRecorder()
				cw := newCORSWriter(rec, d, false)
				upstreamHeaders(cw.Header())
				write(cw)
				cw.finish()
				got := rec.Result().Header
				if got.Get("Etag") != `"abc"` {
					t.Errorf("a non-CORS header was lost: %v", got)
				}
				if !d.Allowed() {
					for k := range got {
						if strings.HasPrefix(k, "Access-Control-") {
							t.Errorf("%s = %q survived a refusal", k, got[k])
						}
					}
					if v := got.Values("Vary"); !reflect.DeepEqual(v, []string{"Accept-Encoding"}) {
						t.Errorf("Vary = %q, want the upstream's Accept-Encoding without its Origin", v)
					}
					return
				}
				want := http.Header{
					"Access-Control-Allow-Origin":      {"https://app.example"},
					"Access-Control-Allow-Credentials": {"true"},
					"Access-Control-Allow-Methods":     {"GET"},
					"Access-Control-Expose-Headers":    {"ETag"},
					"Vary":                             {s3Vary + ", Accept-Encoding"},
				}
				for k, v := range want {
					if !reflect.DeepEqual(got[k], v) {
						t.Errorf("%s = %q, want %q", k, got[k], v)
					}
				}
			})
		}
	}
}

// Interim responses pass as they are; the final one is rewritten once.
func TestCORSWriterInterimResponses(t *testing.T) {
	rec := httptest.NewRecorder()
	cw := newCORSWriter(rec, allowed(t), false)
	cw.WriteHeader(http.StatusEarlyHints)
	if cw.wroteHeader {
		t.Fatal("a 103 counted as the final response")
	}
	upstreamHeaders(cw.Header())
	cw.WriteHeader(http.StatusOK)
	cw.WriteHeader(http.StatusInternalServerError) // superfluous; must not rewrite again
	if cw.status != http.StatusOK {
		t.Errorf("status = %d", cw.status)
	}
	if got := rec.Header().Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
}

// A store that varies only on its own CORS names leaves no Vary on a
// response that matched no rule, as S3 sends none there.
func TestCORSWriterDropsStoreCORSVary(t *testing.T) {
	rec := httptest.NewRecorder()
	cw := newCORSWriter(rec, cors.Decision{}, false)
	cw.Header().Add("Vary", "Origin")
	cw.Header().Add("Vary", "access-control-request-method, Access-Control-Request-Headers")
	cw.WriteHeader(http.StatusOK)
	if v, ok := rec.Header()["Vary"]; ok {
		t.Errorf("Vary = %q, want none", v)
	}
}
