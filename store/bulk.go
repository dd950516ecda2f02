package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/s3cors/caddy-s3-cors/cors"
)

// Item is one configuration of a PutMany.
type Item struct {
	Bucket string
	Config *cors.Configuration
}

// ItemError is why one item of a PutMany cannot be stored.
type ItemError struct {
	// Index is the item's position in the list given to PutMany.
	Index  int
	Bucket string
	Err    error
}

func (e ItemError) Error() string {
	return fmt.Sprintf("item %d (bucket %q): %v", e.Index, e.Bucket, e.Err)
}

func (e ItemError) Unwrap() error { return e.Err }

// InvalidItemsError is PutMany's answer when items fail validation: every
// failure, in the order of the items. Nothing was stored.
type InvalidItemsError struct {
	Items []ItemError
}

func (e *InvalidItemsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d configurations are invalid, so none was stored", len(e.Items))
	for i, it := range e.Items {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Items)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(it.Error())
	}
	return b.String()
}

// batchInline is the most changes of one PutMany the marker lists one by
// one; larger batches are listed in a batch key that one entry names.
const batchInline = 16

// PutMany stores many configurations at once, as Put would one by one. It
// validates every item first (bucket names, duplicates, documents) and,
// if any fails, stores nothing and returns an *InvalidItemsError. Then it
// stores the items, WriteConcurrency at a time, and announces them to the
// other instances with one marker update. by is as for Put.
//
// progress, when not nil, is called after each item is stored with the
// number stored so far and the total; calls come one at a time, in
// increasing order. It returns how many items were stored: all of them
// unless storage failed or ctx ended, which stops the remaining items;
// those stored are announced all the same.
func (s *Store) PutMany(ctx context.Context, items []Item, by string, progress func(stored, total int)) (int, error) {
	ready, err := s.prepareMany(items)
	if err != nil {
		return 0, err
	}

	var (
		mu      sync.Mutex // orders progress calls and guards buckets
		buckets = make([]string, 0, len(ready))
	)
	err = forEach(ctx, len(ready), s.opts.WriteConcurrency, func(ctx context.Context, i int) error {
		if _, err := s.writeRecord(ctx, ready[i], by); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		buckets = append(buckets, ready[i].bucket)
		if progress != nil {
			progress(len(buckets), len(ready))
		}
		return nil
	})
	if len(buckets) > 0 {
		s.logger().Info("CORS configurations stored", zap.Int("buckets", len(buckets)), zap.Int("of", len(ready)), zap.String("by", by))
		if perr := s.publishMany(context.WithoutCancel(ctx), buckets, by); perr != nil {
			s.logger().Warn("announcing CORS configuration changes to other instances", zap.Int("buckets", len(buckets)), zap.Error(perr))
		}
	}
	if err != nil {
		return len(buckets), fmt.Errorf("stored %d of %d configurations: %w", len(buckets), len(ready), err)
	}
	return len(buckets), nil
}

// prepareMany checks and compiles every item, several at a time, sharing
// one compiled policy between equal documents.
func (s *Store) prepareMany(items []Item) ([]prepared, error) {
	ready := make([]prepared, len(items))
	errs := make([]error, len(items))
	seen := make(map[string]int, len(items))
	for i, it := range items {
		if first, dup := seen[it.Bucket]; dup {
			errs[i] = fmt.Errorf("bucket given twice, first as item %d", first)
			continue
		}
		seen[it.Bucket] = i
	}
	compiled := &policyCompiler{byDigest: make(map[digest]*cors.Policy)}
	_ = forEach(context.Background(), len(items), runtime.GOMAXPROCS(0), func(_ context.Context, i int) error {
		if errs[i] == nil {
			ready[i], errs[i] = s.prepare(items[i].Bucket, items[i].Config, compiled)
		}
		return nil // an invalid item is a result, not a reason to stop
	})
	var invalid []ItemError
	for i, err := range errs {
		if err != nil {
			invalid = append(invalid, ItemError{Index: i, Bucket: items[i].Bucket, Err: err})
		}
	}
	if len(invalid) > 0 {
		return nil, &InvalidItemsError{Items: invalid}
	}
	return ready, nil
}

// publishMany announces the buckets of one PutMany with one marker update:
// one entry each for a few, else one entry naming a batch key that lists
// them.
func (s *Store) publishMany(ctx context.Context, buckets []string, by string) error {
	if len(buckets) <= batchInline {
		changes := make([]change, len(buckets))
		for i, b := range buckets {
			changes[i] = change{Bucket: b, By: by}
		}
		return s.publish(ctx, changes...)
	}
	return s.publish(ctx, change{Batch: newID(), Count: len(buckets), By: by, buckets: buckets})
}

// policyCompiler shares the policies compiled during one PutMany, before
// they are installed in the policy cache.
type policyCompiler struct {
	mu       sync.Mutex
	byDigest map[digest]*cors.Policy
}

func (c *policyCompiler) get(d digest) *cors.Policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byDigest[d]
}

// put keeps p as the policy of d, unless another was kept first.
func (c *policyCompiler) put(d digest, p *cors.Policy) *cors.Policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.byDigest[d]; q != nil {
		return q
	}
	c.byDigest[d] = p
	return p
}
