package cors

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// preset is a configuration Preset makes: one rule, with the preset's name
// as its ID and a MaxAgeSeconds every browser keeps (see Lint).
type preset struct {
	name, summary string
	rule          Rule // without origins
	anyOrigin     bool // the preset's origin is "*", and it takes none
}

// presets are in the order PresetNames lists them.
var presets = []preset{
	{
		name:    "read",
		summary: "GET and HEAD from the given origins",
		rule:    Rule{AllowedMethods: []string{"GET", "HEAD"}},
	},
	{
		name:    "browser-upload",
		summary: "uploads from pages of the given origins, multipart and signed by the AWS SDK for JavaScript v3 included: GET PUT POST DELETE HEAD, any request header, ETag and the x-amz-checksum-* headers exposed",
		rule: Rule{
			AllowedMethods: []string{"GET", "PUT", "POST", "DELETE", "HEAD"},
			AllowedHeaders: []string{"*"},
			// What the SDK's multipart Upload reads from each part's
			// response (lint.go says why).
			ExposeHeaders: []string{"ETag", "x-amz-checksum-crc32", "x-amz-checksum-crc32c", "x-amz-checksum-sha1", "x-amz-checksum-sha256"},
		},
	},
	{
		name:      "public-read",
		summary:   "GET and HEAD from any origin (Access-Control-Allow-Origin: *)",
		rule:      Rule{AllowedMethods: []string{"GET", "HEAD"}},
		anyOrigin: true,
	},
}

// presetMaxAge is the MaxAgeSeconds of every preset: the most that every
// browser keeps.
const presetMaxAge = 600

// PresetNames returns the names Preset knows, in the order to list them.
func PresetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.name
	}
	return names
}

// PresetSummary returns one line saying what the preset name allows, for
// help texts; "" for a name Preset does not know.
func PresetSummary(name string) string {
	if i := slices.IndexFunc(presets, func(p preset) bool { return p.name == name }); i >= 0 {
		return presets[i].summary
	}
	return ""
}

// Preset returns the configuration of the preset name for the origins
// given, such as "https://app.example.com" or "https://*.example.com": a
// valid configuration that Lint finds nothing in. "read" and
// "browser-upload" need at least one origin and refuse "*" (use
// "public-read" for any site); "public-read" allows every origin and takes
// none. Each origin must be one browsers send (Lint's origin-never-matches)
// with at most one "*"; duplicates are dropped. The errors say what to
// give instead.
func Preset(name string, origins []string) (*Configuration, error) {
	i := slices.IndexFunc(presets, func(p preset) bool { return p.name == name })
	if i < 0 {
		return nil, fmt.Errorf("unknown preset %q: the presets are %s", name, strings.Join(PresetNames(), ", "))
	}
	p := presets[i]
	r := Rule{
		ID:             p.name,
		AllowedMethods: slices.Clone(p.rule.AllowedMethods),
		AllowedHeaders: slices.Clone(p.rule.AllowedHeaders),
		ExposeHeaders:  slices.Clone(p.rule.ExposeHeaders),
		MaxAgeSeconds:  new(int),
	}
	*r.MaxAgeSeconds = presetMaxAge
	switch {
	case p.anyOrigin && len(origins) > 0:
		return nil, fmt.Errorf("preset %q allows every origin (\"*\") and takes no origin; to allow only some, use preset \"read\" with them", name)
	case p.anyOrigin:
		r.AllowedOrigins = []string{"*"}
	case len(origins) == 0:
		return nil, fmt.Errorf("preset %q needs the origins of the pages it is for, such as https://app.example.com", name)
	}
	for _, o := range origins {
		if err := presetOrigin(name, o); err != nil {
			return nil, err
		}
		if !slices.Contains(r.AllowedOrigins, o) {
			r.AllowedOrigins = append(r.AllowedOrigins, o)
		}
	}
	c := &Configuration{Rules: []Rule{r}}
	if err := c.Validate(); err != nil {
		return nil, err // not reached: the checks above are stricter
	}
	if n := len(c.Marshal()); n > MaxDocumentSize {
		return nil, fmt.Errorf("%d origins make a document of %d bytes, more than S3's %d: give fewer, or a pattern such as https://*.example.com", len(r.AllowedOrigins), n, MaxDocumentSize)
	}
	return c, nil
}

// presetOrigin checks an origin given to a preset.
func presetOrigin(preset, o string) error {
	switch {
	case o == "*":
		return fmt.Errorf("origin \"*\": preset %q is for the pages of given origins; for reads from any site use preset \"public-read\"", preset)
	case o == "null":
		return errors.New(`origin "null": every sandboxed page and local file sends it, so it allows no page in particular; give the origin of the page`)
	case strings.Count(o, "*") > 1:
		return fmt.Errorf("origin %s has more than one \"*\", which S3 refuses: give one pattern per domain, such as https://*.example.com", strconv.Quote(o))
	}
	if why, fix := originProblem(o); why != "" {
		return fmt.Errorf("origin %s: %s. %s", strconv.Quote(o), why, fix)
	}
	return nil
}
