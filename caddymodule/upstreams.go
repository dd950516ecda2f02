package caddymodule

import (
	"context"
	"slices"
	"sync"
)

// upstreams are the bucket checkers of the s3_cors handlers of one config.
// Each handler with an upstream registers its checker with the app when it
// is provisioned and removes it in Cleanup, so that a change made through
// the admin API is refused for a bucket that PutBucketCors would refuse.
type upstreams struct {
	mu       sync.RWMutex
	checkers []*bucketChecker
}

func (u *upstreams) add(c *bucketChecker) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.checkers = append(u.checkers, c)
}

func (u *upstreams) remove(c *bucketChecker) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.checkers = slices.DeleteFunc(u.checkers, func(o *bucketChecker) bool { return o == c })
}

// exists reports whether any upstream has bucket; with none registered,
// nothing can tell otherwise and the bucket is taken to exist. It returns
// errUnknown when no upstream has the bucket and one could not tell.
func (u *upstreams) exists(ctx context.Context, bucket string) (bool, error) {
	u.mu.RLock()
	checkers := slices.Clone(u.checkers)
	u.mu.RUnlock()
	if len(checkers) == 0 {
		return true, nil
	}
	var unknown error
	for _, c := range checkers {
		exists, err := c.exists(ctx, bucket)
		switch {
		case err != nil:
			unknown = err
		case exists:
			return true, nil
		}
	}
	return false, unknown
}
