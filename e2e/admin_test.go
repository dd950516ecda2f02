package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAdminCLI drives `caddy s3-cors` (the project's binary, as an operator
// would run it) against a proxy in front of versitygw, and checks each
// change through the S3 API, and the module's metrics on the admin
// endpoint.
func TestAdminCLI(t *testing.T) {
	s := newStack(t, "versitygw")
	bucket := bucketName(t, "cli")
	s.s3.createBucket(t, bucket)
	addr := "127.0.0.1:" + strconv.Itoa(s.proxy.cfg.AdminPort)

	cli := func(stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(caddyBin, append([]string{"s3-cors"}, append(args, "--address", addr)...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}

	doc := `<CORSConfiguration><CORSRule><ID>uploads</ID><AllowedHeader>content-type</AllowedHeader>` +
		`<AllowedMethod>PUT</AllowedMethod><AllowedOrigin>https://*.app.example</AllowedOrigin></CORSRule></CORSConfiguration>`
	file := filepath.Join(t.TempDir(), "cors.xml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("", "put", bucket, file); err != nil {
		t.Fatalf("s3-cors put: %v\n%s", err, out)
	}
	s.s3.assertCORS(t, bucket, []corsRule{{
		ID: "uploads", AllowedHeaders: []string{"content-type"}, AllowedMethods: []string{"PUT"},
		AllowedOrigins: []string{"https://*.app.example"},
	}})

	out, err := cli("", "get", bucket)
	if err != nil || !strings.Contains(out, "<AllowedOrigin>https://*.app.example</AllowedOrigin>") {
		t.Errorf("s3-cors get: %v\n%s", err, out)
	}
	out, err = cli("", "list")
	if err != nil || !strings.Contains(out, `"bucket": "`+bucket+`"`) || !strings.Contains(out, `"updated_by": "admin"`) {
		t.Errorf("s3-cors list: %v\n%s", err, out)
	}

	// explain says which rule failed and why; the preflight itself answers
	// only S3's generic refusal.
	out, err = cli("", "explain", bucket, "--key", "a.txt", "--origin", "https://www.app.example",
		"--request-method", "PUT", "--request-headers", "content-type,x-amz-meta-owner")
	if err != nil {
		t.Fatalf("s3-cors explain: %v\n%s", err, out)
	}
	var ex struct {
		Outcome      string `json:"outcome"`
		Reason       string `json:"reason"`
		DeniedHeader string `json:"denied_header"`
		Rules        []struct {
			ID     string `json:"id"`
			Reason string `json:"reason"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatalf("explain printed no JSON: %v\n%s", err, out)
	}
	if ex.Outcome != "NotAllowed" || ex.Reason != "header" || ex.DeniedHeader != "x-amz-meta-owner" ||
		len(ex.Rules) != 1 || ex.Rules[0].ID != "uploads" || ex.Rules[0].Reason != "header" {
		t.Errorf("explain: %+v", ex)
	}
	pre := sendPreflight(t, s.proxy.URL+"/"+bucket+"/a.txt", "https://www.app.example", "PUT", "content-type,x-amz-meta-owner")
	if pre.status != http.StatusForbidden {
		t.Errorf("the explained preflight: %s", pre)
	}
	if pre = sendPreflight(t, s.proxy.URL+"/"+bucket+"/a.txt", "https://www.app.example", "PUT", "content-type"); pre.status != http.StatusOK {
		t.Errorf("an allowed preflight: %s", pre)
	}

	if out, err := cli("", "put", bucket, "-"); err == nil || !strings.Contains(out, "MalformedXML") {
		t.Errorf("s3-cors put of an empty document: %v\n%s", err, out)
	}
	if out, err := cli("", "delete", bucket); err != nil {
		t.Errorf("s3-cors delete: %v\n%s", err, out)
	}
	s.s3.assertCORS(t, bucket, nil)
	if out, err := cli("", "get", bucket); err == nil || !strings.Contains(out, "404") {
		t.Errorf("s3-cors get after delete: %v\n%s", err, out)
	}

	// The metrics count the preflights above by outcome.
	res := send(t, mustRequest(t, http.MethodGet, "http://"+addr+"/metrics", nil))
	for _, want := range []string{
		`caddy_s3_cors_preflights_total{outcome="allowed"} 1`,
		`caddy_s3_cors_preflights_total{outcome="not_allowed"} 1`,
		`caddy_s3_cors_buckets_configured 0`,
	} {
		if !bytes.Contains(res.body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	s.tap.assertNothingCORSForwarded(t)
}

// sendPreflight sends an OPTIONS request with the given CORS headers.
func sendPreflight(t *testing.T, rawURL, origin, acrm, acrh string) response {
	t.Helper()
	req := mustRequest(t, http.MethodOptions, rawURL, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", acrm)
	if acrh != "" {
		req.Header.Set("Access-Control-Request-Headers", acrh)
	}
	return send(t, req)
}

func mustRequest(t *testing.T, method, rawURL string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
