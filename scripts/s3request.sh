# Sourced by the scripts that talk to an S3 store directly.
#
# s3_request METHOD URL [FILE]: sends one request signed with SigV4 for
#   us-east-1 with the key pair in S3_ACCESS_KEY and S3_SECRET_KEY, FILE as
#   its body (text/plain) if given; fails on an HTTP error. curl's SigV4 does
#   not add x-amz-content-sha256, so the body's hash is passed explicitly.

empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

s3_request() {
	local method=$1 url=$2 file=${3:-}
	local hash=$empty_sha256 data=()
	if [ -n "$file" ]; then
		hash=$(sha256sum "$file" | cut -d' ' -f1)
		data=(--data-binary "@$file" -H 'Content-Type: text/plain')
	fi
	curl -sS -f -o /dev/null -m 10 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
		-X "$method" -H "x-amz-content-sha256: $hash" "${data[@]}" "$url"
}
