package testenv

import (
	"fmt"
	"net"
	"testing"
)

// recorder is a testing.TB that notes a Fatal or a Skip instead of
// ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Skip(args ...any)  { r.skip = fmt.Sprint(args...) }

func TestMissingFailsInCI(t *testing.T) {
	for _, c := range []struct{ ci, fatal, skip string }{
		{"true", "no store: versitygw", ""},
		{"", "", "no store: versitygw"},
		{"false", "", "no store: versitygw"},
	} {
		t.Setenv("CI", c.ci)
		r := &recorder{TB: t}
		Missing(r, "no store: %s", "versitygw")
		if r.fatal != c.fatal || r.skip != c.skip {
			t.Errorf("CI=%q: fatal %q, skip %q; want fatal %q, skip %q", c.ci, r.fatal, r.skip, c.fatal, c.skip)
		}
	}
}

func TestFreePort(t *testing.T) {
	l, err := net.Listen("tcp", FreeAddr())
	if err != nil {
		t.Fatalf("the address given is not free: %v", err)
	}
	l.Close()
}
