"""Put, get or delete a bucket's CORS configuration with boto3's resource API.

Usage: python3 boto3_cors.py put|get|delete BUCKET

put reads the CORSRules list as JSON on stdin; get prints it as JSON on
stdout. An S3 error prints {"error": CODE} on stdout and exits with 3.
Environment: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
The same file runs under the image's pip boto3 (CRC32 checksums) and
Debian's boto3 (Content-MD5), which is the point of running both.
"""

import json
import os
import sys

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    action, bucket = sys.argv[1], sys.argv[2]
    print("boto3", boto3.__version__, "botocore", botocore.__version__, file=sys.stderr)
    s3 = boto3.resource(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )
    cors = s3.BucketCors(bucket)
    try:
        if action == "put":
            cors.put(CORSConfiguration={"CORSRules": json.load(sys.stdin)})
        elif action == "get":
            cors.load()
            json.dump(cors.cors_rules, sys.stdout)
        elif action == "delete":
            cors.delete()
        else:
            sys.exit("unknown action " + action)
    except ClientError as e:
        json.dump({"error": e.response["Error"]["Code"]}, sys.stdout)
        sys.exit(3)


if __name__ == "__main__":
    main()
