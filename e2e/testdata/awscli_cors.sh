#!/usr/bin/env bash
# Usage: awscli_cors.sh put|get|delete BUCKET [RULES.json]
#
# Runs the aws CLI's s3api put-bucket-cors, get-bucket-cors or
# delete-bucket-cors against $S3_ENDPOINT with the keys in AWS_ACCESS_KEY_ID
# and AWS_SECRET_ACCESS_KEY. Which CLI runs is up to the caller: the image's
# pip aws CLI v1, or Debian's v2 with PYENV_VERSION=system. A config file of
# its own (path-style addressing) keeps ~/.aws out of it.
set -euo pipefail
action=$1
bucket=$2
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >"$cfg"
export AWS_CONFIG_FILE=$cfg AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_MAX_ATTEMPTS=1 AWS_PAGER=
unset AWS_PROFILE AWS_DEFAULT_PROFILE
aws --version >&2
s3api=(aws s3api --endpoint-url "$S3_ENDPOINT" --output json)
case $action in
put) "${s3api[@]}" put-bucket-cors --bucket "$bucket" --cors-configuration "file://$3" ;;
get) "${s3api[@]}" get-bucket-cors --bucket "$bucket" ;;
delete) "${s3api[@]}" delete-bucket-cors --bucket "$bucket" ;;
*)
	echo "unknown action $action" >&2
	exit 2
	;;
esac
