#!/usr/bin/env python3
"""rangeserver.py DIR: serves DIR's files over HTTP/1.1 on 127.0.0.1 with
single byte ranges (Range: bytes=A-B), ETag and Last-Modified, for
diskbench.sh; python3 -m http.server has no ranges. It prints
"listening on HOST:PORT" once ready. GET /__bytes answers the body bytes
served since the last /__bytes (ranged or not) and starts counting again.
"""
import email.utils
import http.server
import os
import re
import sys
import threading

ROOT = os.path.abspath(sys.argv[1])
lock = threading.Lock()
served = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        global served
        if self.path == "/__bytes":
            with lock:
                n, served = served, 0
            body = b"%d\n" % n
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = os.path.join(ROOT, os.path.normpath(self.path.split("?")[0]).lstrip("/"))
        if not path.startswith(ROOT + os.sep) or not os.path.isfile(path):
            self.send_error(404)
            return
        st = os.stat(path)
        size = st.st_size
        etag = '"%x-%x"' % (st.st_mtime_ns, size)
        start, end, status = 0, size, 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m and self.headers.get("If-Range", etag) in (etag, email.utils.formatdate(st.st_mtime, usegmt=True)):
            start = int(m.group(1))
            end = min(size, int(m.group(2)) + 1) if m.group(2) else size
            if start >= size or start >= end:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, size))
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)
        with lock:
            served += end - start - left


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
print("listening on %s:%d" % srv.server_address, flush=True)
srv.serve_forever()
