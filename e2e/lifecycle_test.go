package e2e

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestProxyLifecycle checks that configurations are durable and that
// preflights never depend on the store: they survive a restart of the proxy
// and a `caddy reload`, and are still answered while the store is down.
func TestProxyLifecycle(t *testing.T) {
	for _, kind := range proxiedStores {
		t.Run(kind, func(t *testing.T) {
			s := newStack(t, kind)
			bucket := bucketName(t, "life")
			s.s3.createBucket(t, bucket)
			content := []byte("still here")
			s.s3.putObject(t, bucket, "obj.txt", content)
			s.s3.putCORS(t, bucket, appRules)
			keyURL := s.proxy.URL + "/" + bucket + "/obj.txt"

			inForce := func(t *testing.T) {
				t.Helper()
				r := send(t, corsRequest(t, http.MethodOptions, keyURL, appOrigin, "PUT", "Content-Type"))
				assertPreflight(t, r, uploadsMatch(appOrigin, "content-type"), nil)
				r = send(t, corsRequest(t, http.MethodOptions, keyURL, evilOrigin, "GET", ""))
				assertPreflight(t, r, nil, forbidden(msgNotAllowed, "GET", "OBJECT"))
			}

			t.Run("restart", func(t *testing.T) {
				s.proxy.restart(t)
				s.s3.assertCORS(t, bucket, appRules)
				inForce(t)
				if got := s.s3.getObject(t, bucket, "obj.txt"); !bytes.Equal(got, content) {
					t.Errorf("GetObject after the restart: %q", got)
				}
			})

			t.Run("reload", func(t *testing.T) {
				cfg := s.proxy.cfg
				cfg.Comment = "reloaded " + strconv.FormatInt(time.Now().UnixNano(), 10)
				s.proxy.reload(t, cfg)
				s.s3.assertCORS(t, bucket, appRules)
				inForce(t)
				// The reloaded configuration takes changes as before.
				other := bucketName(t, "life-after-reload")
				s.s3.createBucket(t, other)
				s.s3.putCORS(t, other, publicRules)
				r := send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+other+"/x", evilOrigin, "GET", ""))
				assertPreflight(t, r, publicMatch(), nil)
			})

			t.Run("store down", func(t *testing.T) {
				s.store.stop()
				// Past the module's bucket-existence cache (cache_ttl 1s), so
				// the answer cannot come from a fresh store lookup.
				time.Sleep(1500 * time.Millisecond)
				inForce(t)
			})
		})
	}
}

// TestCanary puts the proxy in front of gofakes3, which treats a forwarded
// DELETE ?cors as DeleteBucket and a forwarded PUT ?cors as CreateBucket: if
// any form of the sub-resource slipped through, the bucket would vanish.
func TestCanary(t *testing.T) {
	s := newStack(t, gofakes3)
	bucket := bucketName(t, "canary")
	s.s3.createBucket(t, bucket) // empty: a forwarded DELETE ?cors would delete it

	stillThere := func(t *testing.T, after string) {
		t.Helper()
		if _, err := s.direct.HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("the bucket is gone at the store after %s: %v", after, err)
		}
	}

	s.s3.putCORS(t, bucket, appRules)
	s.s3.assertCORS(t, bucket, appRules)
	stillThere(t, "PutBucketCors")
	s.s3.deleteCORS(t, bucket)
	stillThere(t, "DeleteBucketCors")
	s.s3.assertCORS(t, bucket, nil)

	vhost := bucket + "." + vhostSuffix + ":" + strconv.Itoa(s.proxy.cfg.Port)
	for _, form := range []struct{ url, host string }{
		{s.proxy.URL + "/" + bucket + "?cors", ""},
		{s.proxy.URL + "/" + bucket + "?cors=", ""},
		{s.proxy.URL + "/" + bucket + "/?cors", ""},
		{s.proxy.URL + "/" + bucket + "/?cors=", ""},
		{s.proxy.URL + "/" + bucket + "?cors&x-id=DeleteBucketCors", ""},
		{s.proxy.URL + "/?cors", vhost},
	} {
		r := rawRequest{method: http.MethodDelete, url: form.url, host: form.host, creds: &rootCreds}.send(t)
		if r.status != http.StatusNoContent {
			t.Errorf("DELETE %s (Host %q): want 204, got:\n%s", form.url, form.host, r)
		}
		stillThere(t, "DELETE "+form.url)
	}

	// gofakes3 allows every origin on preflights; the proxy answers instead.
	r := send(t, corsRequest(t, http.MethodOptions, s.proxy.URL+"/"+bucket+"/x", evilOrigin, "GET", ""))
	assertPreflight(t, r, nil, forbidden(msgNotEnabled, "GET", "BUCKET"))
	// gofakes3 sends Access-Control-Allow-Origin: * on everything.
	s.s3.putObject(t, bucket, "obj.txt", []byte("x"))
	r = sendActual(t, http.MethodGet, s.s3.presignGet(t, bucket, "obj.txt"), evilOrigin, "", "", nil)
	if r.status != http.StatusOK {
		t.Errorf("GET through the proxy: want 200, got:\n%s", r)
	}
	assertExactCORS(t, r.header, nil)
	s.tap.assertNothingCORSForwarded(t)
}

// TestAPIAccessControl checks the two configurations without keys: with
// neither credentials nor the opt-in every ?cors call is refused; with
// insecure_unauthenticated_api unsigned calls are accepted.
func TestAPIAccessControl(t *testing.T) {
	needCaddy(t)
	st := startStore(t, versitygw)
	tp := startTap(t, st.URL)
	direct := newS3Client(st.URL, rootCreds)
	bucket := bucketName(t, "nokeys")
	direct.createBucket(t, bucket)

	t.Run("no credentials", func(t *testing.T) {
		px := startProxy(t, proxyConfig{Upstream: tp.Host, Handler: "\t\towner_id " + ownerID})
		url := px.URL + "/" + bucket + "?cors"
		for _, req := range []rawRequest{
			{method: http.MethodPut, url: url, body: corsXML(publicRules), creds: &rootCreds},
			{method: http.MethodGet, url: url, creds: &rootCreds},
			{method: http.MethodDelete, url: url, creds: &rootCreds},
			{method: http.MethodPut, url: url, body: corsXML(publicRules)},
		} {
			r := req.send(t)
			assertS3Error(t, r, wantError{status: http.StatusForbidden, code: "AccessDenied"})
		}
		// Preflights are still answered, from an empty configuration set.
		r := send(t, corsRequest(t, http.MethodOptions, px.URL+"/"+bucket+"/x", appOrigin, "GET", ""))
		if r.status != http.StatusForbidden || len(corsHeaders(r.header)) != 0 {
			t.Errorf("preflight without any configuration: want 403 and no CORS headers, got:\n%s", r)
		}
	})

	t.Run("insecure unauthenticated api", func(t *testing.T) {
		px := startProxy(t, proxyConfig{Upstream: tp.Host, Handler: "\t\tinsecure_unauthenticated_api"})
		url := px.URL + "/" + bucket + "?cors"
		r := rawRequest{method: http.MethodPut, url: url, body: corsXML(publicRules)}.send(t)
		if r.status != http.StatusOK {
			t.Fatalf("unsigned PUT ?cors with insecure_unauthenticated_api: want 200, got:\n%s", r)
		}
		r = rawRequest{method: http.MethodGet, url: url}.send(t)
		if got, err := parseCORSXML(r.body); r.status != http.StatusOK || err != nil || !equalRules(got, publicRules) {
			t.Errorf("unsigned GET ?cors: want 200 and %+v, got:\n%s", publicRules, r)
		}
		r = send(t, corsRequest(t, http.MethodOptions, px.URL+"/"+bucket+"/x", evilOrigin, "GET", ""))
		assertPreflight(t, r, publicMatch(), nil)
		r = rawRequest{method: http.MethodDelete, url: url}.send(t)
		if r.status != http.StatusNoContent {
			t.Errorf("unsigned DELETE ?cors: want 204, got:\n%s", r)
		}
	})
	tp.assertNothingCORSForwarded(t)
}

// TestSharedStorage runs two proxies on one storage, as a cluster would: a
// change made through one is applied by the other after its next sync.
func TestSharedStorage(t *testing.T) {
	needCaddy(t)
	st := startStore(t, versitygw)
	tp := startTap(t, st.URL)
	shared := t.TempDir()
	a := startProxy(t, proxyConfig{Upstream: tp.Host, Store: st.URL, DataDir: shared, Comment: "a"})
	b := startProxy(t, proxyConfig{Upstream: tp.Host, Store: st.URL, DataDir: shared, Comment: "b"})
	viaA := newS3Client(a.URL, rootCreds)
	viaB := newS3Client(b.URL, rootCreds)
	bucket := bucketName(t, "shared")
	viaA.createBucket(t, bucket)
	keyURL := b.URL + "/" + bucket + "/k"

	viaA.putCORS(t, bucket, appRules)
	eventually(t, "B serves the configuration A stored", func() bool {
		return send(t, corsRequest(t, http.MethodOptions, keyURL, appOrigin, "GET", "")).status == http.StatusOK
	})
	viaB.assertCORS(t, bucket, appRules)
	assertPreflight(t, send(t, corsRequest(t, http.MethodOptions, keyURL, appOrigin, "PUT", "content-type")),
		uploadsMatch(appOrigin, "content-type"), nil)

	viaA.deleteCORS(t, bucket)
	eventually(t, "B drops the configuration A deleted", func() bool {
		return send(t, corsRequest(t, http.MethodOptions, keyURL, appOrigin, "GET", "")).status == http.StatusForbidden
	})
	viaB.assertCORS(t, bucket, nil)
	assertPreflight(t, send(t, corsRequest(t, http.MethodOptions, keyURL, appOrigin, "GET", "")),
		nil, forbidden(msgNotEnabled, "GET", "BUCKET"))
}

// eventually polls cond until it holds, failing the test if it still does
// not after many sync intervals (sync_interval is 1s in the tests).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 30 s (sync_interval is 1s)", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
