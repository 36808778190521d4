#!/usr/bin/env python3
"""A webhook receiver for Trace's alerts, standard library only: checks each
request's Standard Webhooks signature (HMAC-SHA256 of `id.timestamp.body`
with the destination's secret), ignores a `webhook-id` it has already
accepted (retries repeat it), and prints each new alert as one JSON line.

    TRACE_WEBHOOK_SECRET=whsec_... python3 examples/receiver.py --port 8787
"""
import argparse, base64, hashlib, hmac, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECS = 300


def key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def valid(secret: bytes, msg_id: str, timestamp: str, body: bytes, signatures: str) -> bool:
    try:
        if abs(time.time() - int(timestamp)) > TOLERANCE_SECS:
            return False
    except ValueError:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(s.split(",", 1)[-1], expected) for s in signatures.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args()
    secret = key(os.environ["TRACE_WEBHOOK_SECRET"])
    seen = set()
    # Requests are handled on threads: one at a time past the signature.
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            h = self.headers
            if not valid(secret, h.get("webhook-id", ""), h.get("webhook-timestamp", ""), body, h.get("webhook-signature", "")):
                self.send_response(401)
                self.end_headers()
                return
            with lock:
                if h["webhook-id"] not in seen:
                    seen.add(h["webhook-id"])
                    print(json.dumps(json.loads(body)), flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"receiving on http://127.0.0.1:{args.port}/hook", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
