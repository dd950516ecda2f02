// Package testenv holds what every test suite of the project decides the
// same way: whether it runs in CI, what a missing prerequisite does there,
// and how a test finds a free port.
package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"
)

// InCI reports whether the tests run under CI=true, as .ci/run runs them.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing reports a prerequisite the test cannot run without: a store
// binary, a client, Chromium, a pseudo-terminal. Under CI=true the test
// fails, since a skip there would turn a missing install step into a quiet
// green run; otherwise it is skipped with the message.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}

// FreePort returns a TCP port that is free on loopback right now. It
// panics when the kernel has none to give, as a test cannot go on then.
func FreePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a host:port address.
func FreeAddr() string { return fmt.Sprintf("127.0.0.1:%d", FreePort()) }
