package caddymodule

import (
	"context"
	"testing"
	"time"
)

// A bucket exists if any registered upstream has it; it is missing only
// when every upstream says so.
func TestUpstreamsExists(t *testing.T) {
	ctx := context.Background()
	var u upstreams
	if ok, err := u.exists(ctx, "anything"); !ok || err != nil {
		t.Errorf("no upstream: %v %v, want the bucket taken to exist", ok, err)
	}

	photos, _ := newTestChecker(t, newHeadBucketServer(t, "photos").URL, time.Minute)
	videos, _ := newTestChecker(t, newHeadBucketServer(t, "videos").URL, time.Minute)
	u.add(photos)
	u.add(videos)
	for bucket, want := range map[string]bool{"photos": true, "videos": true, "music": false} {
		if ok, err := u.exists(ctx, bucket); ok != want || err != nil {
			t.Errorf("%s: %v %v, want %v", bucket, ok, err, want)
		}
	}

	down := newHeadBucketServer(t)
	down.Close()
	broken, _ := newTestChecker(t, down.URL, time.Minute)
	u.add(broken)
	if ok, err := u.exists(ctx, "videos"); !ok || err != nil {
		t.Errorf("a bucket another upstream has, with one down: %v %v", ok, err)
	}
	if ok, err := u.exists(ctx, "music"); ok || err == nil {
		t.Errorf("a bucket no live upstream has, with one down: %v %v, want an error", ok, err)
	}

	u.remove(broken)
	u.remove(videos)
	if ok, err := u.exists(ctx, "videos"); ok || err != nil {
		t.Errorf("after removing its upstream: %v %v, want missing", ok, err)
	}
}
