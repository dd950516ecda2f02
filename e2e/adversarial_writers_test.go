package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// racingWriters is how many clients race to configure one bucket.
const racingWriters = 16

// writerOrigin is the one origin writer i's document allows.
func writerOrigin(i int) string { return "https://w" + strconv.Itoa(i) + ".example" }

// racingDocuments are the writers' documents: each allows its own origin,
// and they differ in size (up to about 20 KB), so that a torn or mixed
// write cannot pass for one of them.
func racingDocuments() [][]corsRule {
	docs := make([][]corsRule, racingWriters)
	for i := range docs {
		var headers []string
		for j := range i * 40 {
			headers = append(headers, fmt.Sprintf("x-w%d-h%d", i, j))
		}
		docs[i] = []corsRule{
			{ID: "writer " + strconv.Itoa(i), AllowedHeaders: headers, AllowedMethods: []string{"GET", "PUT"}, AllowedOrigins: []string{writerOrigin(i)}},
			{ID: "writer " + strconv.Itoa(i) + " reads", AllowedMethods: []string{"HEAD"}, AllowedOrigins: []string{writerOrigin(i)}, MaxAgeSeconds: maxAge(int32(i))},
		}
	}
	return docs
}

// statusOf sends req with c and returns the status, the body read and
// dropped: for requests whose answer is the status alone.
func statusOf(c *http.Client, req *http.Request) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// burst sends reqs through c from writers clients at once, each taking the
// next request when its last one is answered, and returns the indexes of
// the requests answered 200, in the order they were. Once enough are,
// onEnough runs, once: a test kills a process then, mid-burst. A request
// cut short or refused is not acknowledged.
func burst(c *http.Client, reqs []*http.Request, writers, enough int, onEnough func()) []int {
	var (
		mu    sync.Mutex
		acked []int
		once  sync.Once
	)
	next := make(chan int, len(reqs))
	for i := range reqs {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range next {
				if status, err := statusOf(c, reqs[i]); err != nil || status != http.StatusOK {
					continue
				}
				mu.Lock()
				acked = append(acked, i)
				n := len(acked)
				mu.Unlock()
				if n >= enough {
					once.Do(onEnough)
				}
			}
		})
	}
	wg.Wait()
	return acked
}

// race sends writer i's document through proxies[i % len(proxies)], all at
// once, and fails unless every PUT is acknowledged.
func race(t *testing.T, proxies []*proxy, bucket string, docs [][]corsRule) {
	t.Helper()
	reqs := make([]*http.Request, len(docs))
	for i, d := range docs {
		reqs[i] = rawRequest{method: http.MethodPut, url: proxies[i%len(proxies)].URL + "/" + bucket + "?cors", body: corsXML(d), creds: &rootCreds}.build(t)
	}
	statuses := make([]int, len(docs))
	errs := make([]error, len(docs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			<-start
			statuses[i], errs[i] = statusOf(httpClient, reqs[i])
		})
	}
	close(start)
	wg.Wait()
	for i := range reqs {
		if errs[i] != nil || statuses[i] != http.StatusOK {
			t.Errorf("writer %d: status %d, error %v; want 200", i, statuses[i], errs[i])
		}
	}
}

// settled waits until every proxy serves the same document, returns which
// of docs it is, and checks that the document is whole, is what the
// storage holds, and is what preflights follow: the winner's origin is
// allowed everywhere, every other writer's origin nowhere.
func settled(t *testing.T, proxies []*proxy, bucket string, docs [][]corsRule) int {
	t.Helper()
	var served []byte
	eventually(t, "every proxy serves the same document", func() bool {
		first := storedCORS(t, proxies[0].URL, bucket)
		for _, p := range proxies[1:] {
			if r := storedCORS(t, p.URL, bucket); r.status != first.status || !bytes.Equal(r.body, first.body) {
				return false
			}
		}
		served = first.body
		return first.status == http.StatusOK
	})
	winner := -1
	for i, d := range docs {
		if bytes.Equal(served, canonicalCORS(d)) {
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("the proxies agree on a document no writer sent (%d bytes):\n%s", len(served), shorten(served))
	}
	t.Logf("writer %d won (%d bytes)", winner, len(served))
	for _, p := range proxies {
		if doc, ok := storedDocument(t, p, bucket); !ok || doc != string(served) {
			t.Errorf("the storage of %s holds another document than it serves (%d bytes, present %v)", p.URL, len(doc), ok)
		}
		for i := range docs {
			r := send(t, corsRequest(t, http.MethodOptions, p.URL+"/"+bucket+"/k", writerOrigin(i), "GET", ""))
			switch {
			case i == winner:
				assertPreflight(t, r, map[string]string{hACAO: writerOrigin(i), hACAC: "true", hACAM: "GET, PUT"}, nil)
			default:
				assertPreflight(t, r, nil, forbidden(msgNotAllowed, "GET", "OBJECT"))
			}
		}
	}
	return winner
}

// testRacingWriters races racingWriters PUTs for one bucket, through one
// proxy and through two proxies that share a storage.
func testRacingWriters(t *testing.T, s *stack) {
	docs := racingDocuments()
	t.Run("one proxy", func(t *testing.T) {
		bucket := bucketName(t, "race-one")
		s.s3.createBucket(t, bucket)
		race(t, []*proxy{s.proxy}, bucket, docs)
		settled(t, []*proxy{s.proxy}, bucket, docs)
	})
	t.Run("two proxies sharing a storage", func(t *testing.T) {
		shared := t.TempDir()
		a := startProxy(t, proxyConfig{Upstream: s.tap.Host, Store: s.store.URL, DataDir: shared, Comment: "racing a"})
		b := startProxy(t, proxyConfig{Upstream: s.tap.Host, Store: s.store.URL, DataDir: shared, Comment: "racing b"})
		bucket := bucketName(t, "race-two")
		s.s3.createBucket(t, bucket)
		race(t, []*proxy{a, b}, bucket, docs)
		settled(t, []*proxy{a, b}, bucket, docs)
	})
}
