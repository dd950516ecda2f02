package s3storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
	"github.com/s3cors/caddy-s3-cors/s3"
)

// allKinds are the stores every contract test runs against.
var allKinds = []string{minio, versitygw, gofakes3}

var bucketSeq atomic.Int64

// testBucket returns a bucket name no other test uses.
func testBucket(stem string) string {
	return fmt.Sprintf("s3storage-%s-%d", stem, bucketSeq.Add(1))
}

func newTestStorage(t *testing.T, endpoint, bucket, prefix string) *Storage {
	t.Helper()
	s, err := New(Config{
		Endpoint: endpoint, Bucket: bucket, Prefix: prefix,
		AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewChecksConfig(t *testing.T) {
	ok := Config{Endpoint: "http://127.0.0.1:9000", Bucket: "configs", AccessKeyID: "a", SecretAccessKey: "b"}
	for name, c := range map[string]struct {
		edit func(*Config)
		err  string
	}{
		"endpoint without scheme": {func(c *Config) { c.Endpoint = "127.0.0.1:9000" }, "must be an http:// or https:// URL"},
		"ftp endpoint":            {func(c *Config) { c.Endpoint = "ftp://host" }, "must be an http:// or https:// URL"},
		"no bucket":               {func(c *Config) { c.Bucket = "" }, "not a valid S3 bucket name"},
		"bucket in capitals":      {func(c *Config) { c.Bucket = "Configs" }, "not a valid S3 bucket name"},
		"no secret":               {func(c *Config) { c.SecretAccessKey = "" }, "needs credentials"},
		"no access key":           {func(c *Config) { c.AccessKeyID = "" }, "needs credentials"},
	} {
		c2 := ok
		c.edit(&c2)
		if _, err := New(c2, nil); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error = %v, want one containing %q", name, err, c.err)
		}
	}
	s, err := New(Config{Endpoint: "https://s3.example.com/", Bucket: "configs", AccessKeyID: "AKID", SecretAccessKey: "secret", Prefix: "/caddy/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "https://s3.example.com/configs/caddy (access key AKID)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if strings.Contains(s.String(), "secret") {
		t.Error("String() shows the secret")
	}
	if got := s.objectKey("s3_cors/marker.json"); got != "caddy/s3_cors/marker.json" {
		t.Errorf("objectKey = %q", got)
	}
}

// TestCertmagicContract runs certmagic.Storage's contract against every
// store: values, missing keys, directories, listing, deletion, prefixes
// and the bucket created at first use.
func TestCertmagicContract(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			srv := sharedServer(t, kind)
			bucket := testBucket("contract")
			raw := rawClient(srv.endpoint)
			ctx := t.Context()

			s := newTestStorage(t, srv.endpoint, bucket, "pfx")
			if _, err := raw.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(bucket)}); s3.StatusOf(err) != 404 {
				t.Fatalf("before first use, HeadBucket = %v; New must do no I/O and the bucket must not exist yet", err)
			}

			t.Run("missing key", func(t *testing.T) {
				if _, err := s.Load(ctx, "no/such/key"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Load: %v, want fs.ErrNotExist", err)
				}
				if _, err := s.Stat(ctx, "no/such/key"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Stat: %v, want fs.ErrNotExist", err)
				}
				if s.Exists(ctx, "no/such/key") {
					t.Error("Exists reports a missing key")
				}
				if _, err := s.List(ctx, "no/such", false); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("List: %v, want fs.ErrNotExist", err)
				}
				if err := s.Delete(ctx, "no/such/key"); err != nil {
					t.Errorf("Delete of a missing key: %v", err)
				}
			})
			if _, err := raw.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatalf("after first use the bucket should exist: %v", err)
			}

			t.Run("values", func(t *testing.T) {
				for _, v := range [][]byte{[]byte("one"), []byte("two, longer"), {}} {
					if err := s.Store(ctx, "a/value", v); err != nil {
						t.Fatal(err)
					}
					got, err := s.Load(ctx, "a/value")
					if err != nil || !bytes.Equal(got, v) {
						t.Errorf("Load after Store(%q) = %q, %v", v, got, err)
					}
				}
				if err := s.Store(ctx, "a/value", []byte("12345")); err != nil {
					t.Fatal(err)
				}
				info, err := s.Stat(ctx, "a/value")
				if err != nil {
					t.Fatal(err)
				}
				if info.Key != "a/value" || !info.IsTerminal || info.Size != 5 || info.Modified.IsZero() {
					t.Errorf("Stat = %+v, want the key, terminal, size 5, a modification time", info)
				}
				// The object is where the prefix says.
				if _, err := raw.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("pfx/a/value")}); err != nil {
					t.Errorf("object pfx/a/value: %v", err)
				}
			})

			t.Run("directories and listing", func(t *testing.T) {
				for _, k := range []string{"d/x.json", "d/y.json", "d/sub/z.json", "d/sub/deeper/w.json", "dd/other.json"} {
					if err := s.Store(ctx, k, []byte(k)); err != nil {
						t.Fatal(err)
					}
				}
				info, err := s.Stat(ctx, "d/sub")
				if err != nil || info.IsTerminal || info.Key != "d/sub" {
					t.Errorf("Stat of a directory = %+v, %v; want a non-terminal key", info, err)
				}
				if !s.Exists(ctx, "d/sub") || !s.Exists(ctx, "d/x.json") {
					t.Error("Exists misses a directory or a value")
				}
				got, err := s.List(ctx, "d", false)
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"d/sub", "d/x.json", "d/y.json"}; !sameSet(got, want) {
					t.Errorf("List(d, false) = %q, want %q", got, want)
				}
				got, err = s.List(ctx, "d", true)
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"d/sub/deeper/w.json", "d/sub/z.json", "d/x.json", "d/y.json"}; !sameSet(got, want) {
					t.Errorf("List(d, true) = %q, want %q", got, want)
				}
				if err := s.Delete(ctx, "d/sub"); err != nil {
					t.Fatal(err)
				}
				got, err = s.List(ctx, "d", true)
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"d/x.json", "d/y.json"}; !sameSet(got, want) {
					t.Errorf("after deleting d/sub, List(d, true) = %q, want %q", got, want)
				}
				if err := s.Delete(ctx, "d/x.json"); err != nil {
					t.Fatal(err)
				}
				if s.Exists(ctx, "d/x.json") {
					t.Error("d/x.json exists after Delete")
				}
				if !s.Exists(ctx, "dd/other.json") {
					t.Error("deleting d/sub took dd/ with it: prefixes are per path component")
				}
			})

			t.Run("prefixes keep storages apart", func(t *testing.T) {
				other := newTestStorage(t, srv.endpoint, bucket, "other")
				if err := other.Store(ctx, "a/value", []byte("other's")); err != nil {
					t.Fatal(err)
				}
				got, err := s.Load(ctx, "a/value")
				if err != nil || string(got) != "12345" {
					t.Errorf("a/value through prefix pfx = %q, %v; another prefix's write showed through", got, err)
				}
				keys, err := other.List(ctx, "", true)
				if err != nil || !sameSet(keys, []string{"a/value"}) {
					t.Errorf("List of prefix other = %q, %v; want only its own key", keys, err)
				}
			})
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestErrorsSayWhatToCheck points a storage at a closed port and at a store
// with wrong credentials.
func TestErrorsSayWhatToCheck(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	closed := newTestStorage(t, fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort()), "nowhere", "")
	err := closed.Store(ctx, "k", []byte("v"))
	if err == nil || !strings.Contains(err.Error(), "check that the endpoint is right and the store is up") || !strings.Contains(err.Error(), "bucket nowhere") {
		t.Errorf("closed port: %v; want the bucket named and the endpoint to check", err)
	}

	srv := sharedServer(t, minio)
	wrong, err := New(Config{Endpoint: srv.endpoint, Bucket: testBucket("creds"), AccessKeyID: testAccessKey, SecretAccessKey: "not-the-secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.Store(ctx, "k", []byte("v"))
	if err == nil || !strings.Contains(err.Error(), "check the credentials") {
		t.Errorf("wrong secret: %v; want the credentials to check", err)
	}
	if strings.Contains(fmt.Sprint(err), "not-the-secret") {
		t.Error("the error shows the secret")
	}

	// A bucket deleted behind the storage's back is reported, not
	// recreated: the configurations were in it.
	gone := newTestStorage(t, srv.endpoint, testBucket("gone"), "")
	if err := gone.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rawClient(srv.endpoint).DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(gone.cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := gone.Load(ctx, "k"); err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "the bucket is gone") {
		t.Errorf("Load from a deleted bucket: %v; want an error saying the bucket is gone, not a missing key", err)
	}
	if err := gone.Store(ctx, "k", []byte("v")); err == nil {
		t.Error("Store into a deleted bucket succeeded: it must not recreate it")
	}
}
