package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// wireHeader is one header line as a client writes it: name in its own case.
type wireHeader struct{ name, value string }

// rawExchange writes a request byte for byte on a new connection to g, the
// way a client other than Go's writes it, and returns the response. signed
// lists the headers the signature covers (lower case); the Authorization
// header is produced by the signer and then laid out by authLayout.
func rawExchange(t *testing.T, g *gateway, method, target string, headers []wireHeader, body []byte,
	signed []string, authName string, authLayout func(string) string,
) *http.Response {
	t.Helper()
	host := strings.TrimPrefix(g.URL, "http://")
	rawPath, rawQuery, _ := strings.Cut(target, "?")
	sreq := &http.Request{
		Method: method,
		URL:    &url.URL{Scheme: "http", Host: host, Opaque: "//" + host + rawPath, RawQuery: rawQuery},
		Host:   host,
		Header: http.Header{},
	}
	var payloadHash string
	for _, h := range headers {
		lower := strings.ToLower(h.name)
		if lower == "x-amz-content-sha256" {
			payloadHash = h.value
		}
		for _, s := range signed {
			switch {
			case s != lower:
			case s == "content-length":
				sreq.ContentLength = int64(len(body))
			case s != "host":
				sreq.Header[lower] = []string{h.value}
			}
		}
	}
	now := time.Now().UTC()
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, sreq, payloadHash, "s3", testRegion, now,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		t.Fatal(err)
	}
	auth := sreq.Header.Get("Authorization")
	if want := "SignedHeaders=" + strings.Join(signed, ";") + ","; !strings.Contains(auth, want) {
		t.Fatalf("test setup: signer produced %q, want %s", auth, want)
	}
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\n")
	for _, h := range headers {
		value := h.value
		switch strings.ToLower(h.name) {
		case "host":
			value = host
		case "content-length":
			value = strconv.Itoa(len(body))
		}
		b.WriteString(h.name + ": " + value + "\r\n")
	}
	dateName := "X-Amz-Date"
	if authName == "authorization" {
		dateName = "x-amz-date"
	}
	b.WriteString(dateName + ": " + sreq.Header.Get("X-Amz-Date") + "\r\n")
	b.WriteString(authName + ": " + authLayout(auth) + "\r\n")
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(body)

	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

// TestClientsOnTheWire replays what each real client sends for the ?cors
// API (research: upstreams-and-clients.md §4.2), byte for byte where it
// matters: path and query forms, header-name case, the layout of the
// Authorization header, payload hashes and integrity headers.
func TestClientsOnTheWire(t *testing.T) {
	body := []byte(corsBody)
	md5Sum := md5.Sum(body)
	contentMD5 := base64.StdEncoding.EncodeToString(md5Sum[:])
	shaSum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(shaSum[:])
	crc := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(body)))
	asIs := func(s string) string { return s }
	noSpaces := func(s string) string { return strings.ReplaceAll(s, ", ", ",") }

	tests := []struct {
		name, method, target string
		headers              []wireHeader
		body                 []byte
		signed               []string
		authName             string
		layout               func(string) string
		status               int
		code                 string // the error, when status is one
	}{
		{
			name: "s3cmd 2.3.0 setcors", method: "PUT", target: "/bucket/?cors", body: body, layout: noSpaces, status: 200,
			headers: []wireHeader{{"host", ""}, {"content-md5", contentMD5}, {"content-type", "application/xml"},
				{"x-amz-content-sha256", bodyHash}, {"content-length", ""}},
			signed: []string{"content-md5", "content-type", "host", "x-amz-content-sha256", "x-amz-date"},
		},
		{
			name: "s3cmd 2.3.0 info", method: "GET", target: "/bucket/?cors", layout: noSpaces, status: 200,
			headers: []wireHeader{{"host", ""}, {"x-amz-content-sha256", docEmptyHash}},
			signed:  []string{"host", "x-amz-content-sha256", "x-amz-date"},
		},
		{
			name: "s3cmd 2.3.0 delcors", method: "DELETE", target: "/bucket/?cors", layout: noSpaces, status: 204,
			headers: []wireHeader{{"host", ""}, {"x-amz-content-sha256", docEmptyHash}},
			signed:  []string{"host", "x-amz-content-sha256", "x-amz-date"},
		},
		{
			// Debian's botocore writes the Host header in lower case.
			name: "boto3 1.26 (Debian), Content-MD5", method: "PUT", target: "/bucket?cors", body: body, layout: asIs, status: 200,
			headers: []wireHeader{{"host", ""}, {"Accept-Encoding", "identity"}, {"User-Agent", "Boto3/1.26.27"},
				{"Content-MD5", contentMD5}, {"X-Amz-Content-SHA256", bodyHash}, {"Content-Length", ""}},
			signed: []string{"content-md5", "host", "x-amz-content-sha256", "x-amz-date"},
		},
		{
			name: "boto3 1.43 (pip), CRC32 and the algorithm", method: "PUT", target: "/bucket?cors", body: body, layout: asIs, status: 200,
			headers: []wireHeader{{"Host", ""}, {"User-Agent", "Boto3/1.43.11"}, {"x-amz-checksum-crc32", crc},
				{"x-amz-sdk-checksum-algorithm", "CRC32"}, {"X-Amz-Content-SHA256", bodyHash}, {"Content-Length", ""}},
			signed: []string{"host", "x-amz-checksum-crc32", "x-amz-content-sha256", "x-amz-date", "x-amz-sdk-checksum-algorithm"},
		},
		{
			name: "minio-go, UNSIGNED-PAYLOAD", method: "PUT", target: "/bucket/?cors=", body: body, layout: asIs, status: 200,
			headers: []wireHeader{{"Host", ""}, {"User-Agent", "MinIO (linux; amd64) minio-go/v7.0.88"}, {"Content-Length", ""},
				{"Content-Md5", contentMD5}, {"X-Amz-Content-Sha256", unsignedHash}, {"Accept-Encoding", "zstd,gzip"}},
			signed: []string{"content-md5", "host", "x-amz-content-sha256", "x-amz-date"},
		},
		{
			// All names in lower case, content-length and the SDK's own headers signed.
			name: "@aws-sdk/client-s3 3.1175", method: "PUT", target: "/bucket/?cors=", body: body, layout: asIs, status: 200,
			authName: "authorization",
			headers: []wireHeader{{"host", ""}, {"content-type", "application/xml"}, {"content-length", ""},
				{"x-amz-checksum-crc32", crc}, {"x-amz-sdk-checksum-algorithm", "CRC32"}, {"x-amz-content-sha256", bodyHash},
				{"x-amz-user-agent", "aws-sdk-js/3.1175.0"}, {"amz-sdk-invocation-id", "8d0c9a7e-0000-4000-8000-000000000000"},
				{"amz-sdk-request", "attempt=1; max=3"}, {"user-agent", "aws-sdk-js/3.1175.0 ua/2.1"}},
			signed: []string{"amz-sdk-invocation-id", "amz-sdk-request", "content-length", "content-type", "host",
				"x-amz-checksum-crc32", "x-amz-content-sha256", "x-amz-date", "x-amz-sdk-checksum-algorithm", "x-amz-user-agent"},
		},
		{
			name: "s3cmd with a body other than the one signed", method: "PUT", target: "/bucket/?cors", layout: noSpaces,
			status: 400, code: "XAmzContentSHA256Mismatch",
			body:    bytes.Replace(body, []byte("GET"), []byte("PUT"), 1),
			headers: []wireHeader{{"host", ""}, {"content-md5", contentMD5}, {"x-amz-content-sha256", bodyHash}, {"content-length", ""}},
			signed:  []string{"content-md5", "host", "x-amz-content-sha256", "x-amz-date"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateway(t)
			authName := tt.authName
			if authName == "" {
				authName = "Authorization"
			}
			resp := rawExchange(t, g, tt.method, tt.target, tt.headers, tt.body, tt.signed, authName, tt.layout)
			s := g.last(t)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %v %v", resp.StatusCode, tt.status, s.err, s.err.Extra)
			}
			if tt.code != "" && (s.err == nil || s.err.Code != tt.code) {
				t.Fatalf("error %v, want %s", s.err, tt.code)
			}
			if !s.cors || s.target != (Target{Bucket: "bucket"}) {
				t.Errorf("target %+v, cors %v: not the bucket's ?cors", s.target, s.cors)
			}
			if tt.status < 300 && (s.cred == nil || s.cred.AccessKeyID != testAccessKey) {
				t.Errorf("credential %v", s.cred)
			}
		})
	}
}
