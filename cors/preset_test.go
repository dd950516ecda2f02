package cors

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestPresets(t *testing.T) {
	origins := []string{"https://app.example.com", "https://*.example.com", "http://localhost:8081", "https://app.example.com"}
	want := map[string]Rule{
		"read": {ID: "read", AllowedOrigins: origins[:3], AllowedMethods: []string{"GET", "HEAD"}, MaxAgeSeconds: intp(600)},
		"browser-upload": {ID: "browser-upload", AllowedOrigins: origins[:3], AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"},
			AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag", "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-sha1", "x-amz-checksum-sha256"},
			MaxAgeSeconds: intp(600)},
		"public-read": {ID: "public-read", AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD"}, MaxAgeSeconds: intp(600)},
	}
	names := PresetNames()
	if !reflect.DeepEqual(names, []string{"read", "browser-upload", "public-read"}) {
		t.Errorf("PresetNames() = %q", names)
	}
	for _, name := range names {
		given := origins
		if name == "public-read" {
			given = nil
		}
		c, err := Preset(name, given)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s does not validate: %v", name, err)
		}
		if ws := Lint(c); len(ws) > 0 {
			t.Errorf("%s: lint: %v", name, ws)
		}
		if !reflect.DeepEqual(c.Rules, []Rule{want[name]}) {
			t.Errorf("%s: %#v", name, c.Rules)
		}
		back, err := Parse(c.Marshal())
		if err != nil || !reflect.DeepEqual(back, c) {
			t.Errorf("%s does not survive Marshal and Parse: %v", name, err)
		}
		if PresetSummary(name) == "" {
			t.Errorf("%s has no summary", name)
		}
	}
	// The policy allows what the preset is for: an SDK's multipart upload.
	c, _ := Preset("browser-upload", []string{"https://app.example.com"})
	d := Compile(c).Preflight(preflightReq("https://app.example.com", "PUT", "amz-sdk-invocation-id,amz-sdk-request,authorization,content-type,x-amz-checksum-crc32,x-amz-content-sha256,x-amz-date,x-amz-sdk-checksum-algorithm,x-amz-user-agent"))
	if !d.Allowed() || !strings.Contains(written(d)["Access-Control-Expose-Headers"], "x-amz-checksum-crc32") {
		t.Errorf("browser-upload refuses the SDK's UploadPart preflight: %v %v", d.Reason(), written(d))
	}
}

func TestPresetErrors(t *testing.T) {
	var many []string
	for i := range 2000 {
		many = append(many, "https://app-"+strconv.Itoa(i)+".example.com")
	}
	tests := []struct {
		name    string
		origins []string
		want    string // in the error
	}{
		{"nope", []string{"https://a.example.com"}, `unknown preset "nope": the presets are read, browser-upload, public-read`},
		{"read", nil, `needs the origins of the pages it is for, such as https://app.example.com`},
		{"browser-upload", []string{}, "needs the origins"},
		{"public-read", []string{"https://a.example.com"}, `allows every origin ("*") and takes no origin; to allow only some, use preset "read"`},
		{"browser-upload", []string{"*"}, `use preset "public-read"`},
		{"read", []string{"https://a.example.com", "null"}, `origin "null"`},
		{"read", []string{"https://*.*.example.com"}, `more than one "*"`},
		{"read", []string{"https://a.example.com/"}, `origin "https://a.example.com/": browsers send an origin without a path or trailing slash. Use "https://a.example.com".`},
		{"read", []string{"a.example.com"}, `Use "https://a.example.com".`},
		{"read", []string{"https://A.example.com:443"}, `Use "https://a.example.com".`},
		{"read", []string{""}, `origin ""`},
		{"read", many, "more than S3's"},
	}
	for _, tt := range tests {
		c, err := Preset(tt.name, tt.origins)
		if err == nil {
			t.Errorf("Preset(%q, %q) = %v, want an error", tt.name, tt.origins, c)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Preset(%q) with %d origins: %v\nwant it to say %q", tt.name, len(tt.origins), err, tt.want)
		}
	}
	if PresetSummary("nope") != "" {
		t.Error("a summary for an unknown preset")
	}
}
