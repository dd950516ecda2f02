package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// Root credentials of every store the tests start. The proxy is configured
// with the same pair (through environment placeholders), so one client can
// both create buckets upstream and manage their CORS through the proxy.
const (
	rootAccessKey = "e2e-root"
	rootSecretKey = "e2e-root-secret-key"

	// A second key the proxy accepts only for scopedBucket.
	scopedAccessKey = "e2e-scoped"
	scopedSecretKey = "e2e-scoped-secret-key"
	scopedBucket    = "e2e-scoped-bucket"

	ownerID = "123456789012"
	region  = "us-east-1"

	// Buckets may also be addressed as <bucket>.<vhostSuffix>.
	vhostSuffix = "s3.e2e.test"
)

var (
	repoRoot string
	caddyBin string
	// caddyErr says why the project's binary cannot be used; tests that need
	// it fail with this message.
	caddyErr error
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot find the repository root:", err)
		return 1
	}
	repoRoot = root
	dir, err := os.MkdirTemp("", "s3cors-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	caddyBin, caddyErr = buildCaddy(dir)
	return m.Run()
}

// buildCaddy builds ./cmd/caddy once for the whole run and checks that the
// module is compiled in. S3CORS_E2E_CADDY names a ready binary to test
// instead, such as one built with xcaddy.
func buildCaddy(dir string) (string, error) {
	bin := os.Getenv("S3CORS_E2E_CADDY")
	if bin == "" {
		bin = filepath.Join(dir, "caddy")
		build := exec.Command("go", "build", "-o", bin, "./cmd/caddy")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/caddy failed: %v\n%s", err, out)
		}
	}
	out, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s list-modules failed: %v\n%s", bin, err, out)
	}
	for _, mod := range []string{"http.handlers.s3_cors", "s3_cors"} {
		if !containsLine(string(out), mod) {
			return "", fmt.Errorf("the project's caddy binary has no %s module (list-modules):\n%s", mod, out)
		}
	}
	return bin, nil
}

func containsLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// needCaddy fails the test when the project's binary could not be built: the
// module is the thing under test, so its absence is never a skip.
func needCaddy(t *testing.T) {
	t.Helper()
	if caddyErr != nil {
		t.Fatal(caddyErr)
	}
}

// prerequisiteMissing is testenv.Missing, saying how to install what is
// missing.
func prerequisiteMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	testenv.Missing(t, "%s (install it with scripts/deps.sh)", fmt.Sprintf(format, args...))
}

// requireTool runs argv (leading NAME=value words set environment variables,
// as in a shell) and treats a failure as a missing prerequisite.
func requireTool(t *testing.T, argv ...string) {
	t.Helper()
	env, args := splitEnv(argv)
	if len(args) == 0 {
		t.Fatal("requireTool needs a command")
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		prerequisiteMissing(t, "%s is not on PATH", args[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		prerequisiteMissing(t, "%q does not work: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func splitEnv(argv []string) (env, args []string) {
	for i, a := range argv {
		if k, _, ok := strings.Cut(a, "="); ok && k != "" && !strings.ContainsAny(k, "/ ") {
			env = append(env, a)
			continue
		}
		return env, argv[i:]
	}
	return env, nil
}

// logBuffer collects a process's output for display when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail keeps the end of a long log: the failure is usually there.
func tail(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	s = s[len(s)-limit:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "[…]\n" + s
}

// process is a child the test started; it is stopped by its PID.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{}
	err  error
}

// startProcess starts argv; the process lives until owner's cleanup (owner
// may be a parent of t, so that a process restarted in a subtest outlives
// it) and its output is shown if owner failed.
func startProcess(t, owner *testing.T, name string, env []string, argv ...string) *process {
	t.Helper()
	p := &process{name: name, logs: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	owner.Cleanup(func() {
		p.stop()
		if owner.Failed() {
			owner.Logf("--- %s (pid %d) output:\n%s", name, p.cmd.Process.Pid, tail(p.logs.String(), 64<<10))
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to stop (SIGTERM), and kills it if it is still there
// after ten seconds. It is safe to call more than once.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitReady polls ready until it reports true, the process exits, or a
// minute passes.
func waitReady(t *testing.T, p *process, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if ready() {
			return
		}
		if p.exited() {
			t.Fatalf("%s exited before it was ready (%v):\n%s", p.name, p.err, tail(p.logs.String(), 16<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s was not ready after a minute:\n%s", p.name, tail(p.logs.String(), 16<<10))
}

// probeClient is used for readiness probes only.
var probeClient = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

func httpStatus(u string) int {
	resp, err := probeClient.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Store kinds.
const (
	versitygw = "versitygw"
	minio     = "minio"
	gofakes3  = "gofakes3"
)

var storeBuild sync.Mutex

// storeBinary finds the store's binary in the cache scripts/upstream.sh
// maintains, building it first if needed (minutes on a cold machine; the
// script's own lock keeps parallel builds from clashing).
func storeBinary(t *testing.T, kind string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		prerequisiteMissing(t, "go is not on PATH")
	}
	script := filepath.Join(repoRoot, "scripts", "upstream.sh")
	out, err := exec.Command("bash", script, "path", kind).Output()
	if err != nil {
		t.Fatalf("%s path %s: %v", script, kind, err)
	}
	bin := strings.TrimSpace(string(out))
	if isExecutable(bin) {
		return bin
	}
	storeBuild.Lock()
	defer storeBuild.Unlock()
	if isExecutable(bin) {
		return bin
	}
	t.Logf("building %s into %s (scripts/deps.sh does this ahead of the tests)", kind, bin)
	build := exec.Command("bash", script, "install", kind)
	if out, err := build.CombinedOutput(); err != nil {
		prerequisiteMissing(t, "building %s failed: %v\n%s", kind, err, out)
	}
	if !isExecutable(bin) {
		t.Fatalf("%s install %s left no binary at %s", script, kind, bin)
	}
	return bin
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// store is a running S3 server on loopback with a throw-away data dir.
type store struct {
	kind string
	URL  string // http://127.0.0.1:port
	Host string // 127.0.0.1:port
	proc *process
}

// startStore starts a store of kind; extraEnv adds to its environment (such
// as MinIO's MINIO_DOMAIN).
func startStore(t *testing.T, kind string, extraEnv ...string) *store {
	t.Helper()
	bin := storeBinary(t, kind)
	port := testenv.FreePort()
	host := "127.0.0.1:" + strconv.Itoa(port)
	data := t.TempDir()
	s := &store{kind: kind, URL: "http://" + host, Host: host}
	var env, argv []string
	answers := func() bool { return httpStatus(s.URL+"/") != 0 }
	switch kind {
	case versitygw:
		env = []string{"ROOT_ACCESS_KEY=" + rootAccessKey, "ROOT_SECRET_KEY=" + rootSecretKey}
		argv = []string{bin, "--port", host, "--keep-alive", "--quiet", "posix", data}
	case minio:
		// MINIO_API_CORS_ALLOW_ORIGIN stays at its default (*): MinIO then
		// echoes every origin with credentials, which the proxy must strip.
		env = []string{
			"MINIO_ROOT_USER=" + rootAccessKey, "MINIO_ROOT_PASSWORD=" + rootSecretKey,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off",
		}
		argv = []string{
			bin, "server", data, "--quiet", "--address", host,
			"--console-address", "127.0.0.1:" + strconv.Itoa(testenv.FreePort()),
		}
		answers = func() bool { return httpStatus(s.URL+"/minio/health/ready") == http.StatusOK }
	case gofakes3:
		argv = []string{bin, "-backend", "memory", "-host", host, "-quiet"}
	default:
		t.Fatalf("unknown store %q", kind)
	}
	s.proc = startProcess(t, t, kind, append(env, extraEnv...), argv...)
	waitReady(t, s.proc, func() bool { return answers() && acceptsBucketOperations(s.URL) })
	return s
}

// readinessBucket is created and deleted again by the readiness probe.
const readinessBucket = "e2e-readiness-probe"

// acceptsBucketOperations reports whether the store at endpoint creates and
// deletes a bucket. Answering is not enough: MinIO has said ready on its
// health route and then refused CreateBucket with XMinioServerNotInitialized.
func acceptsBucketOperations(endpoint string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := newS3Client(endpoint, rootCreds)
	bucket := aws.String(readinessBucket)
	// The bucket may be left from an earlier probe whose delete failed, so
	// only the delete decides.
	_, _ = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
	_, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket})
	return err == nil
}

func (s *store) stop() { s.proc.stop() }

// tap is a recording reverse proxy between Caddy's reverse_proxy and the
// store. It lets a test prove what reached the upstream: never an OPTIONS
// and never a ?cors request.
type tap struct {
	URL   string
	Host  string
	mu    sync.Mutex
	seen  []string
	gates []*streamGate
}

// streamGate shows whether a body streams through the proxy or is buffered
// whole. For an upload, arrived is closed as soon as the request reaches the
// store's side, which a client can wait for in the middle of its body. For a
// download, the tap sends heldBack bytes of the response and then waits for
// release, which the client closes once it has read them.
type streamGate struct {
	method, path string
	heldBack     int64
	arrived      chan struct{}
	arrivedOnce  sync.Once
	release      chan struct{}
	// timedOut is set if the tap gave up waiting for release: the client
	// never saw the first part of the response while the rest was held back.
	timedOut atomic.Bool
}

// gateTimeout bounds every wait on a gate, so that a proxy that buffers
// makes the test fail instead of hang.
const gateTimeout = 30 * time.Second

func (tp *tap) gate(method, path string, heldBack int64) *streamGate {
	g := &streamGate{method: method, path: path, heldBack: heldBack, arrived: make(chan struct{}), release: make(chan struct{})}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.gates = append(tp.gates, g)
	return g
}

// gatedWriter holds a response back after the gate's first bytes.
type gatedWriter struct {
	http.ResponseWriter
	gate    *streamGate
	written int64
	held    bool
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	if err == nil && !w.held && w.written >= w.gate.heldBack {
		w.held = true
		_ = http.NewResponseController(w.ResponseWriter).Flush()
		select {
		case <-w.gate.release:
		case <-time.After(gateTimeout):
			w.gate.timedOut.Store(true)
		}
	}
	return n, err
}

func (w *gatedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// gatedReader is an upload body that pauses after its first part until the
// request has reached the store.
type gatedReader struct {
	r     io.Reader
	read  int64
	after int64
	wait  <-chan struct{}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.wait != nil && g.read >= g.after {
		select {
		case <-g.wait:
			g.wait = nil
		case <-time.After(gateTimeout):
			return 0, fmt.Errorf("the store had not seen the upload after %d bytes of its body: the proxy buffers request bodies", g.read)
		}
	}
	if g.wait != nil && int64(len(p)) > g.after-g.read {
		p = p[:g.after-g.read]
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

func startTap(t *testing.T, target string) *tap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// The Host is part of every SigV4 signature: keep the client's.
			r.Out.Host = r.In.Host
		},
		Transport:     &http.Transport{Proxy: nil, DisableCompression: true},
		FlushInterval: -1,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp.mu.Lock()
		tp.seen = append(tp.seen, r.Method+" "+r.URL.RequestURI())
		var g *streamGate
		for _, c := range tp.gates {
			if c.method == r.Method && c.path == r.URL.Path {
				g = c
			}
		}
		tp.mu.Unlock()
		if g != nil {
			g.arrivedOnce.Do(func() { close(g.arrived) })
			if r.Method == http.MethodGet {
				w = &gatedWriter{ResponseWriter: w, gate: g}
			}
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	tp.Host = l.Addr().String()
	tp.URL = "http://" + tp.Host
	return tp
}

func (tp *tap) requests() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]string(nil), tp.seen...)
}

// assertNothingCORSForwarded fails if the store was sent an OPTIONS request
// or any request with the cors sub-resource.
func (tp *tap) assertNothingCORSForwarded(t *testing.T) {
	t.Helper()
	for _, r := range tp.requests() {
		method, uri, _ := strings.Cut(r, " ")
		if method == http.MethodOptions || hasCORSSubresource(uri) {
			t.Errorf("forwarded to the store, but the proxy must answer it itself: %s", r)
		}
	}
}

func hasCORSSubresource(requestURI string) bool {
	_, query, _ := strings.Cut(requestURI, "?")
	for part := range strings.SplitSeq(query, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil && strings.EqualFold(k, "cors") {
			return true
		}
	}
	return false
}

// proxyConfig fills the Caddyfile template.
type proxyConfig struct {
	Port, AdminPort int
	// Upstream is the reverse_proxy target (host:port), usually the tap.
	Upstream string
	// Store is the store's own URL for the module's bucket-existence checks;
	// empty leaves the upstream block out.
	Store string
	// Handler replaces the default body of the s3_cors handler block.
	Handler string
	// Comment is written into the Caddyfile; changing it makes a reload
	// carry a different configuration.
	Comment string
	// DataDir is Caddy's data dir (XDG_DATA_HOME), where the configurations
	// are stored; empty gives the proxy a fresh one. Proxies given the same
	// dir share their configurations.
	DataDir string
	// AppOptions adds lines to the s3_cors global option block.
	AppOptions string
}

var caddyfileTemplate = template.Must(template.New("Caddyfile").Parse(`# {{.Comment}}
{
	admin 127.0.0.1:{{.AdminPort}}
	persist_config off
	debug
	s3_cors {
		sync_interval 1s
{{- if .AppOptions}}
{{.AppOptions}}
{{- end}}
	}
}

http://:{{.Port}} {
	bind 127.0.0.1
	s3_cors {
{{- if .Handler}}
{{.Handler}}
{{- else}}
		credentials {env.S3CORS_E2E_ACCESS_KEY} {env.S3CORS_E2E_SECRET_KEY}
		credentials ` + scopedAccessKey + ` {env.S3CORS_E2E_SCOPED_SECRET} {
			buckets ` + scopedBucket + `
		}
		owner_id ` + ownerID + `
		region ` + region + `
		virtual_host_suffix ` + vhostSuffix + `
{{- if .Store}}
		upstream {{.Store}} {
			credentials {env.S3CORS_E2E_ACCESS_KEY} {env.S3CORS_E2E_SECRET_KEY}
			cache_ttl 1s
		}
{{- end}}
{{- end}}
	}
	reverse_proxy {{.Upstream}}
}
`))

// proxy is the project's Caddy, run as its own process with isolated data
// and config dirs (so its CORS configurations live in a temp dir).
type proxy struct {
	t    *testing.T
	cfg  proxyConfig
	dir  string
	URL  string // http://127.0.0.1:port
	Host string
	proc *process
	env  []string
}

func startProxy(t *testing.T, cfg proxyConfig) *proxy {
	t.Helper()
	needCaddy(t)
	if cfg.Port == 0 {
		cfg.Port = testenv.FreePort()
	}
	if cfg.AdminPort == 0 {
		cfg.AdminPort = testenv.FreePort()
	}
	dir := t.TempDir()
	for _, d := range []string{"data", "config"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := &proxy{
		t:    t,
		cfg:  cfg,
		dir:  dir,
		Host: "127.0.0.1:" + strconv.Itoa(cfg.Port),
		env: []string{
			"XDG_DATA_HOME=" + cmp.Or(cfg.DataDir, filepath.Join(dir, "data")),
			"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
			"S3CORS_E2E_ACCESS_KEY=" + rootAccessKey,
			"S3CORS_E2E_SECRET_KEY=" + rootSecretKey,
			"S3CORS_E2E_SCOPED_SECRET=" + scopedSecretKey,
		},
	}
	p.URL = "http://" + p.Host
	p.writeCaddyfile(t, cfg)
	p.start(t)
	return p
}

func (p *proxy) caddyfilePath() string { return filepath.Join(p.dir, "Caddyfile") }

func (p *proxy) writeCaddyfile(t *testing.T, cfg proxyConfig) {
	t.Helper()
	var b bytes.Buffer
	if err := caddyfileTemplate.Execute(&b, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.caddyfilePath(), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cfg = cfg
}

func (p *proxy) start(t *testing.T) {
	t.Helper()
	p.proc = startProcess(t, p.t, "caddy", p.env, caddyBin, "run", "--config", p.caddyfilePath(), "--adapter", "caddyfile")
	admin := "http://127.0.0.1:" + strconv.Itoa(p.cfg.AdminPort) + "/config/"
	waitReady(t, p.proc, caddyReady(admin, p.Host))
}

// caddyReady reports whether a Caddy process has loaded its config (its
// admin endpoint answers at adminConfigURL) and listens on hostPort.
func caddyReady(adminConfigURL, hostPort string) func() bool {
	return func() bool {
		if httpStatus(adminConfigURL) != http.StatusOK {
			return false
		}
		c, err := net.DialTimeout("tcp", hostPort, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

// restart stops the process and starts a new one on the same ports and dirs.
func (p *proxy) restart(t *testing.T) {
	t.Helper()
	p.proc.stop()
	if !p.proc.exited() {
		t.Fatal("caddy did not stop")
	}
	p.start(t)
}

// reload applies cfg through `caddy reload`, the way an operator would.
func (p *proxy) reload(t *testing.T, cfg proxyConfig) {
	t.Helper()
	p.writeCaddyfile(t, cfg)
	cmd := exec.Command(caddyBin, "reload", "--config", p.caddyfilePath(), "--adapter", "caddyfile",
		"--address", "127.0.0.1:"+strconv.Itoa(p.cfg.AdminPort), "--force")
	cmd.Env = append(os.Environ(), p.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caddy reload: %v\n%s", err, out)
	}
}

// stack is one store behind the tap behind the project's Caddy, with SDK
// clients for the proxy and for the store itself.
type stack struct {
	store  *store
	tap    *tap
	proxy  *proxy
	s3     *s3Client // through the proxy, root credentials
	direct *s3Client // straight to the store
}

func newStack(t *testing.T, kind string) *stack {
	t.Helper()
	needCaddy(t)
	st := startStore(t, kind)
	tp := startTap(t, st.URL)
	px := startProxy(t, proxyConfig{Upstream: tp.Host, Store: st.URL, Comment: "e2e " + kind})
	return &stack{
		store:  st,
		tap:    tp,
		proxy:  px,
		s3:     newS3Client(px.URL, rootCreds),
		direct: newS3Client(st.URL, rootCreds),
	}
}

// bucketName returns a valid, per-test unique bucket name.
func bucketName(t *testing.T, stem string) string {
	t.Helper()
	bucketSeq.Lock()
	bucketSeq.n++
	n := bucketSeq.n
	bucketSeq.Unlock()
	name := fmt.Sprintf("e2e-%s-%d", strings.ToLower(stem), n)
	if len(name) > 63 {
		t.Fatalf("bucket name %q is too long", name)
	}
	return name
}

var bucketSeq struct {
	sync.Mutex
	n int
}
