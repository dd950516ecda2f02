package caddymodule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/s3cors/caddy-s3-cors/store/s3storage"
)

func TestUnmarshalCaddyfileBucketStorage(t *testing.T) {
	var a App
	err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`s3_cors {
		bucket_storage https://s3.internal:9000 cors-configs {
			credentials AK {env.SECRET}
			region eu-west-1
			prefix caddy/cors
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &s3storage.Config{
		Endpoint: "https://s3.internal:9000", Bucket: "cors-configs",
		AccessKeyID: "AK", SecretAccessKey: "{env.SECRET}", Region: "eu-west-1", Prefix: "caddy/cors",
	}
	if !reflect.DeepEqual(a.BucketStorage, want) {
		t.Errorf("got %+v\nwant %+v", a.BucketStorage, want)
	}

	for input, want := range map[string]string{
		"s3_cors {\nbucket_storage http://a\n}":                        "takes an endpoint and a bucket",
		"s3_cors {\nbucket_storage http://a b c\n}":                    "takes an endpoint and a bucket",
		"s3_cors {\nbucket_storage http://a b {\ncredentials AK\n}\n}": "credentials takes an access key and a secret key",
		"s3_cors {\nbucket_storage http://a b {\nregion\n}\n}":         "wrong argument count",
		"s3_cors {\nbucket_storage http://a b {\nprefix x y\n}\n}":     "wrong argument count",
		"s3_cors {\nbucket_storage http://a b {\npath_style off\n}\n}": `unknown bucket_storage option "path_style"`,
	} {
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error = %v, want one containing %q", input, err, want)
		}
	}
}

func TestBucketStorageOption(t *testing.T) {
	t.Setenv("S3CORS_TEST_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("S3CORS_TEST_BUCKET", "cors-configs")
	t.Setenv("S3CORS_TEST_KEY", "AKTEST")
	t.Setenv("S3CORS_TEST_PREFIX", "pfx")
	a := App{BucketStorage: &s3storage.Config{
		Endpoint: "{env.S3CORS_TEST_ENDPOINT}", Bucket: "{env.S3CORS_TEST_BUCKET}",
		AccessKeyID: "{env.S3CORS_TEST_KEY}", SecretAccessKey: "{env.S3CORS_TEST_KEY}",
		Prefix: "{env.S3CORS_TEST_PREFIX}",
	}}
	s, err := a.bucketStorage()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "http://127.0.0.1:1/cors-configs/pfx (access key AKTEST)"; got != want {
		t.Errorf("placeholders not replaced: %q, want %q", got, want)
	}
	if a.BucketStorage.Endpoint != "{env.S3CORS_TEST_ENDPOINT}" {
		t.Error("replacing placeholders changed the app's configuration")
	}

	unset := App{BucketStorage: &s3storage.Config{Endpoint: "http://127.0.0.1:1", Bucket: "b-c", AccessKeyID: "{env.S3CORS_TEST_UNSET}", SecretAccessKey: "x"}}
	if _, err := unset.bucketStorage(); err == nil || !strings.Contains(err.Error(), "bucket_storage") || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("unset credentials variable: %v", err)
	}

	both := a
	both.StorageRaw = json.RawMessage(`{"module":"file_system","root":"/tmp/x"}`)
	if _, err := both.bucketStorage(); err == nil || !strings.Contains(err.Error(), "storage and bucket_storage are alternatives") {
		t.Errorf("storage and bucket_storage both set: %v", err)
	}
}
