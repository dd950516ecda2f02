package s3storage

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

func corsConfig(t *testing.T, origin string) *cors.Configuration {
	t.Helper()
	cfg, err := cors.Parse(fmt.Appendf(nil, `<CORSConfiguration><CORSRule><AllowedOrigin>%s</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`, origin))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newCluster returns n Stores, each on its own Storage (its own client, as
// separate Caddy instances have), all on one bucket, loaded.
func newCluster(t *testing.T, endpoint, bucket string, n int) []*store.Store {
	t.Helper()
	stores := make([]*store.Store, n)
	for i := range stores {
		log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named(fmt.Sprintf("instance%d", i))
		st := store.New(newTestStorage(t, endpoint, bucket, "cluster"), store.Options{Logger: log})
		if err := st.Load(t.Context()); err != nil {
			t.Fatalf("instance %d: Load: %v", i, err)
		}
		stores[i] = st
	}
	return stores
}

func syncAll(t *testing.T, stores []*store.Store) {
	t.Helper()
	for i, st := range stores {
		if err := st.Sync(t.Context()); err != nil {
			t.Fatalf("instance %d: Sync: %v", i, err)
		}
	}
}

// TestStoresConverge runs three Stores on one bucket: a change made through
// one is served by the others after their next Sync, and concurrent
// changes of one bucket through all of them end with every Store serving
// the same one. The store without conditions (MinIO behind a proxy that
// drops them) exercises the Store's lock-and-read-back fallback.
func TestStoresConverge(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint func(t *testing.T) string
	}{
		{minio, func(t *testing.T) string { return sharedServer(t, minio).endpoint }},
		{versitygw, func(t *testing.T) string { return sharedServer(t, versitygw).endpoint }},
		{"without conditions", func(t *testing.T) string { return conditionStripper(t, sharedServer(t, minio).endpoint) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			endpoint, bucket := tc.endpoint(t), testBucket("cluster")
			stores := newCluster(t, endpoint, bucket, 3)
			ctx := t.Context()

			t.Run("put and delete", func(t *testing.T) {
				rec, err := stores[0].Put(ctx, "photos", corsConfig(t, "https://a.example"), "test")
				if err != nil {
					t.Fatal(err)
				}
				syncAll(t, stores[1:])
				for i, st := range stores {
					if got, ok := st.Get("photos"); !ok || got.Version != rec.Version || st.Lookup("photos").Live == nil {
						t.Errorf("instance %d serves %+v (found %v), want version %s", i, got, ok, rec.Version)
					}
				}
				if _, err := stores[2].Delete(ctx, "photos", "test"); err != nil {
					t.Fatal(err)
				}
				syncAll(t, stores[:2])
				for i, st := range stores {
					if st.Lookup("photos").Live != nil {
						t.Errorf("instance %d still serves the deleted configuration", i)
					}
				}
			})

			t.Run("concurrent puts", func(t *testing.T) {
				const perStore = 3
				var wg sync.WaitGroup
				var mu sync.Mutex
				var sent []string
				for i, st := range stores {
					for j := range perStore {
						wg.Go(func() {
							rec, err := st.Put(ctx, "shared", corsConfig(t, fmt.Sprintf("https://w%d-%d.example", i, j)), "test")
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							sent = append(sent, rec.Version)
							mu.Unlock()
						})
					}
				}
				wg.Wait()
				syncAll(t, stores)
				stored := storedVersion(t, endpoint, bucket, "shared")
				if !slices.Contains(sent, stored) {
					t.Fatalf("storage holds version %s, which no Put returned (%v)", stored, sent)
				}
				for i, st := range stores {
					if got, _ := st.Get("shared"); got.Version != stored {
						t.Errorf("instance %d serves version %s, storage holds %s", i, got.Version, stored)
					}
				}
			})
		})
	}
}

// storedVersion reads the record of bucket as storage holds it.
func storedVersion(t *testing.T, endpoint, bucket, configured string) string {
	t.Helper()
	data, err := newTestStorage(t, endpoint, bucket, "cluster").Load(t.Context(), store.DefaultPrefix+"/buckets/"+configured+".json")
	if err != nil {
		t.Fatal(err)
	}
	var rec store.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Version
}

// TestStoresOutlastOutage stops the store under two Stores: both keep
// serving what they had, writes fail with an error that says what to
// check, and once the store is back a change reaches both again.
func TestStoresOutlastOutage(t *testing.T) {
	srv := startServer(t, minio)
	stores := newCluster(t, srv.endpoint, testBucket("outage"), 2)
	ctx := t.Context()
	before, err := stores[0].Put(ctx, "photos", corsConfig(t, "https://before.example"), "test")
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, stores)

	srv.stop()
	if err := stores[1].Sync(ctx); err == nil {
		t.Fatal("Sync with the store down succeeded")
	}
	for i, st := range stores {
		if got, ok := st.Get("photos"); !ok || got.Version != before.Version || st.Lookup("photos").Live == nil {
			t.Errorf("instance %d with the store down serves %+v (found %v), want its last good configuration", i, got, ok)
		}
	}
	_, err = stores[0].Put(ctx, "photos", corsConfig(t, "https://during.example"), "test")
	if err == nil || !strings.Contains(err.Error(), "check that the endpoint is right and the store is up") {
		t.Errorf("Put with the store down: %v, want an error saying what to check", err)
	}
	if got, _ := stores[0].Get("photos"); got.Version != before.Version {
		t.Errorf("a failed Put changed what instance 0 serves: %+v", got)
	}

	srv.start(t)
	after, err := stores[0].Put(ctx, "photos", corsConfig(t, "https://after.example"), "test")
	if err != nil {
		t.Fatalf("Put once the store is back: %v", err)
	}
	syncAll(t, stores)
	for i, st := range stores {
		if got, _ := st.Get("photos"); got.Version != after.Version {
			t.Errorf("instance %d serves %+v after the store came back, want version %s", i, got, after.Version)
		}
	}
}
