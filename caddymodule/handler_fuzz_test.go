package caddymodule

import (
	"bufio"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/s3cors/caddy-s3-cors/internal/requestforms"
	"github.com/s3cors/caddy-s3-cors/s3"
)

const (
	fuzzAccessKey = "AKIDFUZZ"
	fuzzSecret    = "fuzz-secret"
	fuzzDoc       = `<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://fuzz.example</AllowedOrigin></CORSRule></CORSConfiguration>`
)

// FuzzHandler sends arbitrary requests through a provisioned handler in
// front of a recording next handler, some of them signed with the
// handler's key so that valid ?cors calls occur. For every input:
//   - no OPTIONS reaches next, and no request whose query any store's
//     reading (Go's url.ParseQuery as gofakes3, fasthttp as versitygw,
//     minio/mux as MinIO, or a reader that trims names or cuts them at a
//     NUL) takes as naming cors;
//   - no answer is a 5xx;
//   - the stored configurations change only through a signed PUT or DELETE
//     that the handler answered with success.
//
// The seeds are the forms of s3/testdata/request-forms.txt.
func FuzzHandler(f *testing.F) {
	h := newBenchHandler(f)
	h.Credentials = []Credential{{AccessKeyID: fuzzAccessKey, SecretAccessKey: fuzzSecret}}
	h.verifier = s3.NewVerifier(s3.DefaultRegion, []s3.Credential{{AccessKeyID: fuzzAccessKey, SecretAccessKey: fuzzSecret}})
	h.VirtualHostSuffixes = []string{"s3.example.com"}

	forms, err := requestforms.Load("../s3/testdata/request-forms.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, form := range forms {
		host := cmp.Or(form.Host, "127.0.0.1:9000")
		f.Add(form.Method, form.Target, host, "Origin: https://fuzz.example", []byte(nil), false)
		f.Add(form.Method, form.Target, host, "", []byte(fuzzDoc), true)
	}
	for _, target := range []string{"/bucket?cors", "/other?cors=", "/bucket/?cors", "/?cors"} {
		for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
			f.Add(method, target, "bucket.s3.example.com", "", []byte(fuzzDoc), true)
			f.Add(method, target, "gateway.test", "X-Amz-Expected-Bucket-Owner: 123456789012", []byte(fuzzDoc), true)
		}
	}

	f.Fuzz(func(t *testing.T, method, target, host, header string, body []byte, sign bool) {
		r := readRequest(method, target, host, header, body)
		if r == nil {
			return // the server refuses what it cannot read, before any handler
		}
		if sign && !signRequest(r, body) {
			return
		}
		before := versions(h)
		next := &recordingNext{}
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Fatalf("ServeHTTP: %v", err)
		}
		if w.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
		if next.r != nil {
			if next.r.Method == http.MethodOptions {
				t.Fatalf("an OPTIONS reached next: %s", target)
			}
			if reading := corsReading(next.r.URL.RawQuery); reading != "" {
				t.Fatalf("%s %s reached next; %s reads it as a ?cors call", method, target, reading)
			}
		}
		after := versions(h)
		changed := len(before) != len(after)
		for b, v := range before {
			changed = changed || after[b] != v
		}
		if changed {
			ok := sign && (r.Method == http.MethodPut || r.Method == http.MethodDelete) &&
				(w.Code == http.StatusOK || w.Code == http.StatusNoContent) && next.r == nil
			if !ok {
				t.Fatalf("%s %s (signed %v, status %d) changed the configurations from %v to %v", method, target, sign, w.Code, before, after)
			}
		}
	})
}

// readRequest parses the request as the server would, or returns nil.
func readRequest(method, target, host, header string, body []byte) *http.Request {
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for line := range strings.Lines(header) {
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			b.WriteString(line + "\r\n")
		}
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
	if err != nil {
		return nil
	}
	return r
}

// signRequest signs r in its Authorization header with the handler's key,
// over the target as sent, with a Content-MD5 of body.
func signRequest(r *http.Request, body []byte) bool {
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	if !strings.HasPrefix(rawPath, "/") {
		return false
	}
	sum := md5.Sum(body)
	r.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	hash := sha256.Sum256(body)
	payload := hex.EncodeToString(hash[:])
	r.Header.Set("X-Amz-Content-Sha256", payload)
	sreq := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: "http", Host: r.Host, Opaque: "//" + r.Host + rawPath, RawQuery: rawQuery},
		Host:   r.Host,
		Header: r.Header.Clone(),
	}
	creds := aws.Credentials{AccessKeyID: fuzzAccessKey, SecretAccessKey: fuzzSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, sreq, payload, "s3", s3.DefaultRegion, time.Now(),
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		return false
	}
	r.Header.Set("Authorization", sreq.Header.Get("Authorization"))
	r.Header.Set("X-Amz-Date", sreq.Header.Get("X-Amz-Date"))
	return true
}

// versions is the version of every stored configuration.
func versions(h *Handler) map[string]string {
	m := make(map[string]string)
	for _, b := range h.store().Buckets() {
		rec, _ := h.store().Get(b)
		m[b] = rec.Version
	}
	return m
}

// recordingNext stands for reverse_proxy: it keeps the request it got and
// answers as a store would to an unsigned request, refusing DELETEs, so
// that no DeleteBucket is confirmed.
type recordingNext struct{ r *http.Request }

func (n *recordingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	n.r = r
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusForbidden)
		return nil
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	return nil
}

// corsReading names a reader that takes rawQuery as naming the cors
// sub-resource, or returns "".
func corsReading(rawQuery string) string {
	// Go's net/http, as gofakes3 and MinIO's handlers read a query.
	if v, _ := url.ParseQuery(rawQuery); v.Has("cors") {
		return "Go's url.ParseQuery"
	}
	// fasthttp (versitygw): the query ends at '#', pairs at '&', a bad
	// escape is kept as text, '+' is a space.
	query, _, _ := strings.Cut(rawQuery, "#")
	for pair := range strings.SplitSeq(query, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if lenientUnescape(name) == "cors" {
			return "fasthttp"
		}
	}
	// minio/mux: pairs at '&' and ';'; a name or value that does not
	// unescape skips the pair.
	pairs := strings.FieldsFunc(rawQuery, func(c rune) bool { return c == '&' || c == ';' })
	for _, pair := range pairs {
		name, value, _ := strings.Cut(pair, "=")
		n, err := url.QueryUnescape(name)
		if _, verr := url.QueryUnescape(value); err == nil && verr == nil && n == "cors" {
			return "minio/mux"
		}
	}
	// A reader that trims names, or cuts them at a NUL as C does.
	for _, pair := range pairs {
		name, _, _ := strings.Cut(pair, "=")
		n := lenientUnescape(name)
		cut, _, _ := strings.Cut(n, "\x00")
		trim := func(s string) string {
			return strings.TrimFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '?' })
		}
		if trim(n) == "cors" || trim(cut) == "cors" {
			return "a reader that trims names"
		}
	}
	return ""
}

// lenientUnescape decodes as fasthttp does: a bad escape stays as it is.
func lenientUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// TestFuzzHandlerSigning shows that the fuzz target's signed seeds are
// valid calls: a signed PUT stores its document, an unsigned one does not.
func TestFuzzHandlerSigning(t *testing.T) {
	h := newBenchHandler(t)
	h.Credentials = []Credential{{AccessKeyID: fuzzAccessKey, SecretAccessKey: fuzzSecret}}
	h.verifier = s3.NewVerifier(s3.DefaultRegion, []s3.Credential{{AccessKeyID: fuzzAccessKey, SecretAccessKey: fuzzSecret}})
	for _, sign := range []bool{false, true} {
		r := readRequest(http.MethodPut, "/fuzzed?cors", "gateway.test", "", []byte(fuzzDoc))
		if sign && !signRequest(r, []byte(fuzzDoc)) {
			t.Fatal("signRequest failed")
		}
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, &recordingNext{}); err != nil {
			t.Fatal(err)
		}
		_, stored := h.store().Get("fuzzed")
		if stored != sign || (w.Code == http.StatusOK) != sign {
			t.Errorf("signed %v: status %d, stored %v", sign, w.Code, stored)
		}
	}
}
