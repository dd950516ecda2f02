package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// The defaults the example configurations are written with; a test run
// replaces them with its own ports.
const (
	exampleListen   = "127.0.0.1:8080"
	exampleUpstream = "127.0.0.1:9000"
	exampleDomain   = "s3.localhost"
	// examplePageOrigin is the browser-upload page's origin, which
	// examples/cors/browser-upload.* allow.
	examplePageOrigin = "http://localhost:8081"
)

// TestExamples runs everything under examples/ so that none can rot: each
// Caddyfile adapts and validates with the project's binary and says the same
// as its JSON twin; both are started in front of MinIO and take a
// PutBucketCors and preflights; every CORS document is accepted through the
// proxy, as XML and, with the aws CLI, as JSON, with the same result; and the
// browser-upload page uploads a file from Chromium.
func TestExamples(t *testing.T) {
	needCaddy(t)
	t.Run("configs", testExampleConfigs)

	st := startStore(t, minio, "MINIO_DOMAIN="+exampleDomain)
	t.Run("minio", func(t *testing.T) { testMinIOExample(t, st) })
	t.Run("Caddyfile.example", func(t *testing.T) { testRootExample(t, st) })
	t.Run("virtual-host", func(t *testing.T) { testVirtualHostExample(t, st) })
	t.Run("env-secrets", func(t *testing.T) { testEnvSecretsExample(t, st) })

	s := newStack(t, minio)
	t.Run("cors", func(t *testing.T) { testCORSDocuments(t, s) })
	t.Run("browser-upload", func(t *testing.T) { testBrowserUploadExample(t, s) })
}

func examplesDir() string { return filepath.Join(repoRoot, "examples") }

// exampleSecrets are the {env.*} values the examples read at start-up; for
// adapting and validating, any non-empty values do.
var exampleSecrets = []string{
	"S3CORS_ACCESS_KEY=" + rootAccessKey,
	"S3CORS_SECRET_KEY=" + rootSecretKey,
	"S3CORS_ADMIN_ACCESS_KEY=example-admin",
	"S3CORS_ADMIN_SECRET_KEY=example-admin-secret",
	"S3CORS_WEB_ACCESS_KEY=example-web",
	"S3CORS_WEB_SECRET_KEY=example-web-secret",
	"S3CORS_OWNER_ID=111122223333",
	"S3CORS_UPSTREAM_ACCESS_KEY=" + rootAccessKey,
	"S3CORS_UPSTREAM_SECRET_KEY=" + rootSecretKey,
}

// exampleVars are the variables an example's caddy runs with: Caddy's dirs
// in a temp dir, the example's secrets, then extra.
func exampleVars(t *testing.T, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	vars := []string{"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config")}
	vars = append(vars, exampleSecrets...)
	return append(vars, extra...)
}

// cleanEnv is this process's environment without its S3CORS_*, CADDY_* and
// XDG_* settings, so that an example's own defaults apply, plus vars.
func cleanEnv(vars []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "S3CORS_") && !strings.HasPrefix(kv, "CADDY_") && !strings.HasPrefix(kv, "XDG_") {
			env = append(env, kv)
		}
	}
	return append(env, vars...)
}

// caddyCommand runs the project's binary with args and returns its stdout.
func caddyCommand(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("caddy %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 8<<10))
	}
	return stdout.Bytes()
}

// testExampleConfigs adapts and validates every example's Caddyfile,
// validates its caddy.json, and checks that the two say the same.
func testExampleConfigs(t *testing.T) {
	caddyfiles, err := filepath.Glob(filepath.Join(examplesDir(), "*", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(caddyfiles) < 3 {
		t.Fatalf("found %d Caddyfiles under examples/, want the minio, virtual-host and env-secrets examples at least", len(caddyfiles))
	}
	for _, cf := range caddyfiles {
		dir := filepath.Dir(cf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			adapted := caddyCommand(t, cleanEnv(exampleVars(t)), "adapt", "--config", cf, "--adapter", "caddyfile", "--validate")
			twin := filepath.Join(dir, "caddy.json")
			caddyCommand(t, cleanEnv(exampleVars(t)), "validate", "--config", twin)
			written, err := os.ReadFile(twin)
			if err != nil {
				t.Fatalf("every example Caddyfile has a JSON twin: %v", err)
			}
			var a, w any
			if err := json.Unmarshal(adapted, &a); err != nil {
				t.Fatalf("caddy adapt printed no JSON (%v):\n%s", err, adapted)
			}
			if err := json.Unmarshal(written, &w); err != nil {
				t.Fatalf("%s: %v", twin, err)
			}
			if diffs := jsonDiff("", a, w); len(diffs) > 0 {
				t.Errorf("the Caddyfile and caddy.json of %s differ (adapted, then written):\n%s\nadapted Caddyfile:\n%s",
					filepath.Base(dir), strings.Join(diffs, "\n"), adapted)
			}
		})
	}
}

// jsonDiff compares two decoded JSON documents and describes each
// difference. Key order and formatting do not count, and neither does the
// form of a duration: Caddy writes 10000000000 where a person writes "10s".
func jsonDiff(path string, a, b any) []string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
		}
		var diffs []string
		keys := make(map[string]bool)
		for k := range a {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			av, aok := a[k]
			bv, bok := bm[k]
			switch {
			case !aok:
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing vs %v", path, k, bv))
			case !bok:
				diffs = append(diffs, fmt.Sprintf("%s.%s: %v vs missing", path, k, av))
			default:
				diffs = append(diffs, jsonDiff(path+"."+k, av, bv)...)
			}
		}
		return diffs
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
		}
		var diffs []string
		for i := range a {
			diffs = append(diffs, jsonDiff(path+"["+strconv.Itoa(i)+"]", a[i], bs[i])...)
		}
		return diffs
	}
	if sameDuration(a, b) || sameDuration(b, a) || a == b {
		return nil
	}
	return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
}

func sameDuration(nanos, text any) bool {
	n, ok := nanos.(float64)
	s, ok2 := text.(string)
	if !ok || !ok2 {
		return false
	}
	d, err := time.ParseDuration(s)
	return err == nil && float64(d) == n
}

// exampleProxy is an example configuration running in the project's caddy.
type exampleProxy struct {
	URL  string // http://127.0.0.1:port
	Port int
}

// runExample starts the example in dir twice over, as its Caddyfile and as
// its caddy.json, on free ports in front of st, and runs check against each.
func runExample(t *testing.T, dir string, st *store, check func(t *testing.T, px *exampleProxy)) {
	t.Helper()
	for _, variant := range []string{"Caddyfile", "caddy.json"} {
		t.Run(variant, func(t *testing.T) {
			port := testenv.FreePort()
			listen := "127.0.0.1:" + strconv.Itoa(port)
			admin := "127.0.0.1:" + strconv.Itoa(testenv.FreePort())
			config := filepath.Join(examplesDir(), dir, variant)
			args := []string{"run", "--config", config, "--adapter", "caddyfile"}
			if variant == "caddy.json" {
				// JSON has no environment defaults to override: put the test's
				// addresses where the example has its own.
				b, err := os.ReadFile(config)
				if err != nil {
					t.Fatal(err)
				}
				for _, addr := range []string{exampleListen, exampleUpstream} {
					if !bytes.Contains(b, []byte(`"`+addr+`"`)) {
						t.Fatalf("%s/caddy.json no longer has the address %s the test replaces with its own", dir, addr)
					}
				}
				b = bytes.ReplaceAll(b, []byte(`"http://`+exampleUpstream+`"`), []byte(`"`+st.URL+`"`))
				b = bytes.ReplaceAll(b, []byte(`"`+exampleUpstream+`"`), []byte(`"`+st.Host+`"`))
				b = bytes.ReplaceAll(b, []byte(`"`+exampleListen+`"`), []byte(`"`+listen+`"`))
				config = filepath.Join(t.TempDir(), "caddy.json")
				if err := os.WriteFile(config, b, 0o600); err != nil {
					t.Fatal(err)
				}
				args = []string{"run", "--config", config}
			}
			// startProcess adds these to this process's environment; every
			// variable the examples read is among them, so none of this
			// machine's settings leak in.
			vars := exampleVars(t,
				"S3CORS_PORT="+strconv.Itoa(port), "S3CORS_BIND=127.0.0.1", "S3CORS_UPSTREAM="+st.Host,
				"S3CORS_DOMAIN="+exampleDomain,
				// The examples leave the admin API at its default address;
				// the test moves it to a free port.
				"CADDY_ADMIN="+admin)
			proc := startProcess(t, t, "caddy "+dir+"/"+variant, vars, append([]string{caddyBin}, args...)...)
			waitReady(t, proc, caddyReady("http://"+admin+"/config/", listen))
			check(t, &exampleProxy{URL: "http://" + listen, Port: port})
		})
	}
}

// testMinIOExample: path-style buckets, the upstream HeadBucket check, and
// MinIO's own CORS headers replaced by the bucket's.
func testMinIOExample(t *testing.T, st *store) {
	runExample(t, "minio", st, func(t *testing.T, px *exampleProxy) { checkMinIOExample(t, st, px) })
}

// testRootExample runs the repository's Caddyfile.example, the one
// scripts/demo.sh starts, in front of MinIO: it says the same as the minio
// example, with its own environment variables.
func testRootExample(t *testing.T, st *store) {
	config := filepath.Join(repoRoot, "Caddyfile.example")
	caddyCommand(t, cleanEnv(exampleVars(t)), "adapt", "--config", config, "--adapter", "caddyfile", "--validate")

	port := testenv.FreePort()
	listen := "127.0.0.1:" + strconv.Itoa(port)
	admin := "127.0.0.1:" + strconv.Itoa(testenv.FreePort())
	vars := exampleVars(t, "S3CORS_PORT="+strconv.Itoa(port), "S3CORS_BIND=127.0.0.1",
		"S3CORS_UPSTREAM="+st.Host, "S3CORS_ADMIN="+admin)
	proc := startProcess(t, t, "caddy Caddyfile.example", vars, caddyBin, "run", "--config", config, "--adapter", "caddyfile")
	waitReady(t, proc, caddyReady("http://"+admin+"/config/", listen))
	checkMinIOExample(t, st, &exampleProxy{URL: "http://" + listen, Port: port})
}

// checkMinIOExample checks a proxy started from the minio example, or from
// Caddyfile.example, in front of st.
func checkMinIOExample(t *testing.T, st *store, px *exampleProxy) {
	direct := newS3Client(st.URL, rootCreds)
	bucket := bucketName(t, "ex-minio")
	direct.createBucket(t, bucket)
	direct.putObject(t, bucket, "photo.jpg", []byte("not really a jpeg"))
	keyURL := px.URL + "/" + bucket + "/photo.jpg"

	r := send(t, corsRequest(t, http.MethodOptions, keyURL, appOrigin, "PUT", "Content-Type"))
	assertPreflight(t, r, nil, forbidden(msgNotEnabled, "PUT", "BUCKET"))
	// Only the upstream check can tell a missing bucket from one
	// without rules.
	missing := bucketName(t, "ex-minio-missing")
	r = send(t, corsRequest(t, http.MethodOptions, px.URL+"/"+missing+"/x", appOrigin, "PUT", ""))
	assertPreflight(t, r, nil, forbidden(msgBucketNotFound, "PUT", "BUCKET"))

	c := newS3Client(px.URL, rootCreds)
	c.putCORS(t, bucket, appRules)
	c.assertCORS(t, bucket, appRules)
	r = send(t, corsRequest(t, http.MethodOptions, keyURL, appOrigin, "PUT", "Content-Type"))
	assertPreflight(t, r, uploadsMatch(appOrigin, "content-type"), nil)

	// MinIO would echo any origin; through the example only the rules
	// speak.
	get := rawRequest{method: http.MethodGet, url: keyURL, creds: &rootCreds, header: http.Header{"Origin": {evilOrigin}}}.send(t)
	if get.status != http.StatusOK {
		t.Fatalf("GetObject through the example: want 200, got:\n%s", get)
	}
	assertExactCORS(t, get.header, nil)
	get = rawRequest{method: http.MethodGet, url: keyURL, creds: &rootCreds, header: http.Header{"Origin": {appOrigin}}}.send(t)
	assertExactCORS(t, get.header, readMatch())
}

// testVirtualHostExample: buckets as <bucket>.s3.localhost, for the ?cors
// API, preflights and the objects themselves (MinIO with MINIO_DOMAIN).
func testVirtualHostExample(t *testing.T, st *store) {
	direct := newS3Client(st.URL, rootCreds)
	runExample(t, "virtual-host", st, func(t *testing.T, px *exampleProxy) {
		bucket := bucketName(t, "ex-vhost")
		direct.createBucket(t, bucket)
		content := []byte("addressed by host")
		direct.putObject(t, bucket, "page.html", content)
		port := ":" + strconv.Itoa(px.Port)
		vhost := bucket + "." + exampleDomain + port
		endpoint := exampleDomain + port

		preflight := func() response {
			req := corsRequest(t, http.MethodOptions, px.URL+"/page.html", appOrigin, "PUT", "Content-Type")
			req.Host = vhost
			return send(t, req)
		}
		assertPreflight(t, preflight(), nil, forbidden(msgNotEnabled, "PUT", "BUCKET"))

		r := rawRequest{method: http.MethodPut, url: px.URL + "/?cors", host: vhost, body: corsXML(appRules), creds: &rootCreds}.send(t)
		if r.status != http.StatusOK {
			t.Fatalf("PutBucketCors as PUT /?cors on %s: want 200, got:\n%s", vhost, r)
		}
		assertPreflight(t, preflight(), uploadsMatch(appOrigin, "content-type"), nil)

		// Path-style on the endpoint's own name reads the same rules.
		r = rawRequest{method: http.MethodGet, url: px.URL + "/" + bucket + "?cors", host: endpoint, creds: &rootCreds}.send(t)
		if rules, err := parseCORSXML(r.body); r.status != http.StatusOK || err != nil || !equalRules(rules, appRules) {
			t.Errorf("GetBucketCors path-style on %s: want 200 and the rules just put, got:\n%s", endpoint, r)
		}

		// The object itself, virtual-host style: MinIO must find the bucket
		// in the Host header the proxy passed on.
		r = rawRequest{method: http.MethodGet, url: px.URL + "/page.html", host: vhost, creds: &rootCreds, header: http.Header{"Origin": {appOrigin}}}.send(t)
		if r.status != http.StatusOK || !bytes.Equal(r.body, content) {
			t.Fatalf("GetObject on %s: want 200 and %q, got:\n%s", vhost, content, r)
		}
		assertExactCORS(t, r.header, readMatch())
	})
}

// testEnvSecretsExample: two keys from the environment, one scoped to two
// buckets, and the owner ID checked against x-amz-expected-bucket-owner.
func testEnvSecretsExample(t *testing.T, st *store) {
	direct := newS3Client(st.URL, rootCreds)
	// The example names its buckets; both runs share them.
	for _, b := range []string{"uploads", "photos"} {
		direct.createBucket(t, b)
	}
	secret := func(name string) string {
		for _, kv := range exampleSecrets {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v
			}
		}
		t.Fatalf("no %s in exampleSecrets", name)
		return ""
	}
	admin := aws.Credentials{AccessKeyID: secret("S3CORS_ADMIN_ACCESS_KEY"), SecretAccessKey: secret("S3CORS_ADMIN_SECRET_KEY")}
	web := aws.Credentials{AccessKeyID: secret("S3CORS_WEB_ACCESS_KEY"), SecretAccessKey: secret("S3CORS_WEB_SECRET_KEY")}
	owner := secret("S3CORS_OWNER_ID")

	runExample(t, "env-secrets", st, func(t *testing.T, px *exampleProxy) {
		put := func(creds aws.Credentials, bucket, expectedOwner string) response {
			t.Helper()
			req := rawRequest{method: http.MethodPut, url: px.URL + "/" + bucket + "?cors", body: corsXML(publicRules), creds: &creds}
			if expectedOwner != "" {
				req.header = http.Header{"X-Amz-Expected-Bucket-Owner": {expectedOwner}}
			}
			return req.send(t)
		}
		cases := []struct {
			name   string
			creds  aws.Credentials
			bucket string
			owner  string
			want   *wantError // nil: 200
		}{
			{name: "web key, its own bucket", creds: web, bucket: "uploads"},
			{name: "web key, its own bucket, right owner", creds: web, bucket: "uploads", owner: owner},
			{name: "web key, another bucket", creds: web, bucket: "photos", want: &wantError{status: http.StatusForbidden, code: "AccessDenied"}},
			{name: "admin key, any bucket", creds: admin, bucket: "photos"},
			{name: "admin key, wrong owner", creds: admin, bucket: "photos", owner: "999999999999", want: &wantError{status: http.StatusForbidden, code: "AccessDenied"}},
			{name: "the store's own key, unknown to the proxy", creds: rootCreds, bucket: "photos", want: &wantError{status: http.StatusForbidden}},
			// Only the upstream check, with its own key, knows it is missing.
			{name: "web key, its bucket missing at the store", creds: web, bucket: "avatars", want: &wantError{status: http.StatusNotFound, code: "NoSuchBucket"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := put(c.creds, c.bucket, c.owner)
				if c.want != nil {
					assertS3Error(t, r, *c.want)
					return
				}
				if r.status != http.StatusOK {
					t.Errorf("want 200, got:\n%s", r)
				}
			})
		}
		r := send(t, corsRequest(t, http.MethodOptions, px.URL+"/uploads/x", evilOrigin, "GET", ""))
		assertPreflight(t, r, publicMatch(), nil)
	})
}

// corsProbe is a preflight a CORS document must allow or refuse, as its
// README says.
type corsProbe struct {
	origin, method, headers string
	allowed                 bool
	// acao and aceh are the Access-Control-Allow-Origin and
	// -Expose-Headers an allowed preflight must carry ("" for none).
	acao, aceh string
}

// exampleProbes says what each document under examples/cors is for.
var exampleProbes = map[string][]corsProbe{
	"browser-upload": {
		{origin: examplePageOrigin, method: "PUT", headers: "content-type,x-amz-meta-filename", allowed: true, acao: examplePageOrigin, aceh: "ETag"},
		{origin: appOrigin, method: "GET", allowed: true, acao: appOrigin, aceh: "ETag"},
		{origin: appOrigin, method: "DELETE"},
		{origin: appOrigin, method: "PUT", headers: "x-custom"},
		{origin: evilOrigin, method: "PUT"},
	},
	"public-read": {
		{origin: evilOrigin, method: "GET", allowed: true, acao: "*"},
		{origin: "http://localhost:3000", method: "HEAD", allowed: true, acao: "*"},
		{origin: evilOrigin, method: "PUT"},
		{origin: evilOrigin, method: "GET", headers: "range"},
	},
	"multipart-upload": {
		{origin: appOrigin, method: "PUT", headers: "authorization,content-type,x-amz-content-sha256,x-amz-date", allowed: true, acao: appOrigin, aceh: "ETag, x-amz-version-id, x-amz-checksum-crc32"},
		{origin: appOrigin, method: "POST", allowed: true, acao: appOrigin, aceh: "ETag, x-amz-version-id, x-amz-checksum-crc32"},
		{origin: appOrigin, method: "DELETE", allowed: true, acao: appOrigin, aceh: "ETag, x-amz-version-id, x-amz-checksum-crc32"},
		{origin: "https://app.example.com.evil.example", method: "PUT"},
	},
	"wildcard-subdomains": {
		{origin: "https://app.example.com", method: "PUT", headers: "content-type", allowed: true, acao: "https://app.example.com", aceh: "ETag"},
		{origin: "https://a.b.example.com", method: "GET", allowed: true, acao: "https://a.b.example.com", aceh: "ETag"},
		{origin: "https://example.com", method: "GET", allowed: true, acao: "https://example.com", aceh: "ETag"},
		{origin: "http://app.example.com", method: "GET"},
		{origin: "https://example.com.evil.example", method: "GET"},
		{origin: "https://preview-42.example.dev", method: "GET", allowed: true, acao: "https://preview-42.example.dev"},
		{origin: "https://preview-42.example.dev", method: "PUT"},
		{origin: "https://example.dev", method: "GET"},
	},
}

// testCORSDocuments puts every XML document under examples/cors through the
// proxy as PutBucketCors and its JSON twin with the aws CLI's
// put-bucket-cors, and checks that both store the same rules, the ones the
// files say, and that they allow and refuse what they are meant to.
func testCORSDocuments(t *testing.T, s *stack) {
	requireTool(t, "aws", "--version")
	docs, err := filepath.Glob(filepath.Join(examplesDir(), "cors", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(exampleProbes) {
		t.Errorf("examples/cors has %d XML documents, the test knows %d: say what each new one must allow", len(docs), len(exampleProbes))
	}
	awsCLI := filepath.Join(repoRoot, "e2e", "testdata", "awscli_cors.sh")
	for _, doc := range docs {
		name := strings.TrimSuffix(filepath.Base(doc), ".xml")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			want, err := parseCORSXML(body)
			if err != nil || len(want) == 0 {
				t.Fatalf("%s is no CORS configuration: %v", doc, err)
			}
			jsonDoc := strings.TrimSuffix(doc, ".xml") + ".json"
			var twin struct{ CORSRules []corsRule }
			if b, err := os.ReadFile(jsonDoc); err != nil {
				t.Fatalf("every XML document has a JSON twin for the aws CLI: %v", err)
			} else if err := json.Unmarshal(b, &twin); err != nil {
				t.Fatalf("%s: %v", jsonDoc, err)
			}
			if !equalRules(twin.CORSRules, want) {
				t.Errorf("%s and its JSON twin say different things\n xml: %+v\njson: %+v", name, want, twin.CORSRules)
			}

			fromXML := bucketName(t, "ex-cors-xml")
			s.s3.createBucket(t, fromXML)
			// As s3cmd and curl send it: the file's bytes with a Content-MD5.
			r := rawRequest{method: http.MethodPut, url: s.corsURL(fromXML), body: body, creds: &rootCreds, checksum: checksumMD5}.send(t)
			if r.status != http.StatusOK {
				t.Fatalf("PutBucketCors with %s: want 200, got:\n%s", filepath.Base(doc), r)
			}
			stored := s.s3.getCORS(t, fromXML)
			if !equalRules(stored, want) {
				t.Errorf("after PutBucketCors with %s, GetBucketCors gives\n got: %+v\nwant: %+v", filepath.Base(doc), stored, want)
			}

			fromJSON := bucketName(t, "ex-cors-json")
			s.s3.createBucket(t, fromJSON)
			out, errOut, code := runClient(t, clientEnv(s, nil), nil, "bash", awsCLI, "put", fromJSON, jsonDoc)
			if code != 0 {
				t.Fatalf("aws s3api put-bucket-cors --cors-configuration file://%s: exit %d\n%s%s", filepath.Base(jsonDoc), code, errOut, out)
			}
			if got := s.s3.getCORS(t, fromJSON); !equalRules(got, stored) {
				t.Errorf("the aws CLI with %s stored\n got: %+v\nwant (as from the XML): %+v", filepath.Base(jsonDoc), got, stored)
			}

			for _, p := range exampleProbes[name] {
				r := send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+fromXML+"/some/key", p.origin, p.method, p.headers))
				what := fmt.Sprintf("%s: preflight %s from %s with headers %q", name, p.method, p.origin, p.headers)
				switch {
				case !p.allowed && r.status != http.StatusForbidden:
					t.Errorf("%s: want 403, got:\n%s", what, r)
				case p.allowed && r.status != http.StatusOK:
					t.Errorf("%s: want 200, got:\n%s", what, r)
				case p.allowed && r.header.Get(hACAO) != p.acao:
					t.Errorf("%s: %s %q, want %q", what, hACAO, r.header.Get(hACAO), p.acao)
				case p.allowed && r.header.Get(hACEH) != p.aceh:
					t.Errorf("%s: %s %q, want %q", what, hACEH, r.header.Get(hACEH), p.aceh)
				}
			}
		})
	}
}

// testBrowserUploadExample has Chromium upload a file through the
// browser-upload page's form: served by its own presigning server from an
// origin that examples/cors/browser-upload.xml allows (the test's origin in
// place of the document's default one), from one it does not, and from a
// plain static server with presigned URLs pasted into the form.
func testBrowserUploadExample(t *testing.T, s *stack) {
	requireTool(t, "chromium", "--version")
	bin := filepath.Join(t.TempDir(), "browser-upload")
	build := exec.Command("go", "build", "-o", bin, "./examples/browser-upload")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/browser-upload: %v\n%s", err, out)
	}
	doc, err := os.ReadFile(filepath.Join(examplesDir(), "cors", "browser-upload.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(examplePageOrigin)) {
		t.Fatalf("examples/cors/browser-upload.xml no longer allows the page's default origin %s", examplePageOrigin)
	}
	// newBucket makes a bucket with the document's rules, for origin in
	// place of the page's default origin.
	newBucket := func(t *testing.T, origin string) string {
		t.Helper()
		bucket := bucketName(t, "ex-upload-page")
		s.s3.createBucket(t, bucket)
		body := bytes.ReplaceAll(doc, []byte(examplePageOrigin), []byte(origin))
		if r := (rawRequest{method: http.MethodPut, url: s.corsURL(bucket), body: body, creds: &rootCreds}).send(t); r.status != http.StatusOK {
			t.Fatalf("PutBucketCors with browser-upload.xml: want 200, got:\n%s", r)
		}
		return bucket
	}

	port := strconv.Itoa(testenv.FreePort())
	origin := "http://localhost:" + port
	bucket := newBucket(t, origin)
	signer := startProcess(t, t, "browser-upload", []string{
		"AWS_ACCESS_KEY_ID=" + rootAccessKey, "AWS_SECRET_ACCESS_KEY=" + rootSecretKey,
	}, bin, "-listen", "127.0.0.1:"+port, "-endpoint", s.proxy.URL, "-bucket", bucket)
	waitReady(t, signer, func() bool { return httpStatus("http://127.0.0.1:"+port+"/") == http.StatusOK })

	b := startBrowser(t)
	dir := t.TempDir()
	content := "uploaded from the example page\n"
	wantETag := `"` + md5Hex([]byte(content)) + `"`
	// upload has the page at origin upload a file called name; fill runs
	// first, to paste URLs into the form.
	upload := func(t *testing.T, origin, name string, fill ...chromedp.Action[chromedp.Void]) (examplePage, *tab) {
		t.Helper()
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tb := b.open(t, origin+"/")
		tb.do(t, "choosing the file and pressing Upload", append(fill,
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
			chromedp.Click(chromedp.ID("go")),
		)...)
		var page examplePage
		tb.eval(t, &page, examplePageResult)
		return page, tb
	}

	t.Run("own server", func(t *testing.T) {
		key := "hello upload.txt"
		page, tb := upload(t, origin, key)
		if page.State != "done" {
			t.Fatalf("the page did not finish its upload: %s\n%s\npage log:\n%s\n%s", page.State, page.Status, page.Log, tb.seen())
		}
		if page.Key != key || page.PutStatus != "200" || page.ETag != wantETag {
			t.Errorf("the page shows key %q, PUT status %q, ETag %q; want %q, 200, %s", page.Key, page.PutStatus, page.ETag, key, wantETag)
		}
		if page.Mine != key || !slices.Contains(page.Listing, key) {
			t.Errorf("the page's bucket listing %q does not mark %q", page.Listing, key)
		}
		if page.Content != content {
			t.Errorf("the page read back %q, want %q", page.Content, content)
		}
		if page.Headers["etag"] != wantETag || page.Headers["content-type"] != "text/plain" || page.Headers["x-amz-request-id"] != "" {
			t.Errorf("the page could read the headers %v: want the exposed ETag %s, the safelisted Content-Type text/plain, and nothing the rule does not expose", page.Headers, wantETag)
		}
		if got := string(s.s3.getObject(t, bucket, key)); got != content {
			t.Errorf("the store holds %q, want %q", got, content)
		}
	})

	// 127.0.0.1 is another origin than localhost for the browser, and the
	// rules do not name it.
	t.Run("refused", func(t *testing.T) {
		key := "refused upload.txt"
		page, tb := upload(t, "http://127.0.0.1:"+port, key)
		if page.State != "failed" || !strings.Contains(page.Status, "blocked by the browser") {
			t.Errorf("from an origin the rules do not allow, the page should report the upload blocked; it says %s: %s\n%s", page.State, page.Status, tb.seen())
		}
		if _, err := s.s3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
			t.Errorf("the refused upload reached the store")
		}
	})

	t.Run("pasted URLs", func(t *testing.T) {
		static := startStaticServer(t, filepath.Join(examplesDir(), "browser-upload"))
		pasted := newBucket(t, static)
		key := "pasted.txt"
		page, tb := upload(t, static, key,
			chromedp.SetValue(chromedp.ID("put-url"), s.s3.presignPut(t, pasted, key)),
			chromedp.SetValue(chromedp.ID("get-url"), s.s3.presignGet(t, pasted, key)))
		if page.State != "done" || page.Content != content || page.ETag != wantETag {
			t.Errorf("with pasted URLs the page says %s: %s, ETag %q, read back %q\npage log:\n%s\n%s",
				page.State, page.Status, page.ETag, page.Content, page.Log, tb.seen())
		}
		if got := string(s.s3.getObject(t, pasted, key)); got != content {
			t.Errorf("the store holds %q, want %q", got, content)
		}
	})
}

// examplePage is what the browser-upload page shows when it is done.
type examplePage struct {
	State, Status, Key, PutStatus, ETag, Content, Log string
	Listing                                           []string
	Mine                                              string
	Headers                                           map[string]string
}

// examplePageResult waits until the browser-upload page marks #status with
// data-state done or failed, and reads what it shows.
const examplePageResult = `new Promise((resolve) => {
	const $ = (id) => document.getElementById(id);
	const poll = () => {
		const state = $('status').dataset.state;
		if (state !== 'done' && state !== 'failed') {
			setTimeout(poll, 50);
			return;
		}
		const headers = {};
		for (const tr of $('headers').rows) {
			headers[tr.dataset.name] = tr.cells[1].textContent;
		}
		const mine = document.querySelector('#listing .mine');
		resolve({
			State: state, Status: $('status').textContent, Key: $('key').textContent,
			PutStatus: $('put-status').textContent, ETag: $('etag').textContent,
			Content: $('content').textContent, Log: $('log').textContent,
			Listing: Array.from($('listing').children, (li) => li.textContent),
			Mine: mine ? mine.textContent : '', Headers: headers,
		});
	};
	poll();
})`

// startStaticServer serves dir on a loopback port of its own and returns
// its origin, named localhost like the page's default one.
func startStaticServer(t *testing.T, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir))}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://localhost:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
