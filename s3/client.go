package s3

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// This file holds what the gateway needs as a client of the S3 store
// behind it: the upstream's bucket checks and imports, and the bucket that
// bucket_storage keeps configurations in, both talk to it with
// aws-sdk-go-v2.

// CheckEndpoint checks that raw is the base URL of an S3 store: http or
// https, with a host.
func CheckEndpoint(raw string) error {
	ep, err := url.Parse(raw)
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		return fmt.Errorf("endpoint %q must be an http:// or https:// URL", raw)
	}
	return nil
}

// StatusOf is the HTTP status of a failed aws-sdk-go-v2 call, or 0 when the
// call got no response. A HeadBucket answered 404 has no error body, so the
// SDK reports only the code NotFound: that is a 404 too.
func StatusOf(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NotFound" {
		return http.StatusNotFound
	}
	return 0
}
