package s3storage

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// The stores these tests start, each as its own process on a free loopback
// port with a throw-away data directory.
const (
	minio     = "minio"
	versitygw = "versitygw"
	gofakes3  = "gofakes3"

	testAccessKey = "s3storage-test"
	testSecretKey = "s3storage-test-secret"
)

// testServer is a running S3 store.
type testServer struct {
	kind     string
	endpoint string
	argv     []string
	env      []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	logs *bytes.Buffer
}

// storeBinary finds kind's binary where scripts/upstream.sh keeps it. A
// missing one fails the test under CI=true and skips it otherwise.
func storeBinary(t *testing.T, kind string) string {
	t.Helper()
	script := filepath.Join("..", "..", "scripts", "upstream.sh")
	out, err := exec.Command("bash", script, "path", kind).Output()
	if err != nil {
		t.Fatalf("%s path %s: %v", script, kind, err)
	}
	bin := strings.TrimSpace(string(out))
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		testenv.Missing(t, "%s is not installed at %s (install it with scripts/deps.sh or scripts/upstream.sh install %s)", kind, bin, kind)
	}
	return bin
}

// newServer prepares a store of kind on a free port, keeping its data in
// data; start runs it.
func newServer(t *testing.T, kind, data string) *testServer {
	t.Helper()
	bin := storeBinary(t, kind)
	host := "127.0.0.1:" + strconv.Itoa(testenv.FreePort())
	s := &testServer{kind: kind, endpoint: "http://" + host, logs: &bytes.Buffer{}}
	switch kind {
	case minio:
		s.env = []string{"MINIO_ROOT_USER=" + testAccessKey, "MINIO_ROOT_PASSWORD=" + testSecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off"}
		s.argv = []string{bin, "server", data, "--quiet", "--address", host, "--console-address", "127.0.0.1:" + strconv.Itoa(testenv.FreePort())}
	case versitygw:
		s.env = []string{"ROOT_ACCESS_KEY=" + testAccessKey, "ROOT_SECRET_KEY=" + testSecretKey}
		s.argv = []string{bin, "--port", host, "--quiet", "posix", data}
	case gofakes3:
		// gofakes3 checks no signatures; any credentials do.
		s.argv = []string{bin, "-backend", "memory", "-host", host, "-quiet"}
	default:
		t.Fatalf("unknown store %q", kind)
	}
	return s
}

// startServer starts a store of kind that lives as long as the test.
func startServer(t *testing.T, kind string) *testServer {
	t.Helper()
	s := newServer(t, kind, t.TempDir())
	t.Cleanup(s.stop)
	s.logOnFailure(t)
	s.start(t)
	return s
}

func (s *testServer) logOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s output:\n%s", s.kind, s.output())
		}
	})
}

// start runs the store (again, on the same port and data) and waits until
// it serves bucket operations: MinIO answers its health route before it
// accepts them (XMinioServerNotInitialized).
func (s *testServer) start(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env = append(os.Environ(), s.env...)
	w := &lockedWriter{mu: &s.mu, w: s.logs}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		t.Fatalf("starting %s: %v", s.kind, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	client := rawClient(s.endpoint)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := client.ListBuckets(ctx, &awss3.ListBucketsInput{})
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("%s exited before it was ready:\n%s", s.kind, s.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve ListBuckets after a minute: %v\n%s", s.kind, err, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the store (SIGTERM, then SIGKILL after ten seconds).
func (s *testServer) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (s *testServer) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// rawClient talks to a store directly, to look at what Storage did.
func rawClient(endpoint string) *awss3.Client {
	return awss3.New(awss3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
		UsePathStyle: true,
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}},

		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// shared holds one server per kind for the tests that do not stop it;
// TestMain stops them.
var shared struct {
	sync.Mutex
	servers map[string]*testServer
	cleanup []func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range shared.cleanup {
		f()
	}
	os.Exit(code)
}

// sharedServer returns the package's running server of kind, starting it
// on first use.
func sharedServer(t *testing.T, kind string) *testServer {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	s := shared.servers[kind]
	if s == nil {
		data, err := os.MkdirTemp("", "s3storage-"+kind+"-")
		if err != nil {
			t.Fatal(err)
		}
		s = newServer(t, kind, data)
		shared.cleanup = append(shared.cleanup, func() { s.stop(); _ = os.RemoveAll(data) })
		s.start(t)
		if shared.servers == nil {
			shared.servers = map[string]*testServer{}
		}
		shared.servers[kind] = s
	}
	s.logOnFailure(t)
	return s
}
