package s3

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// ReadBody reads the body of r, at most limit bytes. A longer body is
// ErrMaxMessageLengthExceeded, decided from Content-Length before anything is
// read when it says so, and otherwise after reading limit+1 bytes and no
// more, so a client that lies about the length or sends none cannot make the
// gateway buffer more. A body that ends early is ErrIncompleteBody. An empty
// body is nil.
func ReadBody(r *http.Request, limit int64) ([]byte, *Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, ErrMaxMessageLengthExceeded()
	}
	size := limit + 1
	if r.ContentLength >= 0 {
		// One byte more than announced, to see whether the body keeps going.
		size = r.ContentLength + 1
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, 64<<10)))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if int64(buf.Len()) > limit {
		return nil, ErrMaxMessageLengthExceeded()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, ErrMaxMessageLengthExceeded()
		}
		return nil, ErrIncompleteBody()
	}
	if buf.Len() == 0 {
		return nil, nil
	}
	return buf.Bytes(), nil
}
