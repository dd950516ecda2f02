package s3

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// countingReader serves an endless or finite stream and counts what was read.
type countingReader struct {
	r    io.Reader
	read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadBody(t *testing.T) {
	const limit = 64
	endless := func() io.Reader { return strings.NewReader(strings.Repeat("x", 1<<20)) }
	tests := []struct {
		name     string
		body     io.Reader
		length   int64 // Content-Length; -1 unknown
		want     string
		code     string // error code, "" for success
		maxRead  int64  // at most this much may be read
		nilBody  bool
		noBody   bool
		exactNil bool // the result must be nil
	}{
		{name: "small body", body: strings.NewReader("hello"), length: 5, want: "hello", maxRead: 5},
		{name: "exactly the limit", body: strings.NewReader(strings.Repeat("a", limit)), length: limit, want: strings.Repeat("a", limit), maxRead: limit},
		{name: "unknown length within the limit", body: strings.NewReader("chunked"), length: -1, want: "chunked", maxRead: 7},
		{name: "announced too long: nothing is read", body: endless(), length: limit + 1, code: "MaxMessageLengthExceeded", maxRead: 0},
		{name: "unknown length, too long", body: endless(), length: -1, code: "MaxMessageLengthExceeded", maxRead: limit + 1},
		{name: "announced short, sent long", body: endless(), length: 10, code: "MaxMessageLengthExceeded", maxRead: limit + 1},
		{name: "shorter than announced", body: io.MultiReader(strings.NewReader("abc"), iotestErrUnexpectedEOF{}), length: 10, code: "IncompleteBody", maxRead: 3},
		{name: "read error", body: failingReader{}, length: 10, code: "IncompleteBody"},
		{name: "empty body is nil", body: strings.NewReader(""), length: 0, exactNil: true},
		{name: "nil body", nilBody: true, exactNil: true},
		{name: "http.NoBody", noBody: true, exactNil: true},
		{name: "MaxBytesReader below the limit", body: http.MaxBytesReader(nil, io.NopCloser(endless()), 10), length: -1, code: "MaxMessageLengthExceeded", maxRead: 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var counter *countingReader
			r := httptest.NewRequest("PUT", "/b?cors", nil)
			switch {
			case tt.nilBody:
				r.Body = nil
			case tt.noBody:
				r.Body = http.NoBody
			default:
				counter = &countingReader{r: tt.body}
				r.Body = io.NopCloser(counter)
				r.ContentLength = tt.length
			}
			got, err := ReadBody(r, limit)
			if tt.code != "" {
				if err == nil || err.Code != tt.code || got != nil {
					t.Fatalf("ReadBody = %q, %v; want %s", got, err, tt.code)
				}
			} else if err != nil || string(got) != tt.want {
				t.Fatalf("ReadBody = %q, %v; want %q", got, err, tt.want)
			}
			if tt.exactNil && got != nil {
				t.Errorf("got %#v, want nil", got)
			}
			if counter != nil && tt.maxRead > 0 && counter.read > tt.maxRead {
				t.Errorf("read %d bytes, want at most %d", counter.read, tt.maxRead)
			}
			if counter != nil && tt.maxRead == 0 && tt.code == "MaxMessageLengthExceeded" && counter.read != 0 {
				t.Errorf("read %d bytes of a body announced too long", counter.read)
			}
		})
	}
}

type iotestErrUnexpectedEOF struct{}

func (iotestErrUnexpectedEOF) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestReadBodyOnTheWire sends bodies through a real server, whose body
// reader enforces Content-Length, with the ?cors limit of 64 KiB.
func TestReadBodyOnTheWire(t *testing.T) {
	const limit = 64 << 10
	results := make(chan *Error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := ReadBody(r, limit)
		results <- err
	}))
	defer srv.Close()
	for _, size := range []int{limit, limit + 1} {
		body := bytes.Repeat([]byte("x"), size)
		for _, chunked := range []bool{false, true} {
			var reader io.Reader = bytes.NewReader(body)
			if chunked {
				reader = io.MultiReader(reader) // hides the length: sent chunked
			}
			req, _ := http.NewRequest("PUT", srv.URL+"/b?cors", reader)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			err2 := <-results
			if tooBig := size > limit; tooBig != (err2 != nil && err2.Code == "MaxMessageLengthExceeded") {
				t.Errorf("size %d chunked %v: %v", size, chunked, err2)
			}
		}
	}
}
