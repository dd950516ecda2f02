package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// corsVaryValue is S3's Vary of a matched CORS response.
const corsVaryValue = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

// adoptingHandler is the s3_cors block of the adopting tests: the usual
// keys and upstream, and the lines of extra.
func adoptingHandler(storeURL string, extra ...string) string {
	lines := []string{
		"credentials {env.S3CORS_E2E_ACCESS_KEY} {env.S3CORS_E2E_SECRET_KEY}",
		"region " + region,
		"upstream " + storeURL + " {\n\t\t\tcredentials {env.S3CORS_E2E_ACCESS_KEY} {env.S3CORS_E2E_SECRET_KEY}\n\t\t\tcache_ttl 1s\n\t\t}",
	}
	return "\t\t" + strings.Join(append(lines, extra...), "\n\t\t")
}

// cliRun is what one run of `caddy s3-cors` printed and how it exited.
type cliRun struct {
	stdout, stderr string
	code           int
}

// s3corsCLI runs the project's `caddy s3-cors args...` against px's admin
// endpoint, as an operator would.
func s3corsCLI(t *testing.T, px *proxy, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(caddyBin, append(append([]string{"s3-cors"}, args...), "--address", "127.0.0.1:"+strconv.Itoa(px.cfg.AdminPort))...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := cliRun{stdout: stdout.String(), stderr: stderr.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		run.code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("caddy s3-cors %s: %v", strings.Join(args, " "), err)
	}
	return run
}

// TestDefaultCORS puts the proxy with default_cors in front of MinIO, whose
// buckets have no configuration (MinIO cannot store one), and has a real
// browser use a bucket through it: the default decides as the bucket's own
// configuration would, while GetBucketCors still finds none. The proxy
// also sets always_vary, checked on a response no rule matched.
func TestDefaultCORS(t *testing.T) {
	b := startBrowser(t)
	pages := startPageServer(t)
	allowed := pages.origin(allowedHost)
	file := filepath.Join(t.TempDir(), "default-cors.xml")
	if err := os.WriteFile(file, corsXML([]corsRule{{
		ID:             "legacy-app",
		AllowedHeaders: []string{"*"},
		AllowedMethods: []string{"GET", "HEAD", "PUT"},
		AllowedOrigins: []string{allowed},
		ExposeHeaders:  []string{"ETag", "x-amz-meta-color"},
		MaxAgeSeconds:  maxAge(60),
	}}), 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStore(t, minio)
	tp := startTap(t, st.URL)
	px := startProxy(t, proxyConfig{Upstream: tp.Host, Comment: "default_cors in front of MinIO",
		Handler: adoptingHandler(st.URL, "default_cors "+file, "always_vary")})
	s := &stack{store: st, tap: tp, proxy: px, s3: newS3Client(px.URL, rootCreds), direct: newS3Client(st.URL, rootCreds)}
	bt := &browserTest{b: b, pages: pages, s: s}

	bucket := bucketName(t, "default")
	body := "served by the default"
	etag := bt.putHello(t, bucket, body)

	t.Run("read", func(t *testing.T) {
		u := s.s3.presignGet(t, bucket, "hello.txt")
		tb := b.open(t, allowed)
		r := tb.request(t, u, nil)
		r.assertStatus(t, tb, "GET from the origin the default allows", http.StatusOK)
		if r.Body != body {
			t.Errorf("the page read %q, want %q", r.Body, body)
		}
		r.assertExposed(t, tb, "GET from the origin the default allows", map[string]string{"etag": etag, "x-amz-meta-color": "blue"})
		tb = b.open(t, pages.origin(deniedHost))
		tb.request(t, u, nil).assertBlocked(t, tb, "GET from an origin the default does not allow")
	})

	t.Run("preflighted_put", func(t *testing.T) { bt.uploadWithCustomHeaders(t, bucket, "the default") })

	t.Run("no_configuration_of_its_own", func(t *testing.T) {
		// As S3 would answer: the bucket has no configuration.
		s.s3.assertCORS(t, bucket, nil)
		run := s3corsCLI(t, px, "explain", bucket, "--origin", allowed, "--request-method", "PUT", "--request-headers", "content-type")
		var ex struct {
			Source, DefaultFile, Outcome string
		}
		if err := json.Unmarshal([]byte(run.stdout), &ex); run.code != 0 || err != nil {
			t.Fatalf("explain: exit %d, %s %s (%v)", run.code, run.stdout, run.stderr, err)
		}
		if ex.Source != "default" || ex.Outcome != "Allowed" {
			t.Errorf("explain: %+v", ex)
		}
		if !strings.Contains(run.stdout, `"default_file": "`+file+`"`) {
			t.Errorf("explain does not name the default's file: %s", run.stdout)
		}
		run = s3corsCLI(t, px, "stats", bucket)
		for _, want := range []string{"no configuration of its own; the default " + file + " decides (1 rule)", "\n0     legacy-app  "} {
			if run.code != 0 || !strings.Contains(run.stdout, want) {
				t.Errorf("stats lacks %q: exit %d\n%s%s", want, run.code, run.stdout, run.stderr)
			}
		}
	})

	t.Run("always_vary", func(t *testing.T) {
		// MinIO echoes every origin and varies on Origin and
		// Accept-Encoding; through the proxy, a response no rule matched
		// varies on S3's CORS names and MinIO's others, on one line.
		u := s.s3.presignGet(t, bucket, "hello.txt")
		direct := strings.Replace(u, px.URL, st.URL, 1)
		fromEvil := func(rawURL string) response {
			req := mustRequest(t, http.MethodGet, rawURL, nil)
			req.Header.Set("Origin", evilOrigin)
			return send(t, req)
		}
		var storeNames []string
		for _, name := range varyTokens(fromEvil(direct).header) {
			if !slices.ContainsFunc(strings.Split(corsVaryValue, ", "), func(c string) bool { return strings.EqualFold(c, name) }) {
				storeNames = append(storeNames, name)
			}
		}
		if len(storeNames) == 0 {
			t.Fatalf("MinIO varied on no name besides the CORS ones (%q): the merge would go untested", fromEvil(direct).header.Values("Vary"))
		}
		want := strings.Join(append([]string{corsVaryValue}, storeNames...), ", ")
		r := fromEvil(u)
		if got := r.header.Values("Vary"); r.status != http.StatusOK || len(got) != 1 || got[0] != want {
			t.Errorf("an unmatched GET through the proxy: %d, Vary %q, want one line %q", r.status, got, want)
		}
		if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("an unmatched GET got Access-Control-Allow-Origin %q (MinIO's passed?)", v)
		}
		pre := sendPreflight(t, px.URL+"/"+bucket+"/hello.txt", evilOrigin, "GET", "")
		if got := pre.header.Values("Vary"); pre.status != http.StatusForbidden || len(got) != 1 || got[0] != corsVaryValue {
			t.Errorf("a refused preflight: %d, Vary %q", pre.status, got)
		}
	})
	tp.assertNothingCORSForwarded(t)
}

// TestImportFromUpstream stores bucket CORS configurations directly in
// versitygw, which implements bucket CORS itself, and imports them through
// `caddy s3-cors import --from-upstream`: what S3 accepts is then served by
// the proxy, a configuration versitygw accepted but S3 refuses (a wildcard
// ExposeHeader) is reported and not imported, a bucket without
// configuration is reported as such, and one that has a configuration at
// the proxy already is left alone unless --replace is given.
func TestImportFromUpstream(t *testing.T) {
	st := startStore(t, versitygw)
	tp := startTap(t, st.URL)
	px := startProxy(t, proxyConfig{Upstream: tp.Host, Store: st.URL, Comment: "import from versitygw"})
	through := newS3Client(px.URL, rootCreds)
	direct := newS3Client(st.URL, rootCreds)

	uploads := []corsRule{
		{ID: "uploads", AllowedHeaders: []string{"content-type", "x-amz-*"}, AllowedMethods: []string{"PUT", "POST"},
			AllowedOrigins: []string{appOrigin}, ExposeHeaders: []string{"ETag"}, MaxAgeSeconds: maxAge(600)},
		{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}},
	}
	starExpose := []corsRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{appOrigin}, ExposeHeaders: []string{"*"}}}
	// Names sort in the order ListBuckets gives them.
	imported, refused, bare, here := "e2e-imp-a-uploads", "e2e-imp-b-star", "e2e-imp-c-bare", "e2e-imp-d-here"
	for _, b := range []string{imported, refused, bare, here} {
		direct.createBucket(t, b)
	}
	direct.putCORS(t, imported, uploads)
	direct.putCORS(t, refused, starExpose) // versitygw accepts it; S3 would not
	direct.putCORS(t, here, publicRules)
	through.putCORS(t, here, appRules) // the proxy's own, which the import must keep
	direct.assertCORS(t, refused, starExpose)

	run := s3corsCLI(t, px, "import", "--from-upstream")
	wantLines := []string{
		imported + "  imported (2 rules)",
		refused + "     refused: InvalidRequest: ExposeHeader \"*\" contains wildcard. We currently do not support wildcard for ExposeHeader.",
		bare + "     no configuration at the store",
		here + "     skipped: it has a configuration here already (--replace overwrites it)",
		"import from " + st.URL + ": 4 buckets, 1 imported, 0 replaced, 1 skipped, 1 no_configuration, 1 refused, 0 failed",
	}
	if got := strings.Split(strings.TrimSuffix(run.stdout, "\n"), "\n"); run.code != 1 || !slices.Equal(got, wantLines) ||
		!strings.Contains(run.stderr, "1 of 4 buckets were not imported") {
		t.Errorf("import --from-upstream: exit %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", run.code, run.stdout, strings.Join(wantLines, "\n"), run.stderr)
	}

	through.assertCORS(t, imported, uploads)
	through.assertCORS(t, refused, nil)
	through.assertCORS(t, bare, nil)
	through.assertCORS(t, here, appRules)
	if pre := sendPreflight(t, px.URL+"/"+imported+"/a.bin", appOrigin, "PUT", "content-type,x-amz-meta-x"); pre.status != http.StatusOK ||
		pre.header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("a preflight the imported rules allow: %s", pre)
	}

	run = s3corsCLI(t, px, "import", "--from-upstream", here, "--replace")
	if run.code != 0 || run.stdout != here+"  imported over the configuration it had here (1 rule)\n"+
		"import from "+st.URL+": 1 bucket, 0 imported, 1 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\n" {
		t.Errorf("import --from-upstream --replace: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	through.assertCORS(t, here, publicRules)

	run = s3corsCLI(t, px, "import", "--from-upstream", "e2e-imp-missing")
	if run.code != 1 || !strings.Contains(run.stdout, "e2e-imp-missing  failed: NoSuchBucket: ") {
		t.Errorf("import of a bucket the store does not have: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	tp.assertNothingCORSForwarded(t)
}
