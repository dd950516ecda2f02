package admin

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/cors"
	"github.com/s3cors/caddy-s3-cors/s3"
	"github.com/s3cors/caddy-s3-cors/store"
)

// This file lints configurations: the lint route, for a bucket's, and
// `caddy s3-cors lint`, which lints a file itself and asks the route for a
// bucket. Both give cors.Lint's warnings, and print them alike.

// LintReport is the answer of GET /s3_cors/lint/{bucket}: what in the
// bucket's configuration S3 accepts but browsers or SDKs will trip on.
type LintReport struct {
	Bucket string `json:"bucket,omitempty"`
	// Rules is how many rules the configuration has.
	Rules int `json:"rules"`
	// Warnings are cors.Lint's, rule by rule; empty when there is none.
	Warnings []cors.Warning `json:"warnings"`
}

// lintReport lints cfg.
func lintReport(bucket string, cfg *cors.Configuration) LintReport {
	ws := cors.Lint(cfg)
	if ws == nil {
		ws = []cors.Warning{}
	}
	return LintReport{Bucket: bucket, Rules: len(cfg.Rules), Warnings: ws}
}

// lint serves GET /s3_cors/lint/{bucket}. A bucket without a configuration
// of its own gets NoSuchCORSConfiguration, as GetBucketCors answers, also
// when a default serves it: the default is a file, linted as one.
func (a *API) lint(w http.ResponseWriter, st *store.Store, bucket string) error {
	if !s3.ValidBucketName(bucket) {
		return s3Error(bucket, s3.ErrInvalidBucketName(bucket))
	}
	live := st.Lookup(bucket).Live
	if live == nil {
		return s3Error(bucket, s3.ErrNoSuchCORSConfiguration(bucket))
	}
	return writeJSON(w, lintReport(bucket, live.Configuration()))
}

// runLint is `caddy s3-cors lint <file|bucket>`. An argument that names a
// file (or - for standard input) is linted here, with no admin API;
// anything else is a bucket, whose configuration the lint route lints.
func runLint(cmd *cobra.Command, arg string) error {
	var (
		name   string
		report LintReport
	)
	if _, err := os.Stat(arg); err == nil || arg == "-" {
		doc, err := readDocument(arg, cmd.InOrStdin())
		if err != nil {
			return err
		}
		if arg == "-" {
			name = "standard input"
		} else {
			name = arg
		}
		cfg, err := cors.Parse(doc)
		if err != nil {
			return fmt.Errorf("%s: %s", name, caddymodule.DescribeParseError(err))
		}
		report = lintReport("", cfg)
	} else {
		if !s3.ValidBucketName(arg) {
			return fmt.Errorf("no file %s, and it is no bucket name either (%s)", arg, s3.ErrInvalidBucketName(arg).Message)
		}
		addr, err := adminAddress(cmd)
		if err != nil {
			return err
		}
		res, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, basePath+"lint/"+url.PathEscape(arg), nil, nil)
		if err != nil {
			return fmt.Errorf("%w (and there is no file %s)", adminFailure(err), arg)
		}
		defer res.Body.Close()
		if report, err = decodeAnswer[LintReport](res.Body); err != nil {
			return err
		}
		name = "bucket " + arg
	}
	strict, _ := cmd.Flags().GetBool("strict")
	return printLint(cmd.OutOrStdout(), name, report, strict)
}

// printLint prints a line per warning, with the name of what was linted,
// or one line saying there is none. With strict, warnings are an error.
func printLint(out io.Writer, name string, r LintReport, strict bool) error {
	if len(r.Warnings) == 0 {
		_, err := fmt.Fprintf(out, "%s: no warnings (%s)\n", name, plural(r.Rules, "rule"))
		return err
	}
	for _, w := range r.Warnings {
		if _, err := fmt.Fprintf(out, "%s: %s\n", name, w); err != nil {
			return err
		}
	}
	if strict {
		return fmt.Errorf("%s: %s, and --strict makes warnings fail", name, plural(len(r.Warnings), "lint warning"))
	}
	return nil
}
