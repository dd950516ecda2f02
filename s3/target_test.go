package s3

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestResolveTarget(t *testing.T) {
	suffixes := []string{"s3.example.com", "example.com", ".s3.local."}
	tests := []struct {
		name, host, target string
		want               Target
	}{
		{"ListBuckets", "s3.example.com", "/", Target{}},
		{"OPTIONS *", "127.0.0.1:9000", "*", Target{}},
		{"OPTIONS * on a virtual host", "b.s3.example.com", "*", Target{Bucket: "b"}},
		{"path-style bucket", "s3.example.com", "/bucket", Target{Bucket: "bucket"}},
		{"path-style bucket with a trailing slash", "s3.example.com", "/bucket/?cors", Target{Bucket: "bucket"}},
		{"path-style object", "127.0.0.1:9000", "/bucket/a/b.txt", Target{Bucket: "bucket", Key: "a/b.txt"}},
		{"path-style escaped key", "127.0.0.1", "/bucket/a%20b%2Fc", Target{Bucket: "bucket", Key: "a b/c"}},
		{"path-style double slash kept", "127.0.0.1", "/bucket//k", Target{Bucket: "bucket", Key: "/k"}},
		{"virtual host", "bucket.s3.example.com", "/", Target{Bucket: "bucket"}},
		{"virtual host ?cors", "bucket.s3.example.com", "/?cors", Target{Bucket: "bucket"}},
		{"virtual host with port", "bucket.s3.example.com:8443", "/key", Target{Bucket: "bucket", Key: "key"}},
		{"virtual host in upper case", "BUCKET.S3.Example.COM", "/Key", Target{Bucket: "bucket", Key: "Key"}},
		{"virtual host with a trailing dot", "bucket.s3.example.com.", "/k", Target{Bucket: "bucket", Key: "k"}},
		{"bucket with dots", "my.bucket.s3.example.com", "/k", Target{Bucket: "my.bucket", Key: "k"}},
		{"longest suffix wins", "b.s3.example.com", "/", Target{Bucket: "b"}},
		{"shorter suffix", "b.example.com", "/", Target{Bucket: "b"}},
		{"suffix written with dots", "b.s3.local", "/x", Target{Bucket: "b", Key: "x"}},
		{"the suffix itself is path-style", "example.com", "/b/k", Target{Bucket: "b", Key: "k"}},
		{"suffix without a label boundary", "bexample.com", "/b/k", Target{Bucket: "b", Key: "k"}},
		{"unknown host is path-style", "other.net", "/b/k", Target{Bucket: "b", Key: "k"}},
		{"IPv6 host", "[::1]:9000", "/b/k", Target{Bucket: "b", Key: "k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("OPTIONS", tt.target, nil)
			r.Host = tt.host
			if got := ResolveTarget(r, suffixes); got != tt.want {
				t.Errorf("ResolveTarget = %+v, want %+v", got, tt.want)
			}
		})
	}
	r := httptest.NewRequest("GET", "/b/k", nil)
	r.Host = "b.s3.example.com"
	if got := ResolveTarget(r, nil); got != (Target{Bucket: "b", Key: "k"}) {
		t.Errorf("without suffixes every request is path-style, got %+v", got)
	}
}

func TestValidBucketName(t *testing.T) {
	valid := []string{"abc", "my-bucket", "my.bucket.1", "0bucket9", strings.Repeat("a", 63), "a-b.c-d", "xn-bucket", "bucket--x-s3x"}
	invalid := []string{
		"", "ab", strings.Repeat("a", 64), "My-Bucket", "my_bucket", "-bucket", "bucket-", ".bucket", "bucket.",
		"my..bucket", "192.168.5.4", "xn--bucket", "sthree-bucket", "sthree-configurator", "amzn-s3-demo-bucket",
		"bucket-s3alias", "bucket--ol-s3", "bucket.mrap", "bucket--x-s3", "bucket--table-s3", "bück", "a b", "a/b",
	}
	for _, name := range valid {
		if !ValidBucketName(name) {
			t.Errorf("ValidBucketName(%q) = false, want true", name)
		}
	}
	for _, name := range invalid {
		if ValidBucketName(name) {
			t.Errorf("ValidBucketName(%q) = true, want false", name)
		}
	}
}
