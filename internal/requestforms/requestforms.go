// Package requestforms reads the list of request forms that
// docs/request-forms.md explains (s3/testdata/request-forms.txt), for the
// tests that send every form: s3's, the handler's and the end-to-end ones.
package requestforms

import (
	"fmt"
	"os"
	"strings"
)

// Form is one line of the list: what the gateway must make of a request.
type Form struct {
	// Kind is an s3.Kind name (CORS, Preflight, CreateBucket, ...), or
	// "Refused/" and the S3 error code of the answer.
	Kind string
	// Method and Target make the request line, Target as sent on the wire.
	Method, Target string
	// Host is the Host header, "" for a host of no virtual host suffix; the
	// list's virtual host suffix is s3.example.com.
	Host string
}

// Refused returns the S3 error code of a refused form.
func (f Form) Refused() (code string, ok bool) { return strings.CutPrefix(f.Kind, "Refused/") }

// Load reads the list at path: one form a line, KIND METHOD TARGET [HOST],
// with '#' lines as comments.
func Load(path string) ([]Form, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var forms []Form
	for n, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 3 || len(fields) > 4 {
			return nil, fmt.Errorf("%s:%d: want KIND METHOD TARGET [HOST], got %q", path, n+1, line)
		}
		f := Form{Kind: fields[0], Method: fields[1], Target: fields[2]}
		if len(fields) == 4 {
			f.Host = fields[3]
		}
		forms = append(forms, f)
	}
	return forms, nil
}
