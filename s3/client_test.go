package s3

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestCheckEndpoint(t *testing.T) {
	for raw, ok := range map[string]bool{
		"http://127.0.0.1:9000":        true,
		"https://s3.example.com/":      true,
		"127.0.0.1:9000":               false,
		"ftp://host":                   false,
		"http://":                      false,
		"":                             false,
		"http://[::1":                  false,
		"https://s3.example.com/minio": true,
	} {
		if err := CheckEndpoint(raw); (err == nil) != ok {
			t.Errorf("CheckEndpoint(%q) = %v, want ok %v", raw, err, ok)
		}
	}
}

func TestStatusOf(t *testing.T) {
	withStatus := func(code int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}
	}
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("wrapped: %w", withStatus(http.StatusForbidden)), http.StatusForbidden},
		{withStatus(http.StatusServiceUnavailable), http.StatusServiceUnavailable},
		{&smithy.GenericAPIError{Code: "NotFound"}, http.StatusNotFound},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, 0},
		{errors.New("dial tcp: connection refused"), 0},
	} {
		if got := StatusOf(c.err); got != c.want {
			t.Errorf("StatusOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
