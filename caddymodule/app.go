// Package caddymodule is the Caddy glue of caddy-s3-cors: the s3_cors app,
// which owns the stored bucket CORS configurations, and the
// http.handlers.s3_cors handler, which answers the ?cors bucket API and
// preflights itself and rewrites the CORS headers of everything it forwards.
package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/store"
	"github.com/s3cors/caddy-s3-cors/store/s3storage"
)

func init() {
	caddy.RegisterModule(App{})
}

// initialLoadTimeout bounds the first read of the storage at start-up; a
// storage that does not answer in time is retried by the sync loop.
const initialLoadTimeout = 30 * time.Second

// App is the s3_cors app. It keeps every bucket's CORS configuration in
// Caddy's storage and serves the compiled configurations to the s3_cors
// handlers. Caddy instances that use the same storage share the
// configurations: each one checks the storage for changes every
// sync_interval and applies them without a restart.
//
// The app needs no configuration: a handler brings it up with its defaults.
// Configure it with the `s3_cors` global option of the Caddyfile or under
// `apps.s3_cors` in JSON.
type App struct {
	// KeyPrefix is the storage key prefix under which the configurations
	// are kept. Default: s3_cors.
	KeyPrefix string `json:"key_prefix,omitempty"`

	// SyncInterval is how often this instance looks for changes made by
	// other instances that share the storage, and stores what it counted
	// for the report-only trials of candidate configurations (only when
	// the counts changed). Default: 5s.
	SyncInterval caddy.Duration `json:"sync_interval,omitempty"`

	// StorageRaw is the storage that keeps the configurations. Default:
	// Caddy's configured storage, which is the file system under Caddy's
	// data directory unless the operator chose another storage module.
	StorageRaw json.RawMessage `json:"storage,omitempty" caddy:"namespace=caddy.storage inline_key=module"`

	// BucketStorage keeps the configurations as objects in a bucket of an
	// S3-compatible store (such as the one behind the proxy) instead of a
	// Caddy storage module. Instances with the same bucket_storage share
	// the configurations, and update them with S3's conditional writes
	// where the store enforces them. An alternative to storage: set at
	// most one. {env.*} placeholders are replaced in every field.
	BucketStorage *s3storage.Config `json:"bucket_storage,omitempty"`

	shared  *sharedStore
	poolKey string
	logger  *zap.Logger
	metrics *metrics

	upstreams    *upstreams     // the bucket checkers of the config's handlers
	defaults     *configDefault // the default_cors of the config's handlers
	configBucket string         // the bucket of bucket_storage, placeholders replaced
	ctx          caddy.Context  // to find the http app at Start
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "s3_cors",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision sets the app up. It reads nothing from the storage: that
// happens in Start, so that `caddy validate` stays free of I/O.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	a.logger = ctx.Logger()
	a.upstreams = new(upstreams)
	a.defaults = new(configDefault)
	if a.KeyPrefix == "" {
		a.KeyPrefix = store.DefaultPrefix
	}
	if a.SyncInterval == 0 {
		a.SyncInterval = caddy.Duration(store.DefaultSyncInterval)
	}

	storage := ctx.Storage()
	if a.BucketStorage != nil {
		bs, err := a.bucketStorage()
		if err != nil {
			return err
		}
		storage = bs
	}
	if a.StorageRaw != nil {
		mod, err := ctx.LoadModule(a, "StorageRaw")
		if err != nil {
			return fmt.Errorf("loading storage module: %w", err)
		}
		storage, err = mod.(caddy.StorageConverter).CertMagicStorage()
		if err != nil {
			return fmt.Errorf("creating storage: %w", err)
		}
	}

	// Instances of the app from successive config loads share one store
	// per storage location, so that a reload keeps the compiled
	// configurations and never runs two sync loops on one storage.
	a.poolKey = storageIdentity(storage) + "|" + a.KeyPrefix
	val, _, err := stores.LoadOrNew(a.poolKey, func() (caddy.Destructor, error) {
		return newSharedStore(storage, a.KeyPrefix, a.logger), nil
	})
	if err != nil {
		return err
	}
	a.shared = val.(*sharedStore)

	m, err := registerMetrics(ctx.GetMetricsRegistry(), a.shared.store)
	if err != nil {
		return err
	}
	a.metrics = m
	return nil
}

// Validate checks the app's options.
func (a *App) Validate() error {
	if a.SyncInterval < 0 {
		return fmt.Errorf("sync_interval must not be negative, got %s", time.Duration(a.SyncInterval))
	}
	return nil
}

// Start loads the stored configurations (once per storage location) and
// keeps them in sync with the storage. The shared store logs to this
// config's logger from now on.
func (a *App) Start() error {
	a.shared.setLogger(a.logger)
	a.shared.interval.Store(int64(a.SyncInterval))
	a.shared.start(a.logger)
	if httpApp, err := a.ctx.AppIfConfigured("http"); err == nil {
		warnHandlersWithoutNext(httpApp.(*caddyhttp.App), a.logger)
	}
	running.Store(a)
	return nil
}

// Stop withdraws the app from Running unless a newer config's app has
// already replaced it; the shared store outlives a config reload and is
// released in Cleanup.
func (a *App) Stop() error {
	running.CompareAndSwap(a, nil)
	return nil
}

// running is the app of the config Caddy runs now. A reload starts the new
// config's app before it stops the old one.
var running atomic.Pointer[App]

// Running returns the s3_cors app of the config Caddy runs now, or nil
// before one has started (and after Caddy has stopped it). The admin API
// finds the app here.
func Running() *App { return running.Load() }

// Cleanup releases this config's reference to the shared store.
func (a *App) Cleanup() error {
	if a.poolKey == "" || a.shared == nil {
		return nil
	}
	_, err := stores.Delete(a.poolKey)
	return err
}

// Store is the store that holds the bucket CORS configurations.
func (a *App) Store() *store.Store { return a.shared.store }

// BucketExists reports whether bucket exists at the stores that the
// config's s3_cors handlers name as their upstream: one of them having it is
// enough. Without any upstream it reports true, as the handlers do. It
// returns an error when no upstream has the bucket and one of them could
// not tell; nothing should then be changed.
func (a *App) BucketExists(ctx context.Context, bucket string) (bool, error) {
	return a.upstreams.exists(ctx, bucket)
}

// stores holds one sharedStore per storage location across config reloads.
var stores = caddy.NewUsagePool()

// sharedStore is a store and its sync loop, shared by the app instances of
// successive config loads that use the same storage location.
type sharedStore struct {
	store    *store.Store
	stats    *statsTable  // what the buckets' configurations decided
	trials   *trialTable  // what the candidates on trial would have decided
	interval atomic.Int64 // time.Duration; the latest config's sync_interval
	log      atomic.Pointer[zap.Logger]

	startOnce sync.Once
	ready     chan struct{} // closed when the first load has finished
	ctx       context.Context
	cancel    context.CancelFunc
	loops     sync.WaitGroup // the loop that stores the trial counts
}

func newSharedStore(storage certmagic.Storage, prefix string, logger *zap.Logger) *sharedStore {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sharedStore{
		store:  store.New(storage, store.Options{Prefix: prefix, Logger: logger}),
		stats:  newStatsTable(time.Now()),
		trials: new(trialTable),
		ready:  make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	s.log.Store(logger)
	return s
}

// setLogger makes l the logger of the store and its loops from now on.
func (s *sharedStore) setLogger(l *zap.Logger) {
	s.log.Store(l)
	s.store.SetLogger(l)
}

func (s *sharedStore) logger() *zap.Logger { return s.log.Load() }

// start loads the configurations and starts the sync loop and the loop
// that stores the trial counts, the first time it is called. The loops read
// the interval anew every time, so that a reload can change it.
func (s *sharedStore) start(logger *zap.Logger) {
	s.startOnce.Do(func() {
		loadCtx, cancel := context.WithTimeout(s.ctx, initialLoadTimeout)
		err := s.store.Load(loadCtx)
		cancel()
		if err != nil {
			// Serving without the stored configurations refuses every
			// preflight, which is safe; the sync loop keeps retrying.
			logger.Error("loading bucket CORS configurations; retrying every sync interval", zap.Error(err))
		}
		close(s.ready)
		interval := func() time.Duration { return time.Duration(s.interval.Load()) }
		go s.store.Run(s.ctx, interval)
		s.loops.Go(func() { s.runTrials(s.ctx, interval) })
	})
}

// waitReady blocks until the first load has finished or ctx is done. Only
// requests that arrive while Caddy is starting ever wait.
func (s *sharedStore) waitReady(ctx context.Context) {
	select {
	case <-s.ready:
	case <-ctx.Done():
	}
}

// Destruct stops the loops when the last config using the store is gone,
// after the trial counts are stored one last time.
func (s *sharedStore) Destruct() error {
	s.cancel()
	s.loops.Wait()
	return nil
}

// storageIdentity names a storage location, so that configs pointing at the
// same one share a store. Storage modules describe themselves with String
// (the file system storage gives its path); one that does not is never
// shared across reloads, which costs a reload of the configurations.
func storageIdentity(s certmagic.Storage) string {
	if str, ok := s.(fmt.Stringer); ok {
		return fmt.Sprintf("%T:%s", s, str.String())
	}
	return fmt.Sprintf("%T:%p", s, s)
}

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
	_ caddy.Destructor   = (*sharedStore)(nil)
)
