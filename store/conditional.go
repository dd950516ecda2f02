package store

import (
	"context"
	"errors"

	"github.com/caddyserver/certmagic"
)

// ErrConditionFailed is returned by ConditionalStorage.StoreIf when the key
// no longer holds the version the caller read (or exists when the caller
// asked for it to be absent).
var ErrConditionFailed = errors.New("storage condition failed: the key was changed by another writer")

// ConditionalStorage is a storage that can replace a key only if it still
// holds what the caller read, and create one only if it is absent: S3's
// conditional writes (If-Match, If-None-Match). A Store on such a storage
// updates its change marker by compare-and-swap and never takes a storage
// lock; on any other certmagic.Storage it falls back to a best-effort lock
// and a read-back check.
type ConditionalStorage interface {
	certmagic.Storage

	// Conditional reports whether the storage really enforces conditions.
	// An implementation that found out its backend ignores them (an S3
	// store without conditional writes) returns false, and the Store uses
	// the fallback.
	Conditional() bool

	// LoadVersion returns the value of key and an opaque version that
	// changes with every write (an ETag). A missing key gives an error
	// wrapping fs.ErrNotExist.
	LoadVersion(ctx context.Context, key string) (value []byte, version string, err error)

	// StoreIf stores value at key if the key's current version is version,
	// or, when version is "", if the key does not exist. It returns the new
	// version, or an error wrapping ErrConditionFailed when the condition
	// did not hold; then nothing was written.
	StoreIf(ctx context.Context, key string, value []byte, version string) (newVersion string, err error)
}
