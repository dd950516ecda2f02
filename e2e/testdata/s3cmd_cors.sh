#!/usr/bin/env bash
# Usage: s3cmd_cors.sh put|get|delete BUCKET [RULES.xml]
#
# Runs s3cmd setcors, info or delcors against $S3_ENDPOINT (http://host:port)
# with the keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, from a config
# file of its own: path-style (host_bucket without %(bucket)s), no TLS, SigV4.
# s3cmd sends ?cors with a trailing slash and Content-MD5.
set -euo pipefail
action=$1
bucket=$2
host=${S3_ENDPOINT#http://}
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
cat >"$cfg" <<CFG
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $host
host_bucket = $host
use_https = False
signature_v2 = False
bucket_location = us-east-1
CFG
s3cmd --version >&2
case $action in
put) s3cmd -c "$cfg" setcors "$3" "s3://$bucket" ;;
get) s3cmd -c "$cfg" info "s3://$bucket" ;;
delete) s3cmd -c "$cfg" delcors "s3://$bucket" ;;
*)
	echo "unknown action $action" >&2
	exit 2
	;;
esac
