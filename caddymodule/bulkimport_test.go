package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/store"
)

// refusingStorage is a file storage that refuses to store the record of
// one bucket.
type refusingStorage struct {
	*certmagic.FileStorage
	bucket string
}

var errRefused = errors.New("the disk is full")

func (s refusingStorage) Store(ctx context.Context, key string, value []byte) error {
	if strings.HasSuffix(key, "/buckets/"+s.bucket+".json") {
		return errRefused
	}
	return s.FileStorage.Store(ctx, key, value)
}

func docFor(t *testing.T, origin string) *cors.Configuration {
	t.Helper()
	cfg, err := cors.Parse([]byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>` + origin + `</AllowedOrigin></CORSRule></CORSConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// When the storage fails part-way, the report says which buckets were
// stored and which were not, as the store serves them.
func TestImportConfigurationsWhenStorageFails(t *testing.T) {
	const failing = "b-07"
	shared := newSharedStore(refusingStorage{&certmagic.FileStorage{Path: t.TempDir()}, failing}, store.DefaultPrefix, zap.NewNop())
	t.Cleanup(func() { _ = shared.Destruct() })
	shared.start(zap.NewNop())
	app := &App{shared: shared, upstreams: new(upstreams), logger: zap.NewNop()}
	st := shared.store
	if _, err := st.Put(context.Background(), "b-00", docFor(t, "https://before.example"), "test"); err != nil {
		t.Fatal(err)
	}
	before := st.Lookup("b-00").Live

	var items []store.Item
	for i := range 40 {
		b := fmt.Sprintf("b-%02d", i)
		items = append(items, store.Item{Bucket: b, Config: docFor(t, "https://"+b+".example")})
	}
	report, err := app.ImportConfigurations(context.Background(), "test", items, BulkImportOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Results) != len(items) {
		t.Fatalf("%d results for %d items", len(report.Results), len(items))
	}
	stored := 0
	for i, res := range report.Results {
		live := st.Lookup(items[i].Bucket).Live
		switch res.Status {
		case ImportImported, ImportReplaced:
			stored++
			if live == nil || live == before {
				t.Errorf("%s is reported %s but not served", res.Bucket, res.Status)
			}
			if (res.Status == ImportReplaced) != (res.Bucket == "b-00") {
				t.Errorf("%s is reported %s", res.Bucket, res.Status)
			}
		case ImportFailed:
			if !strings.Contains(res.Message, "storing the configuration here: ") || !strings.Contains(res.Message, errRefused.Error()) {
				t.Errorf("%s failed with %q", res.Bucket, res.Message)
			}
			if live != nil && live != before {
				t.Errorf("%s is reported failed but serves a new configuration", res.Bucket)
			}
		default:
			t.Errorf("%s: status %s", res.Bucket, res.Status)
		}
	}
	if res := report.Results[7]; res.Status != ImportFailed || st.Lookup(failing).Live != nil {
		t.Errorf("the bucket the storage refused: %+v", res)
	}
	if stored == len(items) || report.Count(ImportImported)+report.Count(ImportReplaced) != stored {
		t.Errorf("%d of %d reported stored", stored, len(items))
	}
}
