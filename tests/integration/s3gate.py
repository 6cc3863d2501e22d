#!/usr/bin/env python3
"""s3gate.py PORT UPSTREAM_PORT ACCESS SECRET PRIVATE_BUCKET LOG [DELAY_FILE [FAIL_FILE]]

A gate in front of s3rver (which stores objects but, in its 3.x releases, does not check
Signature Version 4 at all): every request that carries an AWS4-HMAC-SHA256 Authorization is
checked with botocore's own signer (an implementation independent of libcurl's) against ACCESS
and SECRET, and refused as S3 refuses it (403 SignatureDoesNotMatch, 403 InvalidAccessKeyId);
an unsigned request to PRIVATE_BUCKET is 403 AccessDenied; the rest goes to s3rver on
127.0.0.1:UPSTREAM_PORT. Each request is one line of LOG: "METHOD PATH STATUS". While
DELAY_FILE exists, every PUT waits the seconds it holds (a test stops an upload half way); while
FAIL_FILE holds a number above 0, a PUT is answered 503 SlowDown and the number lowered.
"""
import http.client
import http.server
import sys
import time

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

port, up_port, access, secret, private, log_path = (int(sys.argv[1]), int(sys.argv[2]),
                                                    sys.argv[3], sys.argv[4], sys.argv[5],
                                                    sys.argv[6])
delay_file = sys.argv[7] if len(sys.argv) > 7 else None
fail_file = sys.argv[8] if len(sys.argv) > 8 else None


def fail_now():
    """True when this PUT is to be refused with a 503 (FAIL_FILE's count, lowered)."""
    try:
        n = int(open(fail_file).read())
    except (OSError, ValueError, TypeError):
        return False
    if n <= 0:
        return False
    open(fail_file, "w").write(str(n - 1))
    return True
log = open(log_path, "a", buffering=1)


def refusal(code):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
            '<Message>refused by the test gate</Message></Error>' % code).encode()


def check(method, path, headers):
    """None when the request may go on, else the S3 error code."""
    auth = headers.get("Authorization", "")
    bucket = path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
    if not auth:
        return "AccessDenied" if bucket == private else None
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "AccessDenied"
    parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    cred = parts["Credential"].split("/")
    if cred[0] != access:
        return "InvalidAccessKeyId"
    signed = parts["SignedHeaders"].split(";")
    req = AWSRequest(method=method, url="http://%s%s" % (headers["Host"], path),
                     headers={h: headers[h] for h in signed if h in headers})
    if "x-amz-content-sha256" not in headers:
        return "InvalidRequest"
    if "x-amz-content-sha256" not in signed:
        req.headers["X-Amz-Content-SHA256"] = headers["x-amz-content-sha256"]
    req.context["timestamp"] = headers["x-amz-date"]
    signer = S3SigV4Auth(Credentials(access, secret), cred[3], cred[2])
    sts = signer.string_to_sign(req, signer.canonical_request(req))
    return None if signer.signature(sts, req) == parts["Signature"] else "SignatureDoesNotMatch"


class Gate(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        try:
            why = check(self.command, self.path, self.headers)
        except (KeyError, ValueError, IndexError):
            why = "AuthorizationHeaderMalformed"
        if not why and self.command == "PUT" and fail_file and fail_now():
            why = "SlowDown"
        if why:
            status = 400 if why in ("InvalidRequest", "AuthorizationHeaderMalformed") else \
                503 if why == "SlowDown" else 403
            data, hdrs = refusal(why), [("Content-Type", "application/xml")]
        else:
            if self.command == "PUT" and delay_file:
                try:
                    time.sleep(float(open(delay_file).read()))
                except (OSError, ValueError):
                    pass
            c = http.client.HTTPConnection("127.0.0.1", up_port, timeout=30)
            fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("authorization",
                                                                              "connection")}
            c.request(self.command, self.path, body=body, headers=fwd)
            r = c.getresponse()
            data = r.read()
            status = r.status
            hdrs = [(k, v) for k, v in r.getheaders()
                    if k.lower() not in ("content-length", "connection", "transfer-encoding")]
            if self.command == "HEAD":
                data = b""
                length = r.getheader("Content-Length", "0")
            c.close()
        if self.command != "HEAD" or why:
            length = str(len(data))
        log.write("%s %s %d\n" % (self.command, self.path, status))
        self.send_response(status)
        for k, v in hdrs:
            self.send_header(k, v)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = handle_any


http.server.ThreadingHTTPServer(("127.0.0.1", port), Gate).serve_forever()
