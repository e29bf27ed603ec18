"""The function the network tests deploy: it tries what it is told and reports what happened."""

PROBE = r'''
import json, socket, threading

_held = []

def _connect(host, port, timeout):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            s.settimeout(timeout)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return "ok:" + data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
    except OSError as exc:
        return "error:" + type(exc).__name__

def _serve(sock):
    while True:
        c, _ = sock.accept()
        try:
            c.settimeout(2)
            c.recv(4096)  # read the request first: closing with it unread would reset the connection
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\nsandbox")
        except OSError:
            pass
        c.close()

def handler(event, context):
    out = {}
    for i, step in enumerate(event.get("steps", [])):
        kind = step["do"]
        if kind == "connect":
            out[str(i)] = _connect(step["host"], step["port"], step.get("timeout", 1.5))
        elif kind == "resolve":
            try:
                out[str(i)] = "ok:" + socket.gethostbyname(step["name"])
            except OSError as exc:
                out[str(i)] = "error:" + type(exc).__name__
        elif kind == "listen":
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", step["port"]))
            s.listen(8)
            _held.append(s)
            threading.Thread(target=_serve, args=(s,), daemon=True).start()
            out[str(i)] = "ok"
        elif kind == "address":
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.connect((step.get("via", "203.0.113.1"), 9))
                out[str(i)] = "ok:" + u.getsockname()[0]
            except OSError as exc:
                out[str(i)] = "error:" + type(exc).__name__
            finally:
                u.close()
        elif kind == "resolv.conf":
            with open("/etc/resolv.conf") as f:
                out[str(i)] = f.read()
        elif kind == "boto3":
            import boto3
            out[str(i)] = "ok:" + boto3.client("sts").get_caller_identity()["Arn"]
    return out
'''
