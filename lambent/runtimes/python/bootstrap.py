# mypy: ignore-errors
# (Runs on Python 3.9-3.13 with -S and no typing import; checked by its tests, not by mypy.)
"""lambent's runtime client for Python functions; runs INSIDE the sandbox, one process per environment.

Started as ``/usr/bin/python3.11 -S -u -P -c "import bootstrap; ..." /var/runtime/bootstrap.py``
(imported, so it loads from the byte-compiled file ``control/runtimes.py`` wrote; the handler comes
from ``_HANDLER``, or argv[1]). Standard library only, Python 3.9 to 3.13, nothing from lambent.

It behaves as AWS's Python runtime interface client, awslambdaric
(aws/aws-lambda-python-runtime-interface-client, ``awslambdaric/bootstrap.py``): the same handler
resolution, the same init and invocation error shapes, the same log lines, the same context
object, and it speaks the Runtime API 2018-06-01
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) over ``AWS_LAMBDA_RUNTIME_API``.

Cold start matters here, so the module imports only what the first /next needs (``_socket``
rather than ``socket``, no ``http.client``) and ``json`` last, just before the first /next; ``traceback`` is imported on the error path and ``logging`` is
configured the moment user code imports it.
"""

import os
import sys
import time

import _socket

_API = "/2018-06-01/runtime/"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# Bodies from this size on are received into one preallocated buffer and sent without a copy.
_LARGE_BODY_BYTES = 65536
_ERROR_LOG_LINE_TERMINATOR = "\r"  # one CloudWatch event per error, as awslambdaric writes it
_ERROR_LOG_INDENT = "\u00a0"  # awslambdaric indents traceback lines with NO-BREAK SPACE
_LAMBDA_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. To determine if the runtime has been updated, check the "
    "runtime version in the INIT_START log entry. If this error correlates with a change in the "
    "runtime version, you may be able to mitigate this error by temporarily rolling back to the "
    "previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)

_request_id = None  # the invocation being handled, for log lines; None during init
json = None  # imported at the end of init, just before the first /next (see _RuntimeLoop.run)


class _Fault(Exception):
    """A failure the runtime reports with its own error type (awslambdaric's FaultException)."""

    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


# -- Runtime API client -------------------------------------------------------------------------


class _RuntimeApiClient:
    """One keep-alive HTTP/1.1 connection to the Runtime API; lives as long as the process.

    A deliberately small client on ``_socket``: requests carry Content-Length, responses may be
    Content-Length, chunked or close-delimited. A connection the server dropped while idle is
    re-opened once.
    """

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        family = _socket.AF_INET
        if host.startswith("["):
            host, family = host[1:-1], _socket.AF_INET6
        self._address = (host or "127.0.0.1", int(port))
        self._family = family
        self._host_header = address
        self._sock = None
        self._buf = b""

    def _connect(self):
        sock = _socket.socket(self._family, _socket.SOCK_STREAM)
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        sock.connect(self._address)
        self._sock = sock
        self._buf = b""

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._buf = b""

    def send(self, method, path, body=b"", headers=None):
        """Send one request; a connection found dead is replaced once."""
        head = "%s %s%s HTTP/1.1\r\nHost: %s\r\n" % (method, _API, path, self._host_header)
        if headers:
            for name, value in headers.items():
                head += "%s: %s\r\n" % (name, value)
        if method != "GET":
            head += "Content-Length: %d\r\n" % len(body)
        head = (head + "\r\n").encode("latin-1")
        # A small request goes out as one segment (TCP_NODELAY); a large body is sent as it is,
        # not copied behind the head: a copy of 6 MB costs a 128 MB function ~0.1 s of its CPU share.
        parts = (head + body,) if len(body) < _LARGE_BODY_BYTES else (head, body)
        for attempt in (0, 1):
            if self._sock is None:
                self._connect()
            try:
                for part in parts:
                    self._sock.sendall(part)
                return
            except OSError:
                self._close()
                if attempt:
                    raise

    def receive(self):
        """Read one response: (status, {lowercase header: value}, body)."""
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self._buf[:end].decode("latin-1").split("\r\n")
        self._buf = self._buf[end + 4 :]
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked()
        elif "content-length" in headers:
            body = self._read_exactly(int(headers["content-length"]))
        elif status in (204, 304) or status < 200:
            body = b""
        else:
            body = self._read_to_close()
        if headers.get("connection", "").lower() == "close":
            self._close()
        return status, headers, body

    def request(self, method, path, body=b"", headers=None):
        """Send and receive; a request whose connection dropped before any answer is re-sent."""
        for attempt in (0, 1):
            self.send(method, path, body, headers)
            try:
                return self.receive()
            except ConnectionError:
                self._close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")  # pragma: no cover

    def _fill(self):
        chunk = self._sock.recv(65536) if self._sock is not None else b""
        if not chunk:
            self._close()
            raise ConnectionError("Runtime API closed the connection")
        self._buf += chunk

    def _read_exactly(self, n):
        buf = self._buf
        if len(buf) < n and n >= _LARGE_BODY_BYTES:
            return self._read_large(n)
        while len(buf) < n:
            self._fill()
            buf = self._buf
        body, self._buf = buf[:n], buf[n:]
        return body

    def _read_large(self, n):
        """Read a body of ``n`` bytes into one buffer allocated once (a bytearray).

        Appending 64 KB reads to a bytes object copies the body over and over: for a 6 MB
        event that is ~300 MB of copying and fresh pages, seconds at a 128 MB function's CPU
        share. recv_into a buffer of the announced size copies each byte once.
        """
        body = bytearray(n)
        view = memoryview(body)
        have = len(self._buf)
        view[:have] = self._buf
        self._buf = b""
        sock = self._sock
        while have < n:
            got = sock.recv_into(view[have:]) if sock is not None else 0
            if not got:
                view.release()
                self._close()
                raise ConnectionError("Runtime API closed the connection")
            have += got
        view.release()
        return body

    def _read_line(self):
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line, self._buf = self._buf[:end], self._buf[end + 2 :]
                return line
            self._fill()

    def _read_chunked(self):
        parts = []
        while True:
            size = int(self._read_line().split(b";", 1)[0], 16)
            if size == 0:
                while self._read_line():  # trailers, then the blank line
                    pass
                return b"".join(parts)
            parts.append(self._read_exactly(size))
            self._read_line()

    def _read_to_close(self):
        parts = [self._buf]
        self._buf = b""
        while True:
            chunk = self._sock.recv(65536) if self._sock is not None else b""
            if not chunk:
                self._close()
                return b"".join(parts)
            parts.append(chunk)


# -- logging ------------------------------------------------------------------------------------


def _timestamp():
    now = time.time()
    return "%s.%03dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)), int(now % 1 * 1000))


def _log_level_name():
    """AWS_LAMBDA_LOG_LEVEL as awslambdaric maps it (TRACE is DEBUG in Python)."""
    value = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    return {None: "", "TRACE": "DEBUG"}.get(value, value or "").upper()


def _write_log(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def _json_logs():
    """AWS_LAMBDA_LOG_FORMAT=JSON: Lambda's advanced logging controls (the logging module's
    records and the runtime's own error lines become JSON objects; print() stays plain text)."""
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def _json_dumps(obj):
    global json
    if json is None:
        import json as _json  # noqa: PLC0415 - deferred, see the module docstring

        json = _json
    return json.dumps(obj, default=str, ensure_ascii=False)


def _json_timestamp(created):
    """awslambdaric's JSON ``timestamp``: UTC to the second (its ``_DATETIME_FORMAT``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


def _log_error(error):
    """Write an error result the way awslambdaric's StandardLogSink does (text log format), or
    as one JSON object at level ERROR (JSON log format): awslambdaric's ``{"timestamp", "level":
    "ERROR", **error_result}`` (errorMessage, errorType, requestId, stackTrace at the top level)."""
    if _json_logs():
        record = {"timestamp": _json_timestamp(time.time()), "level": "ERROR", **error}
        _write_log(_make_encoder().encode(record) + "\n")
        return
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"]
    if error["errorMessage"]:
        if error["errorType"]:
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description]
    stack = error.get("stackTrace")
    if stack is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append(_ERROR_LOG_INDENT * (len(line) - len(stripped)) + stripped)
    _write_log(_ERROR_LOG_LINE_TERMINATOR.join(lines) + "\n")


def _configure_logging(logging):
    """Install the root handler awslambdaric installs: AWS's text format, on stdout."""
    logging.Formatter.converter = time.gmtime

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            try:
                _write_log(self.format(record))
            except Exception:  # noqa: BLE001 - logging must not break the handler
                self.handleError(record)

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id or ""
            return True

    handler = LambdaLoggerHandler()
    handler.setFormatter(
        _json_formatter(logging)() if _json_logs() else logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(LambdaLoggerFilter())
    root = logging.getLogger()
    level = _log_level_name()
    if level in logging._nameToLevel:
        root.setLevel(level)
    root.addHandler(handler)


#: LogRecord attributes that are not a caller's ``extra`` (awslambdaric's ``_RESERVED_FIELDS``).
_RECORD_ATTRIBUTES = frozenset((
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info", "exc_text",
    "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
))


def _json_formatter(logging):
    """awslambdaric's JsonFormatter: one JSON object per record with timestamp, level (a custom
    level is reported as the standard one below it), message (a dict message stays an object),
    logger (``root`` for the root logger), requestId (empty during init), and when an exception
    is logged its stackTrace, errorType, errorMessage and location; then the caller's ``extra``
    keys. Keys whose value is None are left out."""

    class JsonFormatter(logging.Formatter):
        def format(self, record):
            record.levelno = min(50, max(0, record.levelno)) // 10 * 10
            record.levelname = logging.getLevelName(record.levelno)
            exc_info = record.exc_info
            stack = error_type = error_message = location = None
            if exc_info and exc_info[0] is not None:
                import traceback  # noqa: PLC0415 - the error path only

                stack = traceback.format_tb(exc_info[2])
                error_type = exc_info[0].__name__
                error_message = str(exc_info[1])
                location = "%s:%s:%s" % (record.pathname, record.funcName, record.lineno)
            out = {
                "timestamp": _json_timestamp(record.created),
                "level": record.levelname,
                "message": record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage(),
                "logger": record.name,
                "stackTrace": stack,
                "errorType": error_type,
                "errorMessage": error_message,
                "requestId": getattr(record, "aws_request_id", None),
                "location": location,
            }
            out.update(
                (key, value) for key, value in record.__dict__.items()
                if key not in _RECORD_ATTRIBUTES and key not in out
            )
            return _json_dumps({k: v for k, v in out.items() if v is not None}) + "\n"

    return JsonFormatter


class _LoggingImportHook:
    """Configures ``logging`` right after user code first imports it.

    awslambdaric imports and configures logging before loading the handler; importing it costs
    more than the rest of this runtime's start-up, so we defer that work to the moment the
    function imports logging (before its first line that could log), if it ever does.
    """

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        if cls in sys.meta_path:
            sys.meta_path.remove(cls)
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is not None:
                spec = find(name, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            _configure_logging(module)

        spec.loader.exec_module = exec_module
        return spec


def _install_logging():
    if "logging" in sys.modules:
        _configure_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingImportHook)


def _log_lambda_warning():
    # awslambdaric logs this through logging.warning before reporting an init error.
    if _log_level_name() in ("ERROR", "CRITICAL", "FATAL"):
        return
    logging = sys.modules.get("logging")
    if logging is not None and logging.getLogger().handlers:
        logging.getLogger().warning(_LAMBDA_WARNING)
    else:
        _write_log("[WARNING]\t%s\t\t%s\n" % (_timestamp(), _LAMBDA_WARNING))


# -- errors -------------------------------------------------------------------------------------


def _make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _error_from_exception(exc_info, request_id=None):
    """The error result for an exception from user code: frames of this file are skipped."""
    import traceback

    etype, value, tb = exc_info
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if "/bootstrap.py" not in frame[0]:
            frames = frames[i:]
            break
    return _make_error(str(value), etype.__name__, traceback.format_list(frames), request_id)


# -- handler loading ----------------------------------------------------------------------------


def _load_handler(handler):
    """Resolve ``module.function`` exactly as awslambdaric's ``_get_handler`` does."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise _Fault(
                "Runtime.BuiltInModuleConflict",
                "Cannot use built-in module %s as a handler module" % modname,
            )
        name = modname.replace("/", ".")
        __import__(name)
        module = sys.modules[name]
    except ImportError as e:
        raise _Fault(
            "Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e)
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault(
            "Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e), trace
        )
    try:
        return getattr(module, fname)
    except AttributeError:
        raise _Fault(
            "Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname)
        )


# -- context ------------------------------------------------------------------------------------


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id,
            self.cognito_identity_pool_id,
        )


class Client(object):
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return "Client([%s])" % ",".join("%s=%s" % (f, getattr(self, f)) for f in self.__slots__)


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "ClientContext([custom=%s,env=%s,client=%s])" % (self.custom, self.env, self.client)


def _obj_from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field))
    return obj


def _parse_json_header(value, name):
    try:
        return json.loads(value)
    except Exception as e:
        raise _Fault(
            "Runtime.LambdaContextUnmarshalError", "Unable to parse %s JSON: %s" % (name, e)
        )


class LambdaContext(object):
    """The handler's ``context`` argument, with awslambdaric's attributes and methods."""

    def __init__(self, request_id, client_context, cognito_identity, deadline_ms, function_arn):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = function_arn
        self.client_context = _obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj_from_dict(Client, self.client_context.client)
        self.identity = _obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        _write_log(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
            )
        )


# -- marshalling --------------------------------------------------------------------------------


def _make_encoder():
    """json.JSONEncoder configured as awslambdaric's simplejson Encoder.

    Decimals are encoded as numbers (integral ones exactly; others via float, where awslambdaric
    writes the decimal's digits verbatim); anything else unknown raises the same
    "Object of type X is not JSON serializable" TypeError.
    """

    def default(obj):
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(obj, decimal.Decimal):
            if obj.is_nan() or obj.is_infinite():
                return float(obj)
            if obj == obj.to_integral_value():
                return int(obj)
            return float(obj)
        raise TypeError("Object of type %s is not JSON serializable" % obj.__class__.__name__)

    # Python 3.12+ Lambda runtimes emit UTF-8 rather than \u escapes (awslambdaric's Encoder).
    ascii_only = os.environ.get("AWS_EXECUTION_ENV") not in (
        "AWS_Lambda_python3.12",
        "AWS_Lambda_python3.13",
        "AWS_Lambda_python3.14",
    )
    return json.JSONEncoder(ensure_ascii=ascii_only, allow_nan=True, default=default)


# -- the invocation loop ------------------------------------------------------------------------


class _RuntimeLoop:
    """Init, then next -> handle -> post, forever. One per process."""

    def __init__(self, client, handler_name):
        self.client = client
        self.handler_name = handler_name
        self.encoder = None

    def init(self):
        try:
            return _load_handler(self.handler_name)
        except _Fault as fault:
            error = _make_error(fault.message, fault.error_type, fault.trace)
        except Exception:
            error = _error_from_exception(sys.exc_info())
        self.report_init_error(error)
        sys.exit(1)

    def report_init_error(self, error):
        global json
        import json as json_module

        json = json_module
        _log_lambda_warning()
        _log_error(error)
        body = json.dumps(error).encode("utf-8")
        headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: error["errorType"]}
        try:
            self.client.request("POST", "init/error", body, headers)
        except OSError:
            pass  # the platform sees the exit either way

    def run(self, handler):
        global json
        client = self.client
        # Finish importing before the first /next: that call ends the init phase, which runs
        # with a CPU boost, while the first invocation runs at the memory-proportional share.
        if json is None:
            import json as json_module

            json = json_module
        self.encoder = _make_encoder()
        client.send("GET", "invocation/next")
        while True:
            try:
                status, headers, body = client.receive()
            except ConnectionError:
                client.send("GET", "invocation/next")
                status, headers, body = client.receive()
            if status != 200:
                # /next refused (403 after an init error): nothing more will come.
                _write_log("[ERROR] Runtime API refused /next with HTTP %d: %r\n" % (status, body))
                sys.exit(1)
            self.handle(handler, headers, body)
            client.send("GET", "invocation/next")

    def handle(self, handler, headers, body):
        global _request_id
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        _request_id = request_id
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id is not None:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        error = None
        try:
            context = self.context(request_id, headers)
            if headers.get("content-type", "application/json") == "application/json":
                try:
                    event = json.loads(body)
                except Exception as e:
                    raise _Fault("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
            else:
                event = bytes(body)  # a large body arrives as a bytearray; handlers get bytes
            response = handler(event, context)
            if isinstance(response, bytes):
                result, content_type = response, "application/unknown"
            else:
                try:
                    result = self.encoder.encode(response).encode("utf-8")
                except Exception as e:
                    raise _Fault("Runtime.MarshalError", "Unable to marshal response: %s" % e)
                content_type = "application/json"
        except _Fault as fault:
            error = _make_error(fault.message, fault.error_type, fault.trace, request_id)
        except Exception:
            error = _error_from_exception(sys.exc_info(), request_id)
        if error is not None:
            _log_error(error)
            body = self.encoder.encode(error).encode("utf-8")
            headers = {"Content-Type": "application/json", _ERROR_TYPE_HEADER: error["errorType"]}
            self.post("invocation/%s/error" % request_id, body, headers)
        else:
            self.post("invocation/%s/response" % request_id, result, {"Content-Type": content_type})

    def post(self, path, body, headers):
        status, _, reply = self.client.request("POST", path, body, headers)
        if status != 202:
            # e.g. 413 for a response over 6 MB: the platform already turned it into an error.
            _write_log("[ERROR] Runtime API answered HTTP %d to %s: %r\n" % (status, path, reply))

    def context(self, request_id, headers):
        client_context = headers.get("lambda-runtime-client-context")
        cognito_identity = headers.get("lambda-runtime-cognito-identity")
        return LambdaContext(
            request_id,
            _parse_json_header(client_context, "Client Context") if client_context else None,
            _parse_json_header(cognito_identity, "Cognito Identity") if cognito_identity else None,
            int(headers.get("lambda-runtime-deadline-ms") or 0),
            headers.get("lambda-runtime-invoked-function-arn"),
        )


def _prepare_process(task_root):
    """sys.path, working directory and unbuffered streams as the Lambda Python runtime sets them."""
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR") or os.path.dirname(os.path.abspath(__file__))
    version = "python%d.%d" % sys.version_info[:2]
    # /var/task first, then layers (/opt), then the runtime, then the standard library.
    front = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python", runtime_dir]
    rest = [p for p in sys.path if p not in front and p != os.path.dirname(os.path.abspath(__file__))]
    sys.path[:] = front + rest
    try:
        os.chdir(task_root)
    except OSError:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(write_through=True)
        except (AttributeError, ValueError):
            pass


def _exec_wrapper():
    """AWS_LAMBDA_EXEC_WRAPPER: exec the function's wrapper script with the interpreter's own
    command line as its arguments, as Lambda's managed runtimes start it
    (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-modify.html#runtime-wrapper). The
    variable is removed first, so the runtime the wrapper starts runs the function itself; a
    missing or non-executable wrapper ends init with the shell's exit codes (127, 126)."""
    wrapper = os.environ.pop("AWS_LAMBDA_EXEC_WRAPPER", "")
    if not wrapper:
        return
    if not os.path.isfile(wrapper):
        _write_log("%s: does not exist\n" % wrapper)
        sys.exit(127)
    if not os.access(wrapper, os.X_OK):
        _write_log("%s: is not an executable\n" % wrapper)
        sys.exit(126)
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, "-u", os.path.abspath(__file__)])
    try:
        os.execv(wrapper, [wrapper] + argv)
    except OSError as exc:  # e.g. a script without a valid interpreter line
        _write_log("%s: %s\n" % (wrapper, exc.strerror))
        sys.exit(126)


def main():
    _exec_wrapper()
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or "/var/task"
    handler_name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
    _prepare_process(task_root)
    _install_logging()
    loop = _RuntimeLoop(_RuntimeApiClient(os.environ["AWS_LAMBDA_RUNTIME_API"]), handler_name)
    handler = loop.init()
    loop.run(handler)


if __name__ == "__main__":
    main()
