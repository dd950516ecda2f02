package e2e

// TestReadmeCommands runs every command of every README.md in the
// repository, exactly as written, so that no README can drift from what the
// project does. The convention every README follows (README.md's
// Development section says the same):
//
//   - A command the reader is meant to run goes in a ```sh block. Other
//     fences are not run: caddyfile and json blocks show configuration, text
//     blocks show output. A fence tagged bash, shell, console, zsh or
//     shell-session is refused, so that no command escapes this test.
//
//   - The line before each ```sh block (blank lines between are allowed) is
//     an HTML comment, invisible on the rendered page, that says where the
//     block runs:
//
//     <!-- run: checkout -->  at the root of a fresh copy of the repository
//     (the working tree as it is now, committed as a git repository), with
//     nothing running;
//
//     <!-- run: clone -->  in an empty directory, where `git clone` of the
//     project's public URL (https:// and the module path) clones that copy;
//     no other URL can be cloned;
//
//     <!-- run: demo -->  at the root of the copy while ./scripts/demo.sh
//     runs with its defaults: the proxy on 127.0.0.1:8080 in front of
//     versitygw, the bucket demo holding hello.txt, the browser-upload page
//     on localhost:8081, Caddy's admin API on 127.0.0.1:2019, and ./caddy
//     built.
//
//     After the environment, `, expect "TEXT"` (repeatable) requires the
//     block's output to contain TEXT, for a command whose exit status does
//     not tell whether it worked (curl -i prints a 403 and exits 0).
//
//     A block that keeps running (a server, the demo itself) adds
//     `, background until "TEXT"`: it runs until its output shows TEXT, the
//     next blocks of its session run meanwhile, and it gets Ctrl-C (SIGINT
//     to its process group) when the next background block starts or the
//     session ends. It must then exit by itself within 30 s, leaving no
//     process behind.
//
//   - A block that cannot run here is marked <!-- skip: REASON --> instead,
//     with the reason. At most maxSkippedBlocks blocks may be; make a block
//     runnable rather than skip it (run it against the demo; show a
//     production host name as configuration, not as a command).
//
// The blocks of one README with one environment form a session, run in
// order as a reader types them into one terminal: variables exported and
// directories changed carry over from block to block. Each block runs
// under `bash -eo pipefail` as a process group of its own, with a time
// limit, and fails on a non-zero exit. Its environment is a newcomer's:
// HOME is an empty directory (no ~/.aws, ~/.s3cfg or ~/go of this machine's),
// and only PATH, the locale, proxy settings, CI, pyenv's root, Go's settings
// (GOPATH and GOBIN excepted) and the locations of this machine's Go and
// store caches (so builds are warm) come from the test's environment.
// Processes a session leaves running are stopped when it ends.
//
// The commands use their fixed ports (readmePorts): a lock file keeps two
// runs of this test on one machine apart, and the test fails when another
// program holds one of the ports.

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environments a README block runs in.
const (
	readmeCheckout = "checkout"
	readmeClone    = "clone"
	readmeDemo     = "demo"
)

// maxSkippedBlocks bounds the exemptions, so that skipping never becomes
// the easy way out.
const maxSkippedBlocks = 3

// readmePorts are the fixed ports the READMEs' commands use: Caddy's admin
// API, versitygw, the proxy, the browser-upload page (the demo's and one
// run by hand) and MinIO with its console.
var readmePorts = []int{2019, 7070, 8080, 8081, 8082, 9000, 9001}

// readmeDemoCommand starts the demo environment: the README's first command.
const readmeDemoCommand = "./scripts/demo.sh"

// readmeDemoReady is what the demo prints once everything is up.
const readmeDemoReady = "Press Ctrl-C"

const (
	readmeBlockTimeout = 10 * time.Minute
	readmeStopTimeout  = 30 * time.Second
)

// readmeBlock is one ```sh block of a README.
type readmeBlock struct {
	file string // relative to the repository root
	line int    // of the opening fence
	text string
	// env is where the block runs; empty for a skipped block.
	env string
	// skip is the reason a block is not run.
	skip string
	// background is the text a long-running block prints once it is up.
	background string
	// expect are texts the block's output must contain.
	expect []string
}

func (b readmeBlock) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// setClauses reads the clauses after the environment:
// `, background until "TEXT"` and `, expect "TEXT"` (repeatable).
func (b *readmeBlock) setClauses(clauses string) error {
	for _, c := range runClause.FindAllStringSubmatch(clauses, -1) {
		switch {
		case c[2] == "":
			return fmt.Errorf("%s \"\": the text must not be empty", c[1])
		case c[1] == "background until" && b.background == "":
			b.background = c[2]
		case c[1] == "expect":
			b.expect = append(b.expect, c[2])
		default:
			return fmt.Errorf("unknown or repeated clause %q: use background until \"TEXT\" or expect \"TEXT\"", c[1])
		}
	}
	return nil
}

var (
	fenceOpen = regexp.MustCompile("^( *)(`{3,}|~{3,})\\s*([^\\s`]*)")
	runNote   = regexp.MustCompile(`^<!--\s*run:\s*([a-z-]+)((?:\s*,\s*[a-z ]+"[^"]*")*)\s*-->$`)
	runClause = regexp.MustCompile(`,\s*([a-z ]+?)\s*"([^"]*)"`)
	skipNote  = regexp.MustCompile(`^<!--\s*skip:\s*(.*?)\s*-->$`)
	// shellFences are the other names of shell blocks, refused so that a
	// command cannot slip past the test under another tag.
	shellFences = []string{"bash", "shell", "console", "zsh", "shell-session", "shellsession"}
)

// parseReadme returns the ```sh blocks of a README with their annotations.
func parseReadme(file string, content []byte) ([]readmeBlock, error) {
	lines := strings.Split(string(content), "\n")
	var blocks []readmeBlock
	var errs []error
	prev := "" // the last non-blank line before the current one
	for i := 0; i < len(lines); i++ {
		m := fenceOpen.FindStringSubmatch(lines[i])
		if m == nil {
			if s := strings.TrimSpace(lines[i]); s != "" {
				prev = s
			}
			continue
		}
		indent, fence, lang := len(m[1]), m[2], strings.ToLower(m[3])
		open := i
		var body []string
		for i++; i < len(lines); i++ {
			if s := strings.TrimSpace(lines[i]); strings.HasPrefix(s, fence) && strings.Trim(s, fence[:1]) == "" {
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], strings.Repeat(" ", indent)))
		}
		if i == len(lines) {
			errs = append(errs, fmt.Errorf("%s:%d: the code block is never closed", file, open+1))
		}
		note := prev
		prev = ""
		if slices.Contains(shellFences, lang) {
			errs = append(errs, fmt.Errorf("%s:%d: a %q block: commands go in ```sh blocks, which are run by TestReadmeCommands", file, open+1, lang))
			continue
		}
		if lang != "sh" {
			continue
		}
		b := readmeBlock{file: file, line: open + 1, text: strings.Join(body, "\n") + "\n"}
		if r := runNote.FindStringSubmatch(note); r != nil {
			b.env = r[1]
			if !slices.Contains([]string{readmeCheckout, readmeClone, readmeDemo}, b.env) {
				errs = append(errs, fmt.Errorf("%s:%d: unknown environment %q: use checkout, clone or demo", file, open+1, b.env))
				continue
			}
			if err := b.setClauses(r[2]); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %v", file, open+1, err))
				continue
			}
		} else if s := skipNote.FindStringSubmatch(note); s != nil {
			if b.skip = s[1]; b.skip == "" {
				errs = append(errs, fmt.Errorf("%s:%d: <!-- skip: --> needs the reason the block cannot run", file, open+1))
				continue
			}
		} else {
			errs = append(errs, fmt.Errorf("%s:%d: a ```sh block needs <!-- run: checkout|clone|demo --> or <!-- skip: REASON --> on the line before it (see e2e/readme_test.go)", file, open+1))
			continue
		}
		blocks = append(blocks, b)
	}
	return blocks, errors.Join(errs...)
}

// TestReadmeParser checks the convention's parser on a README made up for
// it: what runs where, and every mistake it must refuse.
func TestReadmeParser(t *testing.T) {
	good := "# Title\n\n<!-- run: checkout -->\n```sh\ngo build ./...\n```\n\n" +
		"```caddyfile\n:8080\n```\n\n- a list item:\n\n  <!-- run: demo, background until \"ready\" -->\n\n  ```sh\n  serve \\\n    --flag\n  ```\n\n" +
		"<!-- skip: needs a published module -->\n```sh\nxcaddy build\n```\n" +
		"<!-- run: demo, expect \"200 OK\", expect \"ETag\" -->\n```sh\ncurl -i x\n```\n"
	blocks, err := parseReadme("good.md", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []readmeBlock{
		{file: "good.md", line: 4, text: "go build ./...\n", env: readmeCheckout},
		{file: "good.md", line: 16, text: "serve \\\n  --flag\n", env: readmeDemo, background: "ready"},
		{file: "good.md", line: 22, text: "xcaddy build\n", skip: "needs a published module"},
		{file: "good.md", line: 26, text: "curl -i x\n", env: readmeDemo, expect: []string{"200 OK", "ETag"}},
	}
	if !slices.EqualFunc(blocks, want, func(a, b readmeBlock) bool {
		return a.file == b.file && a.line == b.line && a.text == b.text && a.env == b.env &&
			a.skip == b.skip && a.background == b.background && slices.Equal(a.expect, b.expect)
	}) {
		t.Errorf("parsed\n%+v\nwant\n%+v", blocks, want)
	}

	for name, doc := range map[string]string{
		"no annotation":       "Run this:\n\n```sh\nls\n```\n",
		"annotation too far":  "<!-- run: checkout -->\nSome text.\n```sh\nls\n```\n",
		"unknown environment": "<!-- run: production -->\n```sh\nls\n```\n",
		"skip without reason": "<!-- skip: -->\n```sh\nls\n```\n",
		"bash fence":          "<!-- run: checkout -->\n```bash\nls\n```\n",
		"console fence":       "```console\n$ ls\n```\n",
		"unclosed block":      "<!-- run: checkout -->\n```sh\nls\n",
		"unknown clause":      "<!-- run: checkout, retry \"3\" -->\n```sh\nls\n```\n",
		"empty expectation":   "<!-- run: checkout, expect \"\" -->\n```sh\nls\n```\n",
		"two backgrounds":     "<!-- run: checkout, background until \"a\", background until \"b\" -->\n```sh\nls\n```\n",
	} {
		if _, err := parseReadme(name, []byte(doc)); err == nil {
			t.Errorf("%s: parsed without an error", name)
		}
	}
}

// TestStopGroup checks the harness's own process-group handling: a group
// with a live process is listed and stopped, an ended one is not listed.
func TestStopGroup(t *testing.T) {
	cmd := exec.Command("bash", "-c", "sleep 60 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	pgid := cmd.Process.Pid
	if left := stopGroup(pgid, 0); !strings.Contains(left, "sleep 60") {
		t.Errorf("stopGroup listed %q, want the sleep", left)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("stopGroup left the group running")
	}
	if left := stopGroup(pgid, 0); left != "" {
		t.Errorf("after the group ended, stopGroup listed %q", left)
	}
}

func TestReadmeCommands(t *testing.T) {
	for _, tool := range [][]string{
		{"bash", "--version"}, {"git", "--version"}, {"curl", "--version"}, {"openssl", "version"},
		{"aws", "--version"}, {"python3", "-c", "import boto3"}, {"s3cmd", "--version"},
	} {
		requireTool(t, tool...)
	}
	copyDir := snapshotRepository(t)
	blocks := readmeBlocks(t, copyDir)

	var skipped []string
	for _, b := range blocks {
		if b.skip != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s)", b, b.skip))
		}
	}
	t.Logf("%d README blocks; not run: %s", len(blocks), strings.Join(skipped, "; "))
	if len(skipped) > maxSkippedBlocks {
		t.Errorf("%d README blocks are skipped, at most %d may be: make them runnable\n%s",
			len(skipped), maxSkippedBlocks, strings.Join(skipped, "\n"))
	}

	lockReadmePorts(t)
	for _, env := range []string{readmeCheckout, readmeClone} {
		for _, file := range readmeFiles(blocks, env) {
			t.Run(file+"/"+env, func(t *testing.T) {
				dir := copyDir
				var extra []string
				if env == readmeClone {
					dir, extra = t.TempDir(), cloneRedirect(t, copyDir)
				}
				s := newReadmeSession(t, dir, extra)
				s.runAll(readmeBlocksOf(blocks, file, env))
			})
		}
	}
	if files := readmeFiles(blocks, readmeDemo); len(files) > 0 {
		t.Run("demo", func(t *testing.T) { runDemoSessions(t, copyDir, blocks, files) })
	}
}

// runDemoSessions starts the demo as the README says, runs the commands it
// prints, then every README's demo blocks, and stops it with Ctrl-C.
func runDemoSessions(t *testing.T, copyDir string, blocks []readmeBlock, files []string) {
	demo := newReadmeSession(t, copyDir, nil)
	start := readmeBlock{file: "(the demo)", text: readmeDemoCommand + "\n", env: readmeDemo, background: readmeDemoReady}
	if !demo.run(start) {
		return
	}
	out := demo.bg.output()
	m := regexp.MustCompile(`bash (\S+/try\.sh) runs them all`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the demo printed no script of the commands it shows:\n%s", out)
	}
	try := m[1]
	tryOut, ok := demo.runCapture(readmeBlock{file: "(the demo's commands)", text: "bash " + try + "\n", env: readmeDemo})
	if ok {
		for _, want := range []string{
			`"CORSRules"`, // get-bucket-cors
			"'AllowedOrigins': ['https://app.example.com'", // boto3
			"Access-Control-Allow-Origin: https://app.example.com",
			"<Code>AccessForbidden</Code>",
			"hello from caddy-s3-cors",
			`"outcome": "NotAllowed"`, // explain
		} {
			if !strings.Contains(tryOut, want) {
				t.Errorf("the demo's commands did not print %q:\n%s", want, tail(tryOut, 16<<10))
			}
		}
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			newReadmeSession(t, copyDir, nil).runAll(readmeBlocksOf(blocks, file, readmeDemo))
		})
	}
	demo.end()
	if _, err := os.Stat(filepath.Dir(try)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Ctrl-C the demo left its work directory %s (%v)", filepath.Dir(try), err)
	}
}

// readmeBlocks parses every README.md under dir.
func readmeBlocks(t *testing.T, dir string) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	var errs []error
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.EqualFold(d.Name(), "README.md") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		b, perr := parseReadme(filepath.ToSlash(rel), content)
		errs = append(errs, perr)
		blocks = append(blocks, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("READMEs that break the convention of e2e/readme_test.go:\n%v", err)
	}
	if len(blocks) == 0 {
		t.Fatal("found no ```sh blocks in the READMEs")
	}
	// README.md first, then the others in path order.
	slices.SortStableFunc(blocks, func(a, b readmeBlock) int {
		return strings.Compare(readmeOrder(a.file), readmeOrder(b.file))
	})
	return blocks
}

func readmeOrder(file string) string {
	if file == "README.md" {
		return ""
	}
	return file
}

// readmeFiles lists, in order, the READMEs that have blocks for env.
func readmeFiles(blocks []readmeBlock, env string) []string {
	var files []string
	for _, b := range blocks {
		if b.env == env && !slices.Contains(files, b.file) {
			files = append(files, b.file)
		}
	}
	return files
}

func readmeBlocksOf(blocks []readmeBlock, file, env string) []readmeBlock {
	var out []readmeBlock
	for _, b := range blocks {
		if b.file == file && b.env == env {
			out = append(out, b)
		}
	}
	return out
}

// snapshotRepository copies the working tree (tracked and untracked files,
// not ignored ones) into a new git repository of one commit: a fresh
// checkout of the project as it is now.
func snapshotRepository(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		prerequisiteMissing(t, "the repository is not a git checkout (git ls-files: %v)", err)
	}
	dir := t.TempDir()
	for name := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		src := filepath.Join(repoRoot, name)
		fi, err := os.Lstat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=readme", "-c", "user.email=readme@localhost", "commit", "-q", "-m", "working tree"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s in the copy: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir
}

// publicURL is where the README says the project is cloned from.
func publicURL(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return "https://" + strings.TrimSpace(mod)
		}
	}
	t.Fatal("go.mod names no module")
	return ""
}

// cloneRedirect makes `git clone` of the public URL clone repo, and every
// other URL fail.
func cloneRedirect(t *testing.T, repo string) []string {
	t.Helper()
	return []string{
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=url." + repo + ".insteadOf",
		"GIT_CONFIG_VALUE_0=" + publicURL(t),
		"GIT_ALLOW_PROTOCOL=file",
	}
}

// lockReadmePorts keeps other runs of this test off the fixed ports until
// t ends, and fails if another program holds one of them.
func lockReadmePorts(t *testing.T) {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "caddy-s3-cors")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "readme-ports.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	deadline := time.Now().Add(20 * time.Minute)
	for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("another run of the README commands held %s for 20 minutes", f.Name())
		}
		t.Logf("waiting for another run of the README commands to free the ports %v", readmePorts)
		time.Sleep(10 * time.Second)
	}
	for _, p := range readmePorts {
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err != nil {
			t.Fatalf("port %d is in use, and the READMEs' commands use it as written: stop what listens there (%v)", p, err)
		} else {
			l.Close()
		}
	}
}

// readmeSession runs the blocks of one README in one environment, as one
// terminal would.
type readmeSession struct {
	t     *testing.T
	dir   string // where the first block starts
	env   []string
	state string // exports and working directory after the last block
	logs  string
	n     int
	// groups are the process groups of the blocks that ran, stopped at the
	// end if anything of them is left.
	groups []int
	bg     *readmeBackground
}

func newReadmeSession(t *testing.T, dir string, extraEnv []string) *readmeSession {
	t.Helper()
	tmp := t.TempDir()
	s := &readmeSession{t: t, dir: dir, state: filepath.Join(tmp, "state"), logs: filepath.Join(tmp, "logs")}
	home := filepath.Join(tmp, "home")
	for _, d := range []string{home, s.logs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.env = append(newcomerEnv(t, home), extraEnv...)
	t.Cleanup(s.end)
	return s
}

// newcomerEnv is the environment of a new user of this machine: an empty
// HOME, with this machine's PATH, locale, proxy settings and caches.
func newcomerEnv(t *testing.T, home string) []string {
	t.Helper()
	env := []string{"HOME=" + home, "TERM=dumb"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "USER", k == "LOGNAME", k == "SHELL", k == "TMPDIR", k == "CI",
			k == "LANG", strings.HasPrefix(k, "LC_"),
			strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"), strings.EqualFold(k, "no_proxy"),
			k == "SSL_CERT_FILE", k == "SSL_CERT_DIR",
			k == "PYENV_ROOT", k == "PYENV_VERSION",
			// A newcomer's GOPATH and GOBIN are the defaults, under HOME.
			strings.HasPrefix(k, "GO") && k != "GOPATH" && k != "GOBIN":
			env = append(env, kv)
		}
	}
	// Go's settings file, build cache and module cache live under HOME by
	// default: keep this machine's, so builds stay warm.
	out, err := exec.Command("go", "env", "GOENV", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		prerequisiteMissing(t, "go env: %v", err)
	}
	goenv := strings.Fields(string(out))
	if len(goenv) != 3 {
		t.Fatalf("go env printed %q", out)
	}
	env = append(env, "GOENV="+goenv[0], "GOCACHE="+goenv[1], "GOMODCACHE="+goenv[2])
	// The stores scripts/upstream.sh builds, and pyenv's shims, likewise.
	if cache, err := os.UserCacheDir(); err == nil {
		env = append(env, "XDG_CACHE_HOME="+cache)
	}
	if os.Getenv("PYENV_ROOT") == "" {
		if realHome, err := os.UserHomeDir(); err == nil && isDir(filepath.Join(realHome, ".pyenv")) {
			env = append(env, "PYENV_ROOT="+filepath.Join(realHome, ".pyenv"))
		}
	}
	return env
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// runAll runs blocks in order and stops at the first that fails.
func (s *readmeSession) runAll(blocks []readmeBlock) {
	for _, b := range blocks {
		if !s.run(b) {
			return
		}
	}
}

// run runs one block and reports whether it succeeded.
func (s *readmeSession) run(b readmeBlock) bool {
	_, ok := s.runCapture(b)
	return ok
}

// runCapture runs one block and returns its output.
func (s *readmeSession) runCapture(b readmeBlock) (string, bool) {
	t := s.t
	t.Helper()
	started := time.Now()
	defer func() { t.Logf("%s: %.1fs", b, time.Since(started).Seconds()) }()
	if b.background != "" {
		s.stopBackground()
		bg, err := s.startBackground(b)
		if err != nil {
			t.Errorf("%s: %v\n%s", b, err, b.text)
			return "", false
		}
		s.bg = bg
		out := bg.output()
		return out, s.checkExpected(b, out)
	}
	cmd, log, err := s.start(b, true)
	if err != nil {
		t.Errorf("%s: %v", b, err)
		return "", false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(readmeBlockTimeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		werr = fmt.Errorf("still running after %v", readmeBlockTimeout)
	}
	out := readFile(log)
	if werr != nil {
		t.Errorf("%s failed (%v):\n%s\n--- output:\n%s", b, werr, b.text, tail(out, 16<<10))
		return out, false
	}
	return out, s.checkExpected(b, out)
}

// checkExpected fails the test unless out contains every text the block's
// annotation expects.
func (s *readmeSession) checkExpected(b readmeBlock, out string) bool {
	ok := true
	for _, want := range b.expect {
		if !strings.Contains(out, want) {
			s.t.Errorf("%s printed no %q:\n%s\n--- output:\n%s", b, want, b.text, tail(out, 16<<10))
			ok = false
		}
	}
	return ok
}

// start starts a block's script in a process group of its own, its output
// going to a file (a pipe would keep the block waiting for the daemons it
// starts). A foreground block saves its exports and working directory for
// the next block.
func (s *readmeSession) start(b readmeBlock, saveState bool) (*exec.Cmd, string, error) {
	s.n++
	log := filepath.Join(s.logs, strconv.Itoa(s.n)+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	var script strings.Builder
	fmt.Fprintf(&script, "set -eo pipefail\nreadme_state=%s\n", shellQuote(s.state))
	script.WriteString("if [ -f \"$readme_state\" ]; then source \"$readme_state\"; fi\n")
	if saveState {
		script.WriteString("trap '{ export -p; printf \"cd %q\\n\" \"$PWD\"; } >\"$readme_state\"' EXIT\n")
	}
	script.WriteString(b.text)
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = s.dir
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	s.groups = append(s.groups, cmd.Process.Pid)
	return cmd, log, nil
}

// readmeBackground is a block that keeps running.
type readmeBackground struct {
	block readmeBlock
	cmd   *exec.Cmd
	log   string
	done  chan struct{}
	err   error
}

func (bg *readmeBackground) output() string { return readFile(bg.log) }

func (bg *readmeBackground) exited() bool {
	select {
	case <-bg.done:
		return true
	default:
		return false
	}
}

// startBackground starts a long-running block and waits until its output
// shows the text it prints when it is up.
func (s *readmeSession) startBackground(b readmeBlock) (*readmeBackground, error) {
	cmd, log, err := s.start(b, false)
	if err != nil {
		return nil, err
	}
	bg := &readmeBackground{block: b, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		bg.err = cmd.Wait()
		close(bg.done)
	}()
	deadline := time.Now().Add(readmeBlockTimeout)
	for !strings.Contains(bg.output(), b.background) {
		if bg.exited() {
			return nil, fmt.Errorf("exited (%v) before printing %q:\n%s", bg.err, b.background, tail(bg.output(), 16<<10))
		}
		if time.Now().After(deadline) {
			s.bg = bg
			s.stopBackground()
			return nil, fmt.Errorf("printed no %q within %v:\n%s", b.background, readmeBlockTimeout, tail(bg.output(), 16<<10))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return bg, nil
}

// stopBackground presses Ctrl-C on the running background block: SIGINT to
// its process group, as a terminal sends it. The block must still be
// running, and must then exit by itself with nothing of it left running.
func (s *readmeSession) stopBackground() {
	bg := s.bg
	if bg == nil {
		return
	}
	s.bg = nil
	t := s.t
	pgid := bg.cmd.Process.Pid
	if bg.exited() {
		t.Errorf("%s stopped (%v) before its session ended:\n%s", bg.block, bg.err, tail(bg.output(), 16<<10))
		_ = stopGroup(pgid, 0)
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	select {
	case <-bg.done:
	case <-time.After(readmeStopTimeout):
		procs := groupProcesses(pgid)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-bg.done
		t.Errorf("%s did not stop within %v of Ctrl-C; still running:\n%s\n--- output:\n%s",
			bg.block, readmeStopTimeout, procs, tail(bg.output(), 16<<10))
		return
	}
	// Any exit status will do: programs end on Ctrl-C in their own ways
	// (the demo with 130, go run with 1).
	if left := stopGroup(pgid, 10*time.Second); left != "" {
		t.Errorf("%s left processes running after Ctrl-C:\n%s\n--- output:\n%s", bg.block, left, tail(bg.output(), 16<<10))
	}
}

// end stops the background block and whatever the session's blocks left
// running.
func (s *readmeSession) end() {
	s.stopBackground()
	for _, pgid := range s.groups {
		if left := stopGroup(pgid, 0); left != "" {
			s.t.Logf("stopped what a README block left running:\n%s", left)
		}
	}
	s.groups = nil
}

// stopGroup waits up to grace for a process group to be gone, then stops
// what is left of it (SIGTERM, then SIGKILL after ten seconds), and returns
// the list of what was left, empty if nothing.
func stopGroup(pgid int, grace time.Duration) string {
	alive := func() bool { return syscall.Kill(-pgid, 0) == nil && groupProcesses(pgid) != "" }
	for deadline := time.Now().Add(grace); alive() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if !alive() {
		return ""
	}
	left := groupProcesses(pgid)
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); alive() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return left
}

// groupProcesses lists the live processes of a process group (pid, parent,
// state and command line, from /proc), empty if there are none. Zombies do
// not count: they have ended, only their parent has not yet waited for them.
func groupProcesses(pgid int) string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Sprintf("(reading /proc: %v)\n", err)
	}
	var b strings.Builder
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat)[i+1:])
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) || f[0] == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		fmt.Fprintf(&b, "pid %d, parent %s, state %s: %s\n", pid, f[1], f[0], strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
	}
	return b.String()
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
