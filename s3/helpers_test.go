package s3

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	testAccessKey = "AKIDGATEWAYTEST01"
	testSecret    = "gateway-test-secret/with+chars=="
	testRegion    = "us-east-1"
	corsBody      = `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>`
)

// seen is what the gateway under test saw of one request.
type seen struct {
	method, uri string
	header      http.Header
	body        []byte
	cred        *Credential
	err         *Error
	target      Target
	cors        bool // classified as a ?cors call
}

// gateway is a loopback server that does what the Caddy handler will do for
// a ?cors call: read the body under a cap, verify the signature, check the
// integrity of a PUT, and answer like S3. It records every request.
type gateway struct {
	*httptest.Server
	verifier *Verifier

	mu   sync.Mutex
	seen []seen
}

func newGateway(t *testing.T, creds ...Credential) *gateway {
	t.Helper()
	if creds == nil {
		creds = []Credential{{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}}
	}
	g := &gateway{verifier: NewVerifier(testRegion, creds)}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	s := seen{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), target: ResolveTarget(r, nil)}
	s.cors = Classify(r, nil).Kind == KindCORS
	body, err := ReadBody(r, 64<<10)
	s.body = body
	if err == nil {
		s.cred, err = g.verifier.Verify(r, body)
	}
	if err == nil && r.Method == http.MethodPut {
		err = CheckIntegrity(r.Header, body)
	}
	s.err = err
	g.mu.Lock()
	g.seen = append(g.seen, s)
	g.mu.Unlock()
	if err != nil {
		WriteError(w, NewIDs(), err)
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(corsBody))
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	}
}

// last returns what the gateway saw of the latest request.
func (g *gateway) last(t *testing.T) seen {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.seen) == 0 {
		t.Fatal("the gateway saw no request")
	}
	return g.seen[len(g.seen)-1]
}

// doerFunc lets a test stand between the SDK and the wire.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// sdkClient returns an aws-sdk-go-v2 S3 client that talks to g path-style.
// s3.Options is built directly, which keeps AWS_CA_BUNDLE out of the way.
func (g *gateway) sdkClient(accessKey, secret, region string, opts ...func(*awss3.Options)) *awss3.Client {
	o := awss3.Options{
		BaseEndpoint: aws.String(g.URL),
		UsePathStyle: true,
		Region:       region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret}, nil
		}),
		HTTPClient: g.Client(),
		Retryer:    aws.NopRetryer{},
	}
	for _, f := range opts {
		f(&o)
	}
	return awss3.New(o)
}

// fixedClock returns a Now that always answers t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }
