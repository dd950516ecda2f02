// Command browser-upload serves the browser-upload example: a static page
// that uploads a file to a bucket behind caddy-s3-cors and reads it back,
// and the small endpoint that presigns the page's requests, as a web app's
// backend would. The page is plain HTML and JavaScript; it also works from
// any static server with presigned URLs pasted into it.
//
// Usage:
//
//	AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
//	  go run ./examples/browser-upload -endpoint http://127.0.0.1:8080 -bucket demo
//
// then open http://localhost:8081/. The bucket's CORS rules must allow that
// origin: examples/cors/browser-upload.json does.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

//go:embed index.html app.js
var page embed.FS

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve the page on")
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "the S3 endpoint the page talks to: caddy-s3-cors")
	bucket := flag.String("bucket", "demo", "the bucket the page uploads to")
	region := flag.String("region", "us-east-1", "the SigV4 signing region")
	expires := flag.Duration("expires", 15*time.Minute, "how long a presigned URL stays valid")
	flag.Parse()

	creds := aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		log.Fatal("browser-upload: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key that may write to the bucket")
	}
	if _, err := url.ParseRequestURI(*endpoint); err != nil {
		log.Fatalf("browser-upload: -endpoint %q is not a URL such as http://127.0.0.1:8080: %v", *endpoint, err)
	}
	p := &presigner{
		endpoint: strings.TrimSuffix(*endpoint, "/"),
		bucket:   *bucket,
		region:   *region,
		expires:  *expires,
		creds:    creds,
		client: s3.NewPresignClient(s3.New(s3.Options{
			BaseEndpoint: endpoint,
			Region:       *region,
			UsePathStyle: true,
			Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		}), s3.WithPresignExpires(*expires)),
	}

	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(page))
	mux.HandleFunc("GET /presign", p.serveHTTP)
	// Listen first, so that "open ..." is printed only for a page that is
	// there.
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("browser-upload: %v (is the page already served there, by scripts/demo.sh for one? choose another -listen)", err)
	}
	_, port, _ := strings.Cut(*listen, ":")
	log.Printf("browser-upload: open http://localhost:%s/ to upload to %s/%s", port, p.endpoint, p.bucket)
	log.Fatal(http.Serve(l, mux))
}

// presigner signs, for one bucket, the three requests the page makes.
type presigner struct {
	endpoint string
	bucket   string
	region   string
	expires  time.Duration
	creds    aws.Credentials
	client   *s3.PresignClient
}

// presignedURLs is the answer to GET /presign?key=K&type=T.
type presignedURLs struct {
	Key  string `json:"key"`
	Put  string `json:"put"`
	Get  string `json:"get"`
	List string `json:"list"`
}

func (p *presigner) serveHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if key == "" {
		http.Error(w, "presign needs ?key=<object key>", http.StatusBadRequest)
		return
	}
	urls, err := p.presign(r.Context(), key, r.URL.Query().Get("type"))
	if err != nil {
		log.Printf("browser-upload: presigning %q: %v", key, err)
		http.Error(w, "presigning failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(urls)
}

func (p *presigner) presign(ctx context.Context, key, contentType string) (presignedURLs, error) {
	urls := presignedURLs{Key: key}
	in := &s3.PutObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)}
	if contentType != "" {
		// Signed, so the page must upload with exactly this Content-Type.
		in.ContentType = aws.String(contentType)
	}
	put, err := p.client.PresignPutObject(ctx, in)
	if err != nil {
		return urls, fmt.Errorf("PutObject: %w", err)
	}
	get, err := p.client.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(key)})
	if err != nil {
		return urls, fmt.Errorf("GetObject: %w", err)
	}
	list, err := p.presignList(ctx)
	if err != nil {
		return urls, fmt.Errorf("ListObjectsV2: %w", err)
	}
	urls.Put, urls.Get, urls.List = put.URL, get.URL, list
	return urls, nil
}

// presignList presigns ListObjectsV2 with the SigV4 signer itself: the SDK's
// presign client has no ListObjectsV2.
func (p *presigner) presignList(ctx context.Context) (string, error) {
	q := url.Values{
		"list-type":     {"2"},
		"max-keys":      {"100"},
		"X-Amz-Expires": {strconv.Itoa(int(p.expires / time.Second))},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.endpoint+"/"+url.PathEscape(p.bucket)+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	u, _, err := signer.PresignHTTP(ctx, p.creds, req, "UNSIGNED-PAYLOAD", "s3", p.region, time.Now())
	return u, err
}
