package s3storage

import (
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/s3cors/caddy-s3-cors/store"
)

// enforces is what each store was found to do with If-Match and
// If-None-Match on PutObject (at the versions scripts/upstream.sh pins):
// all three refuse a create-only write over an existing object and a write
// against a stale ETag with 412. gofakes3 checks conditions under the
// backend's lock since v1.2.0.
var enforces = map[string]bool{minio: true, versitygw: true, gofakes3: true}

func TestConditionalWrites(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			srv := sharedServer(t, kind)
			s := newTestStorage(t, srv.endpoint, testBucket("cond"), "")
			ctx := t.Context()
			if err := s.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			if got := s.Conditional(); got != enforces[kind] {
				t.Fatalf("Conditional() = %v, want %v for %s", got, enforces[kind], kind)
			}

			v1, err := s.StoreIf(ctx, "k", []byte("first"), "")
			if err != nil || v1 == "" {
				t.Fatalf("create-only StoreIf of a new key = %q, %v", v1, err)
			}
			if _, err := s.StoreIf(ctx, "k", []byte("second"), ""); !errors.Is(err, store.ErrConditionFailed) {
				t.Errorf("create-only StoreIf of an existing key: %v, want ErrConditionFailed", err)
			}
			value, version, err := s.LoadVersion(ctx, "k")
			if err != nil || string(value) != "first" || version != v1 {
				t.Fatalf("LoadVersion = %q, %q, %v; want the first value at version %q", value, version, err, v1)
			}
			v2, err := s.StoreIf(ctx, "k", []byte("replaced"), v1)
			if err != nil || v2 == "" || v2 == v1 {
				t.Fatalf("StoreIf at the current version = %q, %v; want a new version", v2, err)
			}
			if _, err := s.StoreIf(ctx, "k", []byte("stale"), v1); !errors.Is(err, store.ErrConditionFailed) {
				t.Errorf("StoreIf at a stale version: %v, want ErrConditionFailed", err)
			}
			if value, _ := s.Load(ctx, "k"); string(value) != "replaced" {
				t.Errorf("after refused writes the value is %q, want %q", value, "replaced")
			}
			if _, err := s.StoreIf(ctx, "absent", []byte("x"), v2); !errors.Is(err, store.ErrConditionFailed) {
				t.Errorf("StoreIf with a version on a missing key: %v, want ErrConditionFailed", err)
			}
			if _, _, err := s.LoadVersion(ctx, "absent"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a refused write created the key: LoadVersion = %v", err)
			}
		})
	}
}

// TestConditionalRace has writers on separate storages (separate clients,
// as separate instances would be) race to replace one version: exactly one
// of each round wins.
func TestConditionalRace(t *testing.T) {
	const writers, rounds = 4, 10
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			srv := sharedServer(t, kind)
			bucket := testBucket("race")
			ctx := t.Context()
			storages := make([]*Storage, writers)
			for i := range storages {
				storages[i] = newTestStorage(t, srv.endpoint, bucket, "")
			}
			version, err := storages[0].StoreIf(ctx, "counter", []byte("0"), "")
			if err != nil {
				t.Fatal(err)
			}
			for round := range rounds {
				wins := make([]string, writers)
				var wg sync.WaitGroup
				for i, s := range storages {
					wg.Go(func() {
						v, err := s.StoreIf(ctx, "counter", []byte(strconv.Itoa(round)+"/"+strconv.Itoa(i)), version)
						switch {
						case err == nil:
							wins[i] = v
						case !errors.Is(err, store.ErrConditionFailed):
							t.Errorf("round %d writer %d: %v", round, i, err)
						}
					})
				}
				wg.Wait()
				winner := -1
				for i, v := range wins {
					if v == "" {
						continue
					}
					if winner >= 0 {
						t.Fatalf("round %d: writers %d and %d both replaced version %s", round, winner, i, version)
					}
					winner = i
				}
				if winner < 0 {
					t.Fatalf("round %d: no writer won", round)
				}
				value, current, err := storages[0].LoadVersion(ctx, "counter")
				if err != nil || current != wins[winner] || string(value) != strconv.Itoa(round)+"/"+strconv.Itoa(winner) {
					t.Fatalf("round %d: stored %q at %q (%v), want the winner's %d at %q", round, value, current, err, winner, wins[winner])
				}
				version = current
			}
		})
	}
}

// TestProbeFindsIgnoredConditions puts MinIO behind a proxy that drops
// If-Match and If-None-Match (and signs the request again), as a store
// that knows no conditional writes would. The probe must find out, and
// StoreIf still refuses stale versions from a single writer.
func TestProbeFindsIgnoredConditions(t *testing.T) {
	srv := sharedServer(t, minio)
	s := newTestStorage(t, conditionStripper(t, srv.endpoint), testBucket("ignored"), "")
	ctx := t.Context()
	if s.Conditional() {
		t.Fatal("Conditional() = true for a store that ignores conditions")
	}
	v1, err := s.StoreIf(ctx, "k", []byte("first"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StoreIf(ctx, "k", []byte("second"), ""); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("create-only StoreIf of an existing key: %v, want ErrConditionFailed", err)
	}
	if _, err := s.StoreIf(ctx, "k", []byte("third"), `"0123456789abcdef0123456789abcdef"`); !errors.Is(err, store.ErrConditionFailed) {
		t.Errorf("StoreIf at a wrong version: %v, want ErrConditionFailed", err)
	}
	if _, err := s.StoreIf(ctx, "k", []byte("fourth"), v1); err != nil {
		t.Errorf("StoreIf at the current version: %v", err)
	}
	if value, _ := s.Load(ctx, "k"); string(value) != "fourth" {
		t.Errorf("value = %q, want %q", value, "fourth")
	}
	keys, err := s.List(ctx, "", true)
	if err != nil || !sameSet(keys, []string{"k"}) {
		t.Errorf("keys left in the bucket: %q, %v; the probe must remove its object", keys, err)
	}
}

// conditionStripper starts a proxy to endpoint that removes the
// conditional headers from every request and signs it again, so the store
// behind it never sees a condition. It returns the proxy's endpoint.
func conditionStripper(t *testing.T, endpoint string) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
	signer := v4.NewSigner()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			out := r.Out
			out.Header.Del("If-Match")
			out.Header.Del("If-None-Match")
			out.Header.Del("Authorization")
			out.Header.Del("X-Amz-Date")
			out.Header.Del("X-Forwarded-For")
			out.Host = target.Host
			if err := signer.SignHTTP(out.Context(), creds, out, out.Header.Get("X-Amz-Content-Sha256"), "s3", "us-east-1", time.Now()); err != nil {
				t.Errorf("signing again: %v", err)
			}
		},
		Transport: &http.Transport{Proxy: nil},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}
