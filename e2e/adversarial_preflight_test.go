package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange sends request on a connection of its own, reading the answer
// while the request is still being written, as a browser does: a server
// that answers before it has read everything is heard. It gives up after
// timeout. Interim 1xx answers are skipped.
func rawExchange(hostPort string, request []byte, timeout time.Duration) (response, time.Duration, error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", hostPort, timeout)
	if err != nil {
		return response{}, 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(start.Add(timeout))
	go func() { _, _ = conn.Write(request) }()
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return response{}, time.Since(start), err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 200 || err != nil {
			return response{status: resp.StatusCode, header: resp.Header, body: body}, time.Since(start), err
		}
	}
}

// exchange is rawExchange for a request that must be answered: a server
// that refuses a request it has not read to the end may reset the
// connection before the client reads the answer, so a failed attempt is
// made again, twice at most.
func exchange(t *testing.T, hostPort string, request []byte, timeout time.Duration) (response, time.Duration) {
	t.Helper()
	var lastErr error
	for range 3 {
		r, took, err := rawExchange(hostPort, request, timeout)
		if err == nil {
			return r, took
		}
		if took >= timeout {
			t.Fatalf("no answer within %v: %v", timeout, err)
		}
		lastErr = err
	}
	t.Fatalf("no answer in three attempts: %v", lastErr)
	return response{}, 0
}

// preflightBound is how long any preflight may take, however hostile its
// headers: the proxy answers it from memory.
const preflightBound = 5 * time.Second

// rawPreflight is an OPTIONS request with the given header lines, written
// as they are.
func rawPreflight(host, path string, lines ...string) []byte {
	var b strings.Builder
	b.WriteString("OPTIONS " + path + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return []byte(b.String())
}

// repeatLines returns n header lines "name: value(i)".
func repeatLines(n int, name string, value func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name + ": " + value(i)
	}
	return out
}

// headerList returns comma-joined header names of exactly size bytes.
func headerList(size int) (joined string, names []string) {
	for n := 0; ; n++ {
		name := fmt.Sprintf("x-h%05d", n)
		sep := 0
		if len(names) > 0 {
			sep = 1
		}
		if len(joined)+sep+len(name) > size {
			break
		}
		names = append(names, name)
		joined = strings.Join(names, ",")
	}
	// The last name takes the bytes that are left.
	last := names[len(names)-1] + strings.Repeat("z", size-len(joined))
	names[len(names)-1] = last
	return strings.Join(names, ","), names
}

// goRefusal is what Go's HTTP server, under Caddy, answers to a request it
// cannot read (oversized or invalid headers) before any handler runs: a
// plain-text status, not an S3 error. S3 itself answers such requests with
// 400 and an XML body; the proxy cannot, the server never hands them over.
type goRefusal int

// testHostilePreflights sends preflights with oversized, repeated and
// malformed CORS headers. Each is answered within preflightBound, never
// with a 5xx, and a normal preflight works right after.
func testHostilePreflights(t *testing.T, s *stack) {
	cfg := bucketName(t, "pf")
	anyHeader := bucketName(t, "pf-any")
	s.s3.createBucket(t, cfg)
	s.s3.createBucket(t, anyHeader)
	s.s3.putCORS(t, cfg, appRules)
	anyRules := []corsRule{{AllowedHeaders: []string{"*"}, AllowedMethods: []string{"PUT"}, AllowedOrigins: []string{appOrigin}}}
	s.s3.putCORS(t, anyHeader, anyRules)
	keyPath := "/" + cfg + "/some/key"
	anyPath := "/" + anyHeader + "/some/key"
	host := s.proxy.Host

	origin := "Origin: " + appOrigin
	huge := strings.Repeat("x-a,", 1<<18) // 1 MiB
	overCap, _ := headerList(12 << 10)
	atCap, atCapNames := headerList(8 << 10)
	overByOne, _ := headerList(8<<10 + 1)
	wideMethod := strings.Repeat("M", 8<<10)
	nonASCII := "http://\xc3\xa9t\xe9.dev.example.com" // UTF-8 é and a Latin-1 é, matched by http://*.dev.example.com

	anyMatch := func(acah string) map[string]string {
		return map[string]string{hACAO: appOrigin, hACAC: "true", hACAM: "PUT", hACAH: acah}
	}
	cases := []struct {
		name    string
		request []byte
		refused goRefusal         // Go's status, when the request never reaches the proxy
		want    map[string]string // a 200 with these CORS headers
		err     *wantError        // S3's error
	}{
		{name: "1 MiB Access-Control-Request-Headers on one line",
			request: rawPreflight(host, keyPath, origin, "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: "+huge),
			refused: http.StatusRequestHeaderFieldsTooLarge},
		{name: "1 MiB Access-Control-Request-Headers on 16384 lines",
			request: rawPreflight(host, keyPath, append([]string{origin, "Access-Control-Request-Method: PUT"},
				repeatLines(1<<14, "Access-Control-Request-Headers", func(int) string { return huge[:60] })...)...),
			refused: http.StatusRequestHeaderFieldsTooLarge},
		{name: "5000 Origin lines",
			request: rawPreflight(host, keyPath, append(repeatLines(5000, "Origin", func(i int) string { return fmt.Sprintf("https://o%d.example", i) }),
				"Access-Control-Request-Method: GET")...),
			refused: http.StatusRequestHeaderFieldsTooLarge},
		{name: "12 KiB Access-Control-Request-Headers on one line, over the proxy's cap",
			request: rawPreflight(host, anyPath, origin, "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: "+overCap),
			err:     forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "12 KiB Access-Control-Request-Headers on 60 lines, over the proxy's cap",
			request: rawPreflight(host, anyPath, append([]string{origin, "Access-Control-Request-Method: PUT"},
				repeatLines(60, "Access-Control-Request-Headers", func(i int) string { return overCap[i*204 : i*204+204] })...)...),
			err: forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "Access-Control-Request-Headers exactly at the cap",
			request: rawPreflight(host, anyPath, origin, "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: "+atCap),
			want:    anyMatch(strings.Join(atCapNames, ", "))},
		{name: "Access-Control-Request-Headers one byte over the cap",
			request: rawPreflight(host, anyPath, origin, "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: "+overByOne),
			err:     forbidden(msgNotAllowed, "PUT", "OBJECT")},
		{name: "400 Origin lines, the first allowed",
			request: rawPreflight(host, keyPath, append(append([]string{origin},
				repeatLines(400, "Origin", func(i int) string { return fmt.Sprintf("https://o%d.example", i) })...), "Access-Control-Request-Method: GET")...),
			want: readMatch()},
		{name: "400 Origin lines, an allowed one after the first",
			request: rawPreflight(host, keyPath, append(append([]string{"Origin: " + evilOrigin, origin},
				repeatLines(398, "Origin", func(i int) string { return fmt.Sprintf("https://o%d.example", i) })...), "Access-Control-Request-Method: GET")...),
			err: forbidden(msgNotAllowed, "GET", "OBJECT")},
		{name: "Origin with a vertical tab",
			request: rawPreflight(host, keyPath, "Origin: "+appOrigin+"\x0bX-Injected: 1", "Access-Control-Request-Method: GET"),
			refused: http.StatusBadRequest},
		{name: "Origin with a bare CR",
			request: rawPreflight(host, keyPath, "Origin: "+appOrigin+"\rX-Injected: 1", "Access-Control-Request-Method: GET"),
			refused: http.StatusBadRequest},
		{name: "Origin with a NUL byte",
			request: rawPreflight(host, keyPath, "Origin: "+appOrigin+"\x00", "Access-Control-Request-Method: GET"),
			refused: http.StatusBadRequest},
		{name: "non-ASCII Origin matched by a wildcard is echoed as sent",
			request: rawPreflight(host, keyPath, "Origin: "+nonASCII, "Access-Control-Request-Method: PUT"),
			want:    uploadsMatch(nonASCII, "")},
		{name: "non-ASCII Origin close to an allowed one",
			request: rawPreflight(host, keyPath, "Origin: https://\xc3\xa4pp.example.com", "Access-Control-Request-Method: GET"),
			err:     forbidden(msgNotAllowed, "GET", "OBJECT")},
		{name: "8 KiB Access-Control-Request-Method",
			request: rawPreflight(host, keyPath, origin, "Access-Control-Request-Method: "+wideMethod),
			err:     badRequest("Invalid Access-Control-Request-Method: " + wideMethod)},
		// Browsers send one Access-Control-Request-Method; of several, the
		// first decides, and a later one cannot widen what it allows.
		{name: "repeated Access-Control-Request-Method, GET first",
			request: rawPreflight(host, keyPath, origin, "Access-Control-Request-Method: GET", "Access-Control-Request-Method: PUT",
				"Access-Control-Request-Headers: content-type"),
			err: forbidden(msgNotAllowed, "GET", "OBJECT")},
		{name: "repeated Access-Control-Request-Method, PUT first",
			request: rawPreflight(host, keyPath, origin, "Access-Control-Request-Method: PUT", "Access-Control-Request-Method: GET",
				"Access-Control-Request-Headers: content-type"),
			want: uploadsMatch(appOrigin, "content-type")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, took := exchange(t, host, tc.request, preflightBound)
			if took > preflightBound {
				t.Errorf("answered after %v", took)
			}
			if r.status >= 500 {
				t.Errorf("a 5xx for input a client can send:\n%s", shorten([]byte(r.String())))
			}
			switch {
			case tc.refused != 0:
				if r.status != int(tc.refused) {
					t.Errorf("want Go's %d before the proxy, got:\n%s", tc.refused, shorten([]byte(r.String())))
				}
				if len(corsHeaders(r.header)) != 0 {
					t.Errorf("CORS headers on a request the server refused: %v", corsHeaders(r.header))
				}
			default:
				assertPreflight(t, r, tc.want, tc.err)
			}
			assertResponsive(t, s.proxy, cfg)
		})
	}

	// Caddy refuses a method longer than 32 bytes itself, with an empty
	// 405, before any handler runs; a method of 32 bytes reaches the proxy,
	// which refuses it as S3 does. Neither is forwarded (the tap would
	// show it).
	for _, method := range []string{wideMethod, wideMethod[:32]} {
		t.Run(fmt.Sprintf("%d-byte method on the ?cors sub-resource", len(method)), func(t *testing.T) {
			req := []byte(method + " /" + cfg + "?cors HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
			r, took := exchange(t, host, req, preflightBound)
			if took > preflightBound {
				t.Errorf("answered after %v", took)
			}
			if len(method) > 32 {
				if r.status != http.StatusMethodNotAllowed || len(r.body) != 0 {
					t.Errorf("want Caddy's empty 405, got:\n%s", shorten([]byte(r.String())))
				}
			} else {
				assertS3Error(t, r, wantError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed",
					message: "The specified method is not allowed against this resource.",
					extras:  [][2]string{{"Method", method}, {"ResourceType", "BUCKET"}}})
			}
			assertResponsive(t, s.proxy, cfg)
		})
	}
}

// assertResponsive checks that the proxy still runs and answers a normal
// preflight at once; bucket must hold appRules.
func assertResponsive(t *testing.T, p *proxy, bucket string) {
	t.Helper()
	if p.proc.exited() {
		t.Fatalf("the proxy exited: %v", p.proc.err)
	}
	r, took := timed(t, corsRequest(t, http.MethodOptions, p.URL+"/"+bucket+"/k", appOrigin, "GET", ""))
	assertPreflight(t, r, readMatch(), nil)
	if took > preflightBound {
		t.Errorf("a normal preflight took %v", took)
	}
}
