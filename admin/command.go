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
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "s3-cors",
		Usage: "list | get <bucket> | put <bucket> <file|-> | delete <bucket> | explain <bucket> [flags] | sync",
		Short: "Manages bucket CORS configurations through the admin API",
		Long: `
Lists, reads, stores and deletes the bucket CORS configurations of a running
Caddy with the s3_cors handler, and explains how a request would be decided.
It talks to Caddy's admin API (` + caddy.DefaultAdminListen + ` unless --address
or --config says otherwise), so it needs no SigV4 credentials.

  caddy s3-cors list
  caddy s3-cors get photos
  caddy s3-cors put photos cors.xml
  caddy s3-cors delete photos
  caddy s3-cors explain photos --key cat.jpg --origin https://app.example \
      --request-method PUT --request-headers content-type,x-amz-date
  caddy s3-cors sync

put takes a CORSConfiguration XML document, as PutBucketCors does; "-" reads
it from standard input. explain evaluates a preflight unless --method names
another HTTP method, and prints, for every rule, why it did or did not match.`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.Flags().String("address", "", "Address of the administration API listener (if --config is not used)")
			cmd.Flags().StringP("config", "c", "", "Configuration file (if --address is not used)")
			cmd.Flags().StringP("adapter", "a", "", "Name of config adapter to apply (if --config is used)")
			cmd.Flags().String("key", "", "explain: the object key of the request")
			cmd.Flags().String("method", http.MethodOptions, "explain: the HTTP method of the request")
			cmd.Flags().String("origin", "", "explain: the Origin header")
			cmd.Flags().String("request-method", "", "explain: the Access-Control-Request-Method header")
			cmd.Flags().String("request-headers", "", "explain: the Access-Control-Request-Headers header")
			cmd.Args = cobra.RangeArgs(1, 3)
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				return runCommand(cmd, args, os.Stdin, os.Stdout)
			}
		},
	})
}

func runCommand(cmd *cobra.Command, args []string, stdin io.Reader, stdout io.Writer) error {
	flags := cmd.Flags()
	addrFlag, _ := flags.GetString("address")
	configFlag, _ := flags.GetString("config")
	adapterFlag, _ := flags.GetString("adapter")
	addr, err := caddycmd.DetermineAdminAPIAddress(addrFlag, nil, configFlag, adapterFlag)
	if err != nil {
		return fmt.Errorf("finding the admin API: %w", err)
	}

	verb := args[0]
	arg := func(i int, what string) (string, error) {
		if len(args) <= i {
			return "", fmt.Errorf("%s needs %s", verb, what)
		}
		return args[i], nil
	}
	var (
		method, uri string
		body        io.Reader
	)
	switch verb {
	case "list":
		method, uri = http.MethodGet, basePath+"buckets"
	case "get", "delete":
		bucket, err := arg(1, "a bucket name")
		if err != nil {
			return err
		}
		method, uri = http.MethodGet, basePath+"buckets/"+url.PathEscape(bucket)
		if verb == "delete" {
			method = http.MethodDelete
		}
	case "put":
		bucket, err := arg(1, "a bucket name")
		if err != nil {
			return err
		}
		file, err := arg(2, "a CORSConfiguration file, or - for standard input")
		if err != nil {
			return err
		}
		doc, err := readDocument(file, stdin)
		if err != nil {
			return err
		}
		method, uri, body = http.MethodPut, basePath+"buckets/"+url.PathEscape(bucket), bytes.NewReader(doc)
	case "explain":
		bucket, err := arg(1, "a bucket name")
		if err != nil {
			return err
		}
		q := ExplainRequest{Bucket: bucket}
		q.Key, _ = flags.GetString("key")
		q.Method, _ = flags.GetString("method")
		q.Origin, _ = flags.GetString("origin")
		q.RequestMethod, _ = flags.GetString("request-method")
		if h, _ := flags.GetString("request-headers"); h != "" {
			q.RequestHeaders = []string{h}
		}
		b, err := json.Marshal(q)
		if err != nil {
			return err
		}
		method, uri, body = http.MethodPost, basePath+"explain", bytes.NewReader(b)
	case "sync":
		method, uri = http.MethodPost, basePath+"sync"
	default:
		return fmt.Errorf("unknown verb %q; use list, get, put, delete, explain or sync", verb)
	}

	var header http.Header
	if body != nil {
		header = http.Header{"Content-Type": {"application/xml"}}
		if verb == "explain" {
			header.Set("Content-Type", "application/json")
		}
	}
	res, err := caddycmd.AdminAPIRequest(addr, method, uri, header, body)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, err = io.Copy(stdout, res.Body)
	return err
}

func readDocument(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(stdin, maxRequestBody+1))
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no file %s", file)
	}
	if err == nil && !strings.Contains(string(b), "CORSConfiguration") {
		return nil, fmt.Errorf("%s is not a CORSConfiguration XML document", file)
	}
	return b, err
}
