package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// configBucket is where the cluster keeps its configurations, in the store
// it fronts.
const configBucket = "s3cors-cluster-configs"

// maxPropagation is the bound issue 11 sets for a change to reach every
// instance with sync_interval 1s: the interval plus one request.
const maxPropagation = 2 * time.Second

// cluster is several proxies in front of one MinIO, sharing their
// configurations through bucket_storage in that MinIO.
type cluster struct {
	store   *store
	direct  *s3Client
	proxies []*proxy
	clients []*s3Client // one per proxy, root credentials
}

func bucketStorageOption(endpoint string) string {
	return fmt.Sprintf(`		bucket_storage %s %s {
			credentials {env.S3CORS_E2E_ACCESS_KEY} {env.S3CORS_E2E_SECRET_KEY}
			prefix cluster
		}`, endpoint, configBucket)
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	needCaddy(t)
	st := startStore(t, minio)
	c := &cluster{store: st, direct: newS3Client(st.URL, rootCreds)}
	c.waitStore(t)
	for i := range n {
		px := startProxy(t, proxyConfig{
			Upstream:   st.Host,
			Store:      st.URL,
			Comment:    "cluster instance " + strconv.Itoa(i),
			AppOptions: bucketStorageOption(st.URL),
		})
		c.proxies = append(c.proxies, px)
		c.clients = append(c.clients, newS3Client(px.URL, rootCreds))
	}
	return c
}

// waitStore waits until the store serves bucket operations: MinIO answers
// its health route before it does (XMinioServerNotInitialized).
func (c *cluster) waitStore(t *testing.T) {
	t.Helper()
	waitReady(t, c.store.proc, func() bool {
		_, err := c.direct.ListBuckets(t.Context(), &s3.ListBucketsInput{})
		return err == nil
	})
}

// restartStore starts the store again on the same port and data.
func (c *cluster) restartStore(t *testing.T) {
	t.Helper()
	old := c.store.proc
	old.stop()
	c.store.proc = startProcess(t, t, c.store.kind, old.cmd.Env, old.cmd.Args...)
	c.waitStore(t)
}

func originRules(origin string) []corsRule {
	return []corsRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{origin}}}
}

// allows reports whether px answers a GET preflight from origin for
// bucket with 200. A failed request counts as no.
func allows(px *proxy, bucket, origin string) bool {
	req, err := http.NewRequest(http.MethodOptions, px.URL+"/"+bucket+"/object", nil)
	if err != nil {
		return false
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestCluster runs three instances of the project's Caddy in front of one
// MinIO with the same bucket_storage and sync_interval 1s (issue 11, "A
// cluster on the store itself").
func TestCluster(t *testing.T) {
	t.Run("validate does no I/O", func(t *testing.T) {
		needCaddy(t)
		// The endpoint is a listener that counts connections: validate
		// must make none.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var connections atomic.Int32
		go func() {
			for {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				connections.Add(1)
				conn.Close()
			}
		}()
		dir := t.TempDir()
		path := filepath.Join(dir, "Caddyfile")
		caddyfile := fmt.Sprintf("{\n\tadmin off\n\ts3_cors {\n%s\n\t}\n}\n\nhttp://127.0.0.1:%d {\n\ts3_cors\n\treverse_proxy 127.0.0.1:1\n}\n",
			bucketStorageOption("http://"+l.Addr().String()), testenv.FreePort())
		if err := os.WriteFile(path, []byte(caddyfile), 0o600); err != nil {
			t.Fatal(err)
		}
		caddyCommand(t, cleanEnv([]string{"XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir,
			"S3CORS_E2E_ACCESS_KEY=" + rootAccessKey, "S3CORS_E2E_SECRET_KEY=" + rootSecretKey}),
			"validate", "--config", path, "--adapter", "caddyfile")
		if n := connections.Load(); n != 0 {
			t.Errorf("caddy validate connected to the bucket_storage endpoint %d times", n)
		}
	})

	c := newCluster(t, 3)
	t.Run("propagation", c.testPropagation)
	t.Run("concurrent writers", c.testConcurrentWriters)
	t.Run("instance killed mid-write", c.testKilledInstance)
	t.Run("store down", c.testStoreDown)
}

// testPropagation measures how long a PUT acknowledged by one instance
// takes to be served by the others, over many PUTs. A random pause before
// each PUT keeps the PUTs out of step with the instances' poll timers, so
// the figures cover every phase of the interval.
func (c *cluster) testPropagation(t *testing.T) {
	const puts = 30
	bucket := bucketName(t, "propagation")
	c.direct.createBucket(t, bucket)
	var toAll, toEach []time.Duration
	for i := range puts {
		time.Sleep(rand.N(time.Second))
		writer := i % len(c.proxies)
		origin := fmt.Sprintf("https://v%d.example", i)
		c.clients[writer].putCORS(t, bucket, originRules(origin))
		acked := time.Now()
		if !allows(c.proxies[writer], bucket, origin) {
			t.Fatalf("PUT %d: instance %d does not serve its own write at once", i, writer)
		}
		seen := make([]time.Duration, len(c.proxies))
		var wg sync.WaitGroup
		for j, px := range c.proxies {
			if j == writer {
				continue
			}
			wg.Go(func() {
				for !allows(px, bucket, origin) {
					if time.Since(acked) > 10*time.Second {
						seen[j] = -1
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				seen[j] = time.Since(acked)
			})
		}
		wg.Wait()
		slowest := time.Duration(0)
		for j, d := range seen {
			if j == writer {
				continue
			}
			if d < 0 {
				t.Fatalf("PUT %d through instance %d: instance %d does not serve it after 10 s", i, writer, j)
			}
			toEach = append(toEach, d)
			slowest = max(slowest, d)
		}
		toAll = append(toAll, slowest)
	}
	t.Logf("PUT acknowledged -> served by every other instance, %d PUTs (sync_interval 1s, 3 instances): %s", puts, distribution(toAll))
	t.Logf("PUT acknowledged -> served by one other instance, %d samples: %s", len(toEach), distribution(toEach))
	if worst := slices.Max(toAll); worst > maxPropagation {
		t.Errorf("a PUT took %v to reach every instance, more than %v", worst, maxPropagation)
	}
}

// distribution describes durations by min, median, p90 and max.
func distribution(ds []time.Duration) string {
	ds = slices.Sorted(slices.Values(ds))
	at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))].Round(time.Millisecond) }
	return fmt.Sprintf("min %v, median %v, p90 %v, max %v", at(0), at(0.5), at(0.9), at(1))
}

// testConcurrentWriters sends PUTs for one bucket through every instance at
// once: every instance ends up serving the same document, one of those
// sent.
func (c *cluster) testConcurrentWriters(t *testing.T) {
	const perInstance = 3
	bucket := bucketName(t, "cluster-race")
	c.direct.createBucket(t, bucket)
	var docs [][]corsRule
	var reqs []*http.Request
	for i, px := range c.proxies {
		for j := range perInstance {
			rules := originRules(fmt.Sprintf("https://w%d-%d.example", i, j))
			docs = append(docs, rules)
			reqs = append(reqs, rawRequest{method: http.MethodPut, url: px.URL + "/" + bucket + "?cors", body: corsXML(rules), creds: &rootCreds}.build(t))
		}
	}
	statuses := make([]int, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			resp, err := httpClient.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("concurrent PUT %d: status %d, want 200", i, s)
		}
	}
	var winner []corsRule
	eventually(t, "every instance serves the same document", func() bool {
		first := c.clients[0].getCORS(t, bucket)
		for _, cl := range c.clients[1:] {
			if !equalRules(cl.getCORS(t, bucket), first) {
				return false
			}
		}
		winner = first
		return true
	})
	if !slices.ContainsFunc(docs, func(d []corsRule) bool { return equalRules(d, winner) }) {
		t.Fatalf("the instances agree on %+v, which no writer sent", winner)
	}
	for i, px := range c.proxies {
		if !allows(px, bucket, winner[0].AllowedOrigins[0]) {
			t.Errorf("instance %d does not answer preflights by the winning document", i)
		}
	}
}

// testKilledInstance kills an instance (SIGKILL) while PUTs are going
// through it: every PUT it acknowledged is served by the others, and by
// itself once restarted.
func (c *cluster) testKilledInstance(t *testing.T) {
	const writes, writers, killAfter = 40, 4, 12
	victim := c.proxies[len(c.proxies)-1]
	buckets := make([]string, writes)
	reqs := make([]*http.Request, writes)
	for i := range buckets {
		buckets[i] = bucketName(t, "killed")
		c.direct.createBucket(t, buckets[i])
		reqs[i] = rawRequest{method: http.MethodPut, url: victim.URL + "/" + buckets[i] + "?cors",
			body: corsXML(originRules("https://" + buckets[i] + ".example")), creds: &rootCreds}.build(t)
	}
	killed := make(chan struct{})
	acked := burst(httpClient, reqs, writers, killAfter, func() {
		_ = victim.proc.cmd.Process.Kill()
		close(killed)
	})
	select {
	case <-killed:
	default:
		t.Fatalf("only %d PUTs were acknowledged; the instance was never killed", len(acked))
	}
	<-victim.proc.done
	t.Logf("%d of %d PUTs acknowledged before and while the instance was killed", len(acked), writes)
	if len(acked) == writes {
		t.Log("every PUT was acknowledged before the kill took effect; nothing was cut short")
	}

	check := func(t *testing.T, who string, px *proxy) {
		t.Helper()
		for _, i := range acked {
			origin := "https://" + buckets[i] + ".example"
			eventually(t, who+" serves acknowledged PUT "+strconv.Itoa(i), func() bool { return allows(px, buckets[i], origin) })
		}
	}
	for j, px := range c.proxies[:len(c.proxies)-1] {
		check(t, "instance "+strconv.Itoa(j), px)
	}
	victim.start(t)
	check(t, "the restarted instance", victim)
}

// testStoreDown stops the store: every instance keeps serving what it had;
// once the store is back, a change reaches all of them again.
func (c *cluster) testStoreDown(t *testing.T) {
	bucket := bucketName(t, "store-down")
	c.direct.createBucket(t, bucket)
	c.clients[0].putCORS(t, bucket, originRules("https://before.example"))
	for j, px := range c.proxies {
		eventually(t, "instance "+strconv.Itoa(j)+" serves the configuration", func() bool { return allows(px, bucket, "https://before.example") })
	}

	c.store.proc.stop()
	// Past a few failed polls and the bucket-existence cache (cache_ttl 1s).
	time.Sleep(2500 * time.Millisecond)
	for j, px := range c.proxies {
		if !allows(px, bucket, "https://before.example") {
			t.Errorf("instance %d stopped serving its last good configuration while the store is down", j)
		}
	}
	r := rawRequest{method: http.MethodPut, url: c.proxies[1].URL + "/" + bucket + "?cors",
		body: corsXML(originRules("https://during.example")), creds: &rootCreds}.send(t)
	// Not acknowledged: the store that says whether the bucket exists is
	// down, so the call gets S3's retryable 503 (issue 8) and changes
	// nothing.
	assertS3Error(t, r, wantError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable"})

	c.restartStore(t)
	eventually(t, "a PUT is taken once the store is back", func() bool {
		r := rawRequest{method: http.MethodPut, url: c.proxies[1].URL + "/" + bucket + "?cors",
			body: corsXML(originRules("https://after.example")), creds: &rootCreds}.send(t)
		return r.status == http.StatusOK
	})
	for j, px := range c.proxies {
		eventually(t, "instance "+strconv.Itoa(j)+" serves the change made after the store came back", func() bool {
			return allows(px, bucket, "https://after.example")
		})
		if allows(px, bucket, "https://during.example") {
			t.Errorf("instance %d serves the PUT that failed while the store was down", j)
		}
	}
}
