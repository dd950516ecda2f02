package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// defaultDoc is a default_cors document laid out on lines, as a file
// would be.
var defaultDoc = func() string {
	b, err := os.ReadFile(filepath.Join("testdata", "default-cors.xml"))
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// validateHandlers runs caddy.Validate, which `caddy validate` and `caddy
// run` go through, on a config whose one route has an s3_cors handler for
// each of handlers (the JSON of its options: "{}", or "{, ...}" which the
// handler's name completes).
func validateHandlers(t *testing.T, handlers ...string) error {
	t.Helper()
	var route []string
	for _, h := range handlers {
		route = append(route, `{"handler": "s3_cors"`+strings.TrimPrefix(h, "{"))
	}
	raw := fmt.Sprintf(`{
		"storage": {"module": "file_system", "root": %q},
		"apps": {"http": {"servers": {"s": {"listen": ["127.0.0.1:0"], "routes": [{"handle": [%s, {"handler": "static_response"}]}]}}}}
	}`, t.TempDir(), strings.Join(route, ", "))
	var cfg caddy.Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}

func defaultFile(path string) string {
	b, _ := json.Marshal(path)
	return `{, "default_cors_file": ` + string(b) + `}`
}

// A bad default_cors file fails validation with S3's code and message and
// the line it is on; nothing is served from it.
func TestDefaultCORSValidation(t *testing.T) {
	good := writeFile(t, "good.xml", defaultDoc)
	if err := validateHandlers(t, defaultFile(good)); err != nil {
		t.Fatalf("a valid file: %v", err)
	}

	patch := writeFile(t, "patch.xml", strings.Replace(defaultDoc, "<AllowedMethod>PUT</AllowedMethod>", "<AllowedMethod>PATCH</AllowedMethod>", 1))
	unclosed := writeFile(t, "unclosed.xml", strings.Replace(defaultDoc, "</CORSRule>", "", 1))
	wildcard := writeFile(t, "wildcard.xml", strings.Replace(defaultDoc, "<ExposeHeader>ETag</ExposeHeader>", "<ExposeHeader>x-amz-*</ExposeHeader>", 1))
	big := writeFile(t, "big.xml", defaultDoc+strings.Repeat(" ", cors.MaxDocumentSize))
	t.Setenv("S3CORS_TEST_DEFAULT_DIR", filepath.Dir(patch))
	other := writeFile(t, "other.xml", strings.Replace(defaultDoc, "https://app.example", "https://other.example", 1))
	relaid := writeFile(t, "relaid.xml", strings.ReplaceAll(strings.ReplaceAll(defaultDoc, "\n", ""), "  ", ""))

	for _, c := range []struct {
		name     string
		handlers []string
		want     string
	}{
		{"unsupported method", []string{defaultFile(patch)},
			"default_cors " + patch + ": line 7, column 5: InvalidRequest: Found unsupported HTTP method in CORS config. Unsupported method is PATCH"},
		{"not well-formed", []string{defaultFile(unclosed)},
			"default_cors " + unclosed + ": line 11, column 21: MalformedXML: The XML you provided was not well-formed or did not validate against our published schema"},
		{"wildcard ExposeHeader", []string{defaultFile(wildcard)},
			"line 9, column 5: InvalidRequest: ExposeHeader \"x-amz-*\" contains wildcard."},
		{"over 64 KB", []string{defaultFile(big)}, "MaxMessageLengthExceeded: Your request was too big."},
		{"missing file", []string{defaultFile(good + ".missing")}, "default_cors: no file " + good + ".missing"},
		{"placeholder", []string{defaultFile("{env.S3CORS_TEST_DEFAULT_DIR}/patch.xml")}, patch + ": line 7, column 5"},
		{"placeholder of an unset variable", []string{defaultFile("{env.S3CORS_TEST_UNSET_VARIABLE}")}, "default_cors: the file name is empty"},
		{"two handlers, two defaults", []string{defaultFile(good), defaultFile(other)},
			"default_cors: " + good + " and " + other + " hold different configurations"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := validateHandlers(t, c.handlers...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v, want one containing %q", err, c.want)
			}
		})
	}
	if err := validateHandlers(t, defaultFile(good), defaultFile(relaid), `{}`); err != nil {
		t.Errorf("two files with one configuration, and a handler without default: %v", err)
	}
}

// Files that hold the same configuration share one compiled default, with
// its counts, until the last handler using it is cleaned up.
func TestDefaultCORSShared(t *testing.T) {
	a := writeFile(t, "a.xml", defaultDoc)
	b := writeFile(t, "b.xml", strings.ReplaceAll(defaultDoc, "\n", "\n\n"))
	da, ka, err := loadDefaultCORS(a)
	if err != nil {
		t.Fatal(err)
	}
	db, kb, err := loadDefaultCORS(b)
	if err != nil {
		t.Fatal(err)
	}
	if da != db || ka != kb {
		t.Fatalf("two files with one configuration compiled twice")
	}
	other, ko, err := loadDefaultCORS(writeFile(t, "c.xml", strings.Replace(defaultDoc, "GET", "HEAD", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if other == da || ko == ka {
		t.Fatal("two configurations share one default")
	}
	for _, k := range []string{ka, kb, ko} {
		if _, err := defaultPolicies.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	again, _, err := loadDefaultCORS(a)
	if err != nil {
		t.Fatal(err)
	}
	defer defaultPolicies.Delete(ka)
	if again == da {
		t.Error("a default was kept after every handler using it was cleaned up")
	}
}

// The bucket's own configuration decides when it has one, the default
// otherwise, and nothing for the bucket of bucket_storage.
func TestResolve(t *testing.T) {
	h := newBenchHandler(t) // "bucket" has a configuration of its own
	d, key, err := loadDefaultCORS(writeFile(t, "d.xml", defaultDoc))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = defaultPolicies.Delete(key) })
	h.app.configBucket = "configs"
	if err := h.app.defaults.set(d, "d.xml"); err != nil {
		t.Fatal(err)
	}
	own := h.store().Lookup("bucket").Live
	for _, c := range []struct {
		bucket string
		def    *defaultCORS
		policy *cors.Policy
		source PolicySource
	}{
		{"bucket", d, own, SourceBucket},
		{"other", d, d.policy, SourceDefault},
		{"configs", d, nil, SourceNone},
		{"other", nil, nil, SourceNone},
	} {
		p, src, _ := h.app.resolve(c.bucket, c.def)
		if p != c.policy || src != c.source {
			t.Errorf("%s (default %v): %p %s, want %p %s", c.bucket, c.def != nil, p, src, c.policy, c.source)
		}
	}
	if p, src := h.app.Policy("other"); p != d.policy || src != SourceDefault || h.app.DefaultFile() != "d.xml" {
		t.Errorf("the app's Policy: %p %s %q", p, src, h.app.DefaultFile())
	}

	// Once the bucket has a configuration of its own, that one decides.
	cfg := d.policy.Configuration()
	if _, err := h.store().Put(context.Background(), "configs", cfg, "test"); err != nil {
		t.Fatal(err)
	}
	if _, src, _ := h.app.resolve("configs", d); src != SourceBucket {
		t.Errorf("the bucket_storage bucket with a configuration of its own: %s", src)
	}
}
