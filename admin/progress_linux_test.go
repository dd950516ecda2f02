package admin

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/s3cors/caddy-s3-cors/internal/testenv"
)

// openTerminal opens a pseudo-terminal: the side a program writes to, and
// the side that reads what it wrote.
func openTerminal(t *testing.T) (terminal, reader *os.File) {
	t.Helper()
	reader, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.Missing(t, "no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { reader.Close() })
	fd := int(reader.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	terminal, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return terminal, reader
}

// On a terminal, an import shows "stored N of M" after each batch on one
// line, then blanks it for the summary.
func TestImportProgressOnATerminal(t *testing.T) {
	loadConfig(t, "")
	file := filepath.Join(t.TempDir(), "five.ndjson")
	if err := os.WriteFile(file, []byte(importFileOf(t, "t-1", "t-2", "t-3", "t-4", "t-5")), 0o600); err != nil {
		t.Fatal(err)
	}
	terminal, reader := openTerminal(t)
	cmd := caddyCommand("", "import", file, "--batch-size", "2")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = terminal, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	terminal.Close() // the command holds it; reading ends when it exits
	var shown bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&shown, reader) // ends with EIO once the command has exited
		close(copied)
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	<-copied
	// The terminal turns every newline into CR LF.
	want := "\rstored 2 of 5\rstored 4 of 5\rstored 5 of 5\r" + strings.Repeat(" ", len("stored 5 of 5")) + "\r" +
		"import from " + file + ": 5 buckets, 5 imported, 0 replaced, 0 skipped, 0 no_configuration, 0 refused, 0 failed\r\n"
	if shown.String() != want {
		t.Errorf("the terminal shows %q, want %q", shown.String(), want)
	}
}
