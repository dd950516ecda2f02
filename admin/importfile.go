package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/s3cors/caddy-s3-cors/caddymodule"
	"github.com/s3cors/caddy-s3-cors/store"
)

// This file imports configurations from a file: the import route's NDJSON
// form, and `caddy s3-cors import <file>`, which checks the whole file and
// then sends it to that route in batches.

// Limits of one NDJSON import request. The command sends a file of any size
// in batches within them.
const (
	maxImportBody  = 16 << 20
	maxImportLines = 10000
)

// defaultImportBatch is how many lines the command sends per request.
const defaultImportBatch = 1000

// importSourceRequest is the source an NDJSON import request reports.
const importSourceRequest = "request"

// importFile serves POST /s3_cors/import with an NDJSON body. Every line is
// checked first: one invalid line, and nothing is stored. The query's
// replace and skip_bucket_check are the options.
func (a *API) importFile(w http.ResponseWriter, r *http.Request, app *caddymodule.App) error {
	var opts caddymodule.BulkImportOptions
	for name, values := range r.URL.Query() {
		var flag *bool
		switch name {
		case "replace":
			flag = &opts.Replace
		case "skip_bucket_check":
			flag = &opts.SkipBucketCheck
		default:
			return apiError(http.StatusBadRequest, fmt.Errorf("unknown query parameter %q of an NDJSON import (it takes replace and skip_bucket_check)", name))
		}
		v, err := strconv.ParseBool(values[len(values)-1])
		if err != nil {
			return apiError(http.StatusBadRequest, fmt.Errorf("query parameter %s must be true or false, not %q", name, values[len(values)-1]))
		}
		*flag = v
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxImportBody+1))
	if err != nil {
		return apiError(http.StatusBadRequest, fmt.Errorf("reading the import request: %w", err))
	}
	if len(data) > maxImportBody {
		return apiError(http.StatusRequestEntityTooLarge, fmt.Errorf("an NDJSON import request holds at most %d MiB; send the file in batches, as `caddy s3-cors import <file>` does", maxImportBody>>20))
	}
	entries, bad := parseImport(data)
	if n := len(entries) + len(bad); n > maxImportLines {
		return apiError(http.StatusRequestEntityTooLarge, fmt.Errorf("an NDJSON import request holds at most %d lines, this one %d; send the file in batches, as `caddy s3-cors import <file>` does", maxImportLines, n))
	}
	if len(bad) > 0 {
		lines := make([]string, len(bad))
		for i, e := range bad {
			lines[i] = e.String()
		}
		return apiError(http.StatusBadRequest, fmt.Errorf("%d of %s are invalid, so nothing was stored: %s",
			len(bad), plural(len(entries)+len(bad), "line"), strings.Join(lines, "; ")))
	}
	items := make([]store.Item, len(entries))
	for i, e := range entries {
		items[i] = e.item
	}
	report, err := app.ImportConfigurations(r.Context(), importSourceRequest, items, opts)
	if err != nil {
		return apiError(http.StatusBadRequest, err)
	}
	return writeJSON(w, report)
}

// runImportFile is `caddy s3-cors import <file|->`: it reads the file once,
// checks every line and, only if all are valid, sends them to the admin
// API in batches, showing the progress on a terminal. It prints a line for
// each bucket that was skipped or failed, then the summary.
func runImportFile(cmd *cobra.Command, addr, file string) error {
	flags := cmd.Flags()
	batch, _ := flags.GetInt("batch-size")
	if batch < 1 || batch > maxImportLines {
		return fmt.Errorf("--batch-size must be 1 to %d, not %d", maxImportLines, batch)
	}
	query := url.Values{}
	for flag, param := range map[string]string{"replace": "replace", "skip-bucket-check": "skip_bucket_check"} {
		if on, _ := flags.GetBool(flag); on {
			query.Set(param, "true")
		}
	}
	uri := basePath + "import"
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}

	data, name, err := readImportFile(file, cmd.InOrStdin())
	if err != nil {
		return err
	}
	entries, bad := parseImport(data)
	if len(bad) > 0 {
		stderr := cmd.ErrOrStderr()
		for _, e := range bad {
			fmt.Fprintf(stderr, "%s:%d: %s\n", name, e.line, e.text)
		}
		return fmt.Errorf("%d of %s of %s are invalid; nothing was imported", len(bad), plural(len(entries)+len(bad), "line"), name)
	}

	out := cmd.OutOrStdout()
	progress := newProgressLine(out)
	report := caddymodule.ImportReport{Source: name, Results: make([]caddymodule.ImportResult, 0, len(entries))}
	stored := 0
	for first := 0; first < len(entries); {
		end := batchEnd(entries, first, batch)
		part, err := sendImportBatch(addr, uri, data[entries[first].start:entries[end-1].end])
		if err != nil {
			progress.clear()
			_ = printImport(out, report, false)
			return fmt.Errorf("importing lines %d to %d of %s: %w (the lines before were imported; these and the rest were not)",
				entries[first].line, entries[end-1].line, name, err)
		}
		report.Results = append(report.Results, part.Results...)
		stored += part.Count(caddymodule.ImportImported) + part.Count(caddymodule.ImportReplaced)
		progress.update(stored, len(entries))
		first = end
	}
	progress.clear()
	return printImport(out, report, false)
}

// batchEnd is where the batch that starts at entries[first] ends: after at
// most size lines, and before the lines would exceed what one request may
// hold.
func batchEnd(entries []importEntry, first, size int) int {
	end := first + 1
	for end < len(entries) && end-first < size && entries[end].end-entries[first].start <= maxImportBody {
		end++
	}
	return end
}

// sendImportBatch sends lines, as read from the file, to the import route.
func sendImportBatch(addr, uri string, lines []byte) (caddymodule.ImportReport, error) {
	var report caddymodule.ImportReport
	res, err := caddycmd.AdminAPIRequest(addr, http.MethodPost, uri, http.Header{"Content-Type": {ndjsonType}}, bytes.NewReader(lines))
	if err != nil {
		return report, adminFailure(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&report); err != nil {
		return report, fmt.Errorf("reading the admin API's answer: %w", err)
	}
	return report, nil
}

// readImportFile reads an import file whole, or standard input for "-",
// and names it for messages.
func readImportFile(file string, stdin io.Reader) ([]byte, string, error) {
	if file == "-" {
		data, err := io.ReadAll(stdin)
		return data, "standard input", err
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, file, fmt.Errorf("no file %s", file)
	}
	return data, file, err
}
