package e2e

import "net/http"

// Origins the fixtures' rules allow, or do not.
const (
	appOrigin  = "https://app.example.com"
	devOrigin  = "http://feature.dev.example.com" // matches http://*.dev.example.com
	evilOrigin = "https://evil.example"
)

// appRules is the main fixture: an upload rule that allows request headers,
// then a read rule for the same origin. A GET preflight from appOrigin fails
// the first rule on its method and must fall through to the second.
var appRules = []corsRule{
	{
		ID:             "uploads",
		AllowedHeaders: []string{"Content-Type", "x-amz-*"},
		AllowedMethods: []string{"PUT", "POST", "DELETE"},
		AllowedOrigins: []string{appOrigin, "http://*.dev.example.com"},
		ExposeHeaders:  []string{"ETag", "x-amz-request-id"},
		MaxAgeSeconds:  maxAge(3000),
	},
	{
		AllowedMethods: []string{"GET", "HEAD"},
		AllowedOrigins: []string{appOrigin},
		ExposeHeaders:  []string{"ETag"},
		MaxAgeSeconds:  maxAge(600),
	},
}

// publicRules lets any origin read.
var publicRules = []corsRule{{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}}}

// uploadsMatch is what a match of appRules[0] sends; acah is the expected
// Access-Control-Allow-Headers ("" for none).
func uploadsMatch(origin, acah string) map[string]string {
	h := map[string]string{
		hACAO: origin,
		hACAC: "true",
		hACAM: "PUT, POST, DELETE",
		hACEH: "ETag, x-amz-request-id",
		hACMA: "3000",
	}
	if acah != "" {
		h[hACAH] = acah
	}
	return h
}

// readMatch is what a match of appRules[1] sends.
func readMatch() map[string]string {
	return map[string]string{
		hACAO: appOrigin,
		hACAC: "true",
		hACAM: "GET, HEAD",
		hACEH: "ETag",
		hACMA: "600",
	}
}

// publicMatch is what a match of publicRules sends: no credentials with *.
func publicMatch() map[string]string {
	return map[string]string{hACAO: "*", hACAM: "GET"}
}

// The preflight refusals of spec B.1, byte for byte.
const (
	msgNoOrigin       = "Insufficient information. Origin request header needed."
	msgBucketNotFound = "CORSResponse: Bucket not found"
	msgNotEnabled     = "CORSResponse: CORS is not enabled for this bucket."
	msgNotAllowed     = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
	msgMalformedXML   = "The XML you provided was not well-formed or did not validate against our published schema"
)

func forbidden(message, method, resourceType string) *wantError {
	return &wantError{
		status:  http.StatusForbidden,
		code:    "AccessForbidden",
		message: message,
		extras:  [][2]string{{"Method", method}, {"ResourceType", resourceType}},
	}
}

func badRequest(message string) *wantError {
	return &wantError{status: http.StatusBadRequest, code: "BadRequest", message: message, extras: [][2]string{}}
}

func invalidRequest(message string) *wantError {
	return &wantError{status: http.StatusBadRequest, code: "InvalidRequest", message: message, extras: [][2]string{}}
}

func malformedXML() *wantError {
	return &wantError{status: http.StatusBadRequest, code: "MalformedXML", message: msgMalformedXML, extras: [][2]string{}}
}
