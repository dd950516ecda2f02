package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// clientRules exercise what clients serialise differently: an ID, several
// values per list, mixed case, a wildcard origin and header, MaxAgeSeconds.
var clientRules = []corsRule{
	{
		ID:             "browser-uploads",
		AllowedHeaders: []string{"Content-Type", "x-amz-*"},
		AllowedMethods: []string{"PUT", "POST"},
		AllowedOrigins: []string{appOrigin, "http://*.dev.example.com"},
		ExposeHeaders:  []string{"ETag", "x-amz-version-id"},
		MaxAgeSeconds:  maxAge(3000),
	},
	{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}},
}

// corsClient drives the ?cors API with one real client. get returns nil when
// the client reports NoSuchCORSConfiguration.
type corsClient struct {
	name    string
	require [][]string // prerequisites, as for requireTool
	put     func(t *testing.T, bucket string, rules []corsRule)
	get     func(t *testing.T, bucket string) []corsRule
	del     func(t *testing.T, bucket string)
}

// TestClients round-trips a configuration through the proxy with each
// client that exists in the field: the Go SDK (x-amz-checksum-crc32), pip
// boto3 1.43 (CRC32 plus the algorithm header), Debian's boto3 1.26
// (Content-MD5), the aws CLI v1 and v2, s3cmd (trailing slash, MD5) and a
// presigned URL.
func TestClients(t *testing.T) {
	testClients(t, newStack(t, versitygw))
}

func testClients(t *testing.T, s *stack) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	clients := []corsClient{
		sdkClient(s, "aws-sdk-go-v2", nil),
		sdkClient(s, "aws-sdk-go-v2 SHA256", func(in *s3.PutBucketCorsInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256 }),
		sdkClient(s, "aws-sdk-go-v2 Content-MD5", func(in *s3.PutBucketCorsInput) {
			in.ContentMD5 = aws.String(md5Base64(sdkCORSBody(in.CORSConfiguration)))
		}),
		boto3Client(s, "boto3 pip", testdata, nil),
		boto3Client(s, "boto3 Debian", testdata, []string{"PYENV_VERSION=system"}),
		awsCLIClient(s, "aws CLI v1 pip", testdata, nil),
		awsCLIClient(s, "aws CLI v2 Debian", testdata, []string{"PYENV_VERSION=system"}),
		s3cmdClient(s, testdata),
		presignedClient(s),
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, argv := range c.require {
				requireTool(t, argv...)
			}
			bucket := bucketName(t, "client")
			s.s3.createBucket(t, bucket)

			c.put(t, bucket, clientRules)
			s.s3.assertCORS(t, bucket, clientRules)
			if got := c.get(t, bucket); !equalRules(got, clientRules) {
				t.Errorf("%s read back\n got: %+v\nwant: %+v", c.name, got, clientRules)
			}
			r := send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+bucket+"/k", devOrigin, "POST", "content-type"))
			assertPreflight(t, r, map[string]string{
				hACAO: devOrigin, hACAC: "true", hACAM: "PUT, POST", hACAH: "content-type",
				hACEH: "ETag, x-amz-version-id", hACMA: "3000",
			}, nil)

			c.del(t, bucket)
			s.s3.assertCORS(t, bucket, nil)
			if got := c.get(t, bucket); got != nil {
				t.Errorf("%s still reads %+v after deleting", c.name, got)
			}
		})
	}
	s.tap.assertNothingCORSForwarded(t)
}

func sdkClient(s *stack, name string, mod func(*s3.PutBucketCorsInput)) corsClient {
	return corsClient{
		name: name,
		put: func(t *testing.T, bucket string, rules []corsRule) {
			in := &s3.PutBucketCorsInput{
				Bucket:            aws.String(bucket),
				CORSConfiguration: &types.CORSConfiguration{CORSRules: toSDK(rules)},
			}
			if mod != nil {
				mod(in)
			}
			if _, err := s.s3.PutBucketCors(t.Context(), in); err != nil {
				t.Fatalf("PutBucketCors: %v", err)
			}
		},
		get: func(t *testing.T, bucket string) []corsRule { return s.s3.getCORS(t, bucket) },
		del: func(t *testing.T, bucket string) { s.s3.deleteCORS(t, bucket) },
	}
}

// sdkCORSBody is the body the SDK sends for a configuration, so that a
// caller-supplied Content-MD5 matches it: the SDK marshals the same fields
// in the same order as corsXML does.
func sdkCORSBody(cfg *types.CORSConfiguration) []byte {
	return corsXML(fromSDK(cfg.CORSRules))
}

// clientEnv is the environment of a client process: none of the machine's
// AWS_* settings (a CA bundle, a profile), just the endpoint and keys.
func clientEnv(s *stack, extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"S3_ENDPOINT="+s.proxy.URL,
		"AWS_ACCESS_KEY_ID="+rootAccessKey,
		"AWS_SECRET_ACCESS_KEY="+rootSecretKey,
	)
	return append(env, extra...)
}

// runClient runs a client command and returns its stdout, stderr and exit
// code; it fails the test if the command cannot run at all.
func runClient(t *testing.T, env []string, stdin []byte, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %v: %v\n%s", argv, err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

func boto3Client(s *stack, name, testdata string, env []string) corsClient {
	script := filepath.Join(testdata, "boto3_cors.py")
	run := func(t *testing.T, stdin []byte, args ...string) (string, int) {
		t.Helper()
		out, errOut, code := runClient(t, clientEnv(s, env), stdin, append([]string{"python3", script}, args...)...)
		t.Logf("%s %v: exit %d\n%s%s", name, args, code, errOut, out)
		return out, code
	}
	return corsClient{
		name:    name,
		require: [][]string{append(append([]string{}, env...), "python3", "-c", "import boto3")},
		put: func(t *testing.T, bucket string, rules []corsRule) {
			body, err := json.Marshal(rules)
			if err != nil {
				t.Fatal(err)
			}
			if _, code := run(t, body, "put", bucket); code != 0 {
				t.Fatalf("%s put: exit %d", name, code)
			}
		},
		get: func(t *testing.T, bucket string) []corsRule {
			out, code := run(t, nil, "get", bucket)
			switch code {
			case 0:
				var rules []corsRule
				if err := json.Unmarshal([]byte(out), &rules); err != nil {
					t.Fatalf("%s get printed %q: %v", name, out, err)
				}
				return rules
			case 3:
				if !strings.Contains(out, `"NoSuchCORSConfiguration"`) {
					t.Fatalf("%s get: %s", name, out)
				}
				return nil
			}
			t.Fatalf("%s get: exit %d", name, code)
			return nil
		},
		del: func(t *testing.T, bucket string) {
			if _, code := run(t, nil, "delete", bucket); code != 0 {
				t.Fatalf("%s delete: exit %d", name, code)
			}
		},
	}
}

var awsCLIErrorCode = regexp.MustCompile(`An error occurred \(([A-Za-z]+)\)`)

func awsCLIClient(s *stack, name, testdata string, env []string) corsClient {
	script := filepath.Join(testdata, "awscli_cors.sh")
	run := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		out, errOut, code := runClient(t, clientEnv(s, env), nil, append([]string{"bash", script}, args...)...)
		t.Logf("%s %v: exit %d\n%s%s", name, args, code, errOut, out)
		return out, errOut, code
	}
	return corsClient{
		name:    name,
		require: [][]string{append(append([]string{}, env...), "aws", "--version")},
		put: func(t *testing.T, bucket string, rules []corsRule) {
			body, err := json.Marshal(map[string][]corsRule{"CORSRules": rules})
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "cors.json")
			if err := os.WriteFile(file, body, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, code := run(t, "put", bucket, file); code != 0 {
				t.Fatalf("%s put-bucket-cors: exit %d", name, code)
			}
		},
		get: func(t *testing.T, bucket string) []corsRule {
			out, errOut, code := run(t, "get", bucket)
			if code != 0 {
				if m := awsCLIErrorCode.FindStringSubmatch(errOut); m != nil && m[1] == "NoSuchCORSConfiguration" {
					return nil
				}
				t.Fatalf("%s get-bucket-cors: exit %d", name, code)
			}
			var doc struct{ CORSRules []corsRule }
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%s get-bucket-cors printed %q: %v", name, out, err)
			}
			return doc.CORSRules
		},
		del: func(t *testing.T, bucket string) {
			if _, _, code := run(t, "delete", bucket); code != 0 {
				t.Fatalf("%s delete-bucket-cors: exit %d", name, code)
			}
		},
	}
}

func s3cmdClient(s *stack, testdata string) corsClient {
	const name = "s3cmd"
	script := filepath.Join(testdata, "s3cmd_cors.sh")
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, errOut, code := runClient(t, clientEnv(s, nil), nil, append([]string{"bash", script}, args...)...)
		t.Logf("s3cmd %v: exit %d\n%s%s", args, code, errOut, out)
		if code != 0 {
			t.Fatalf("s3cmd %v: exit %d", args, code)
		}
		return out
	}
	return corsClient{
		name:    name,
		require: [][]string{{"s3cmd", "--version"}},
		put: func(t *testing.T, bucket string, rules []corsRule) {
			file := filepath.Join(t.TempDir(), "cors.xml")
			if err := os.WriteFile(file, corsXML(rules), 0o600); err != nil {
				t.Fatal(err)
			}
			run(t, "put", bucket, file)
		},
		get: func(t *testing.T, bucket string) []corsRule {
			// s3cmd info prints "CORS: none" or the document it got.
			out := run(t, "get", bucket)
			start := strings.Index(out, "<CORSConfiguration")
			end := strings.Index(out, "</CORSConfiguration>")
			if start < 0 || end < start {
				if !regexp.MustCompile(`CORS:\s+none`).MatchString(out) {
					t.Fatalf("s3cmd info shows neither a CORS document nor 'none':\n%s", out)
				}
				return nil
			}
			rules, err := parseCORSXML([]byte(out[start : end+len("</CORSConfiguration>")]))
			if err != nil {
				t.Fatalf("s3cmd info's CORS document: %v", err)
			}
			return rules
		},
		del: func(t *testing.T, bucket string) { run(t, "delete", bucket) },
	}
}

// presignedClient sends ?cors requests on presigned URLs (query-string
// SigV4, UNSIGNED-PAYLOAD, a signed Content-MD5), signed by the SDK's v4
// presigner.
func presignedClient(s *stack) corsClient {
	do := func(t *testing.T, method, bucket string, body []byte) response {
		t.Helper()
		var header http.Header
		if body != nil {
			header = http.Header{"Content-Md5": {md5Base64(body)}}
		}
		u := presignCORS(t, rootCreds, method, s.corsURL(bucket), header, 5*time.Minute, time.Now())
		return send(t, presignedRequest(t, method, u, body, header))
	}
	return corsClient{
		name: "presigned URL",
		put: func(t *testing.T, bucket string, rules []corsRule) {
			if r := do(t, http.MethodPut, bucket, corsXML(rules)); r.status != http.StatusOK {
				t.Fatalf("presigned PUT ?cors: want 200, got:\n%s", r)
			}
		},
		get: func(t *testing.T, bucket string) []corsRule {
			r := do(t, http.MethodGet, bucket, nil)
			if r.status == http.StatusNotFound {
				if e, _ := parseS3Error(r.body); e.get("Code") == "NoSuchCORSConfiguration" {
					return nil
				}
			}
			rules, err := parseCORSXML(r.body)
			if r.status != http.StatusOK || err != nil {
				t.Fatalf("presigned GET ?cors: want 200 and a document (%v), got:\n%s", err, r)
			}
			return rules
		},
		del: func(t *testing.T, bucket string) {
			if r := do(t, http.MethodDelete, bucket, nil); r.status != http.StatusNoContent {
				t.Fatalf("presigned DELETE ?cors: want 204, got:\n%s", r)
			}
		},
	}
}
