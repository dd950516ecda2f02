package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds every step a test asks of the browser, so that a page
// that never settles fails the test instead of hanging it.
const browserTimeout = 60 * time.Second

// browser is one headless Chromium driven over the DevTools protocol. A test
// starts one and gives each case a tab of its own, in a fresh browser context
// (its own cookies and its own preflight cache), which costs milliseconds
// where a new browser costs a second.
type browser struct {
	ctx    context.Context
	output *logBuffer
}

// startBrowser starts Chromium for the whole test; it is stopped at the end.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	requireTool(t, "chromium", "--version")
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{output: &logBuffer{}}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		// Without these Chromium keeps trying to reach Google's hosts, which
		// this network refuses.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Straight to loopback, whatever proxy the environment names.
		chromedp.Flag("no-proxy-server", true),
		chromedp.CombinedOutput(b.output),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The first Run starts the browser; chromedp gives it a user data dir of
	// its own and removes it, and every process that used it, at the end.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting chromium: %v\n%s", err, tail(withoutDBus(b.output.String()), 8<<10))
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("--- chromium output:\n%s", tail(withoutDBus(b.output.String()), 16<<10))
		}
	})
	b.ctx = ctx
	return b
}

// withoutDBus drops the complaints of a Chromium that finds no D-Bus, which
// it never needs here, from its output.
func withoutDBus(out string) string {
	var b strings.Builder
	for l := range strings.Lines(out) {
		if !strings.Contains(l, ":ERROR:dbus/") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// tab is one page in a browser context of its own. It records what the
// browser reported while the test ran (console messages, CORS errors, every
// request with its answer), for failure messages.
type tab struct {
	ctx context.Context
	mu  sync.Mutex
	log []string
	// requests maps a request ID to its line in log, to complete it with
	// the answer.
	requests map[network.RequestID]int
}

// open loads pageURL in a new tab; the tab is closed when t ends.
func (b *browser) open(t *testing.T, pageURL string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{ctx: ctx, requests: map[network.RequestID]int{}}
	if err := chromedp.Listen(ctx, tb.record); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	step, stop := context.WithTimeout(ctx, browserTimeout)
	defer stop()
	if _, err := chromedp.Call(step, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enabling network events: %v", err)
	}
	if _, err := chromedp.Call(step, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enabling the browser log: %v", err)
	}
	if err := chromedp.Do(step, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("loading %s: %v\n%s", pageURL, err, tb.seen())
	}
	return tb
}

// record notes one DevTools event; it runs in chromedp's event loop and
// must not block.
func (tb *tab) record(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.requests[ev.RequestID] = len(tb.log)
		tb.log = append(tb.log, fmt.Sprintf("request: %s %s", ev.Request.Method, shortURL(ev.Request.URL)))
	case *network.EventResponseReceived:
		if i, ok := tb.requests[ev.RequestID]; ok {
			tb.log[i] += fmt.Sprintf(" -> %d %s", ev.Response.Status, corsSummary(ev.Response.Headers))
		}
	case *network.EventLoadingFailed:
		line := "failed: " + ev.ErrorText
		if ev.CorsErrorStatus != nil {
			line += fmt.Sprintf(", CORS error %s %q", ev.CorsErrorStatus.CorsError, ev.CorsErrorStatus.FailedParameter)
		}
		if i, ok := tb.requests[ev.RequestID]; ok {
			tb.log[i] += " -> " + line
			return
		}
		tb.log = append(tb.log, line)
	case *log.EventEntryAdded:
		tb.log = append(tb.log, fmt.Sprintf("log %s (%s): %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text))
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, remoteText(a))
		}
		tb.log = append(tb.log, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		tb.log = append(tb.log, "exception: "+exceptionText(ev.ExceptionDetails))
	}
}

// corsSummary renders the Access-Control-* and Vary headers of a response.
func corsSummary(h network.Headers) string {
	var parts []string
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "access-control-") || lk == "vary" {
			parts = append(parts, fmt.Sprintf("%s: %v", lk, v))
		}
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, "; ") + "]"
}

func remoteText(o *runtime.RemoteObject) string {
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	return o.Description
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return ""
	}
	if d.Exception != nil && d.Exception.Description != "" {
		return d.Exception.Description
	}
	return d.Text
}

// seen is what the browser reported so far, one event a line.
func (tb *tab) seen() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.log) == 0 {
		return "the browser reported nothing"
	}
	return "the browser reported:\n\t" + strings.Join(tb.log, "\n\t")
}

// preflights returns how many preflight requests the browser reported
// sending to URLs that start with prefix (pages never send OPTIONS
// themselves). Network events come from the browser process, not the page,
// so they may arrive after the script has its answer: it waits up to
// eventDelay for the count to reach want.
func (tb *tab) preflights(prefix string, want int) int {
	deadline := time.Now().Add(eventDelay)
	for {
		n := tb.count("request: OPTIONS " + prefix)
		if n >= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eventDelay bounds the wait for a network event the browser owes.
const eventDelay = 5 * time.Second

func (tb *tab) count(prefix string) int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	n := 0
	for _, l := range tb.log {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// shortURL leaves the presigning parameters out of a URL: they make the
// browser's report hard to read and say nothing about CORS.
func shortURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	q := u.Query()
	presigned := false
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			q.Del(k)
			presigned = true
		}
	}
	u.RawQuery = q.Encode()
	if presigned {
		u.RawQuery = strings.TrimPrefix(u.RawQuery+"&(presigned)", "&")
	}
	return u.String()
}

// call runs fn(args...) in the page, awaits the promise it returns and
// decodes its result into out. fn names a function of the page's script,
// such as "s3probe.request"; args are passed as JSON.
func (tb *tab) call(t *testing.T, out any, fn string, args ...any) {
	t.Helper()
	var js []string
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		js = append(js, string(b))
	}
	tb.eval(t, out, fmt.Sprintf("%s(%s)", fn, strings.Join(js, ", ")))
}

// eval evaluates a JavaScript expression in the page, awaits it if it is a
// promise, and decodes its value into out.
func (tb *tab) eval(t *testing.T, out any, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		var exc *chromedp.ExceptionError
		if errors.As(err, &exc) {
			t.Fatalf("the page threw in %s: %s\n%s", expr, exceptionText(exc.ExceptionDetails), tb.seen())
		}
		t.Fatalf("running %s in the page: %v\n%s", expr, err, tb.seen())
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s returned %s: %v", expr, raw, err)
	}
}

// do runs browser actions in the tab (clicks, file inputs), bounded in time.
func (tb *tab) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, tb.seen())
	}
}
