package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
)

func TestUnmarshalCaddyfileHandler(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Handler
		err   string
	}{
		{name: "no block", input: `s3_cors`, want: Handler{}},
		{
			name: "every option",
			input: `s3_cors {
				credentials AK1 {env.SECRET} {
					buckets photos uploads
				}
				credentials AK2 secret2
				owner_id 123456789012
				region eu-west-1
				virtual_host_suffix s3.example.com s3.example.net
				virtual_host_suffix s3.internal
				upstream http://127.0.0.1:9000 {
					credentials UAK usecret
					region eu-west-2
					cache_ttl 30s
				}
				insecure_unauthenticated_api
				default_cors {env.CORS_DIR}/default.xml
				always_vary
			}`,
			want: Handler{
				Credentials: []Credential{
					{AccessKeyID: "AK1", SecretAccessKey: "{env.SECRET}", Buckets: []string{"photos", "uploads"}},
					{AccessKeyID: "AK2", SecretAccessKey: "secret2"},
				},
				OwnerID:             "123456789012",
				Region:              "eu-west-1",
				VirtualHostSuffixes: []string{"s3.example.com", "s3.example.net", "s3.internal"},
				Upstream: &Upstream{
					Endpoint: "http://127.0.0.1:9000", AccessKeyID: "UAK", SecretAccessKey: "usecret",
					Region: "eu-west-2", CacheTTL: caddy.Duration(30 * time.Second),
				},
				InsecureUnauthenticatedAPI: true,
				DefaultCORSFile:            "{env.CORS_DIR}/default.xml",
				AlwaysVary:                 true,
			},
		},
		{name: "argument on the directive", input: `s3_cors foo`, err: "wrong argument count"},
		{name: "credentials without a secret", input: "s3_cors {\ncredentials AK\n}", err: "credentials takes an access key and a secret key"},
		{name: "credentials with three arguments", input: "s3_cors {\ncredentials AK SK extra\n}", err: "credentials takes an access key and a secret key"},
		{name: "empty buckets", input: "s3_cors {\ncredentials AK SK {\nbuckets\n}\n}", err: "wrong argument count"},
		{name: "unknown credentials option", input: "s3_cors {\ncredentials AK SK {\nbucket x\n}\n}", err: `unknown credentials option "bucket"`},
		{name: "region twice on a line", input: "s3_cors {\nregion a b\n}", err: "wrong argument count"},
		{name: "suffix without value", input: "s3_cors {\nvirtual_host_suffix\n}", err: "wrong argument count"},
		{name: "two upstreams", input: "s3_cors {\nupstream http://a\nupstream http://b\n}", err: "upstream is already set"},
		{name: "region twice", input: "s3_cors {\nregion eu-west-1\nregion us-east-1\n}", err: "region is already set, at Testfile:3"},
		{name: "owner_id twice", input: "s3_cors {\nowner_id 123456789012\nowner_id 210987654321\n}", err: "owner_id is already set"},
		{name: "upstream region twice", input: "s3_cors {\nupstream http://a {\nregion a\nregion b\n}\n}", err: "region is already set"},
		{name: "upstream cache_ttl twice", input: "s3_cors {\nupstream http://a {\ncache_ttl 1s\ncache_ttl 2s\n}\n}", err: "cache_ttl is already set"},
		{name: "upstream credentials twice", input: "s3_cors {\nupstream http://a {\ncredentials a b\ncredentials c d\n}\n}", err: "credentials is already set"},
		{name: "bad cache_ttl", input: "s3_cors {\nupstream http://a {\ncache_ttl soon\n}\n}", err: "cache_ttl"},
		{name: "unknown upstream option", input: "s3_cors {\nupstream http://a {\nttl 1s\n}\n}", err: `unknown upstream option "ttl"`},
		{name: "opt-in with an argument", input: "s3_cors {\ninsecure_unauthenticated_api yes\n}", err: "wrong argument count"},
		{name: "opt-in twice", input: "s3_cors {\ninsecure_unauthenticated_api\ninsecure_unauthenticated_api\n}", err: "insecure_unauthenticated_api is already set"},
		{name: "default_cors without a file", input: "s3_cors {\ndefault_cors\n}", err: "wrong argument count"},
		{name: "default_cors with two files", input: "s3_cors {\ndefault_cors a.xml b.xml\n}", err: "wrong argument count"},
		{name: "default_cors twice", input: "s3_cors {\ndefault_cors a.xml\ndefault_cors b.xml\n}", err: "default_cors is already set, at Testfile:3"},
		{name: "always_vary with an argument", input: "s3_cors {\nalways_vary on\n}", err: "wrong argument count"},
		{name: "always_vary twice", input: "s3_cors {\nalways_vary\nalways_vary\n}", err: "always_vary is already set"},
		{name: "unknown option", input: "s3_cors {\nallow_origin *\n}", err: `unknown s3_cors option "allow_origin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Errorf("got  %+v\nwant %+v", h, tt.want)
			}
		})
	}
}

func TestUnmarshalCaddyfileApp(t *testing.T) {
	var a App
	err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`s3_cors {
		key_prefix cors
		sync_interval 1m
		storage file_system {
			root /var/lib/cors
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.KeyPrefix != "cors" || a.SyncInterval != caddy.Duration(time.Minute) {
		t.Errorf("got %+v", a)
	}
	var storage map[string]any
	if err := json.Unmarshal(a.StorageRaw, &storage); err != nil {
		t.Fatal(err)
	}
	if storage["module"] != "file_system" || storage["root"] != "/var/lib/cors" {
		t.Errorf("storage = %s", a.StorageRaw)
	}

	for input, want := range map[string]string{
		"s3_cors {\nsync_interval\n}":                                        "wrong argument count",
		"s3_cors {\nsync_interval often\n}":                                  "sync_interval",
		"s3_cors {\nstorage no_such_module\n}":                               "no_such_module",
		"s3_cors {\nkey_prefix\n}":                                           "wrong argument count",
		"s3_cors {\nreplicas 3\n}":                                           `unknown s3_cors global option "replicas"`,
		"s3_cors extra":                                                      "wrong argument count",
		"s3_cors {\nkey_prefix a\nkey_prefix b\n}":                           "key_prefix is already set",
		"s3_cors {\nsync_interval 1s\nsync_interval 2s\n}":                   "sync_interval is already set",
		"s3_cors {\nstorage file_system /a\nstorage file_system /b\n}":       "storage is already set",
		"s3_cors {\nbucket_storage http://a b\nbucket_storage http://c d\n}": "bucket_storage is already set",
	} {
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error = %v, want one containing %q", input, err, want)
		}
	}
}

// A second s3_cors global block may add options, not change the first's.
func TestGlobalOptionBlocksMerge(t *testing.T) {
	first, err := parseGlobalOption(caddyfile.NewTestDispenser("s3_cors {\nkey_prefix a\n}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := parseGlobalOption(caddyfile.NewTestDispenser("s3_cors {\nsync_interval 1m\n}"), first)
	if err != nil {
		t.Fatal(err)
	}
	var a App
	if err := json.Unmarshal(merged.(httpcaddyfile.App).Value, &a); err != nil {
		t.Fatal(err)
	}
	if a.KeyPrefix != "a" || a.SyncInterval != caddy.Duration(time.Minute) {
		t.Errorf("merged blocks: %+v", a)
	}
	if _, err := parseGlobalOption(caddyfile.NewTestDispenser("s3_cors {\nkey_prefix b\n}"), first); err == nil || !strings.Contains(err.Error(), "key_prefix is already set") {
		t.Errorf("key_prefix in two blocks: error = %v", err)
	}
}

func TestHandlerValidate(t *testing.T) {
	ok := Handler{Credentials: []Credential{{AccessKeyID: "a", SecretAccessKey: "b", Buckets: []string{"photos"}}}, OwnerID: "123456789012", VirtualHostSuffixes: []string{"s3.example.com"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid handler: %v", err)
	}
	for name, c := range map[string]struct {
		h   Handler
		err string
	}{
		"empty secret (unset environment variable)": {Handler{Credentials: []Credential{{AccessKeyID: "a"}}}, "must not be empty"},
		"duplicate key":         {Handler{Credentials: []Credential{{AccessKeyID: "a", SecretAccessKey: "b"}, {AccessKeyID: "a", SecretAccessKey: "c"}}}, "configured twice"},
		"invalid bucket scope":  {Handler{Credentials: []Credential{{AccessKeyID: "a", SecretAccessKey: "b", Buckets: []string{"Bad_Name"}}}}, "not a valid bucket name"},
		"owner id of 11 digits": {Handler{OwnerID: "12345678901"}, "12-digit"},
		"suffix with a port":    {Handler{VirtualHostSuffixes: []string{"s3.example.com:8080"}}, "bare host name"},
	} {
		if err := c.h.Validate(); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error = %v, want one containing %q", name, err, c.err)
		}
	}
}

// TestCaddyfileAdapt compares the JSON that Caddyfiles adapt to with the
// golden files in testdata (a Caddyfile, a line of dashes, the JSON).
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.caddyfiletest"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(data), "\n----------\n")
			if !ok {
				t.Fatalf("%s has no separator line", f)
			}
			if !caddytest.CompareAdapt(t, f, in, "caddyfile", strings.TrimRight(want, "\n")) {
				t.Errorf("%s: adapted JSON differs (diff above)", f)
			}
		})
	}
}
