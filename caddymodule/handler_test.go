package caddymodule

import (
	"context"
	"testing"
	"time"
)

// A write keeps the request's values but neither its cancellation nor its
// deadline, and has its own bound.
func TestWriteContext(t *testing.T) {
	type key struct{}
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx, cancel := WriteContext(parent)
	defer cancel()
	cancelParent()
	if err := ctx.Err(); err != nil {
		t.Errorf("the client hung up and the write's context ended: %v", err)
	}
	if ctx.Value(key{}) != "v" {
		t.Error("the write's context lost the request's values")
	}
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > storeWriteTimeout {
		t.Errorf("deadline %v (set %v), want within %v", deadline, ok, storeWriteTimeout)
	}
}
