# scfgate's runtime for Tencent SCF's Python runtimes (Python2.7, Python3.6 and later).
#
# The gateway starts it in the function's code folder with the custom-runtime API's address in
# SCF_RUNTIME_API / SCF_RUNTIME_API_PORT and the handler (`file.function`) in _HANDLER. It imports
# the handler once (the module's global code runs then), tells the API it is ready, then for
# each event calls handler(event, context), both dicts as SCF passes them, and posts the return
# value as JSON, or an error in SCF's shape. Tracebacks go to stderr, which the gateway logs with
# the function and the request id.
import importlib
import json
import os
import sys
import time
import traceback

try:
    import http.client as httplib
except ImportError:  # Python 2
    import httplib

API = (os.environ.get("SCF_RUNTIME_API", "127.0.0.1"), int(os.environ.get("SCF_RUNTIME_API_PORT", "9001")))
CONNECTION = [None]
# The request being run: each line printed meanwhile goes out as "\x1f<id>\x1f<line>", so the
# gateway logs it with its request id however late it reads it.
CURRENT = [None]


class Tagged(object):
    """A text stream that prefixes each whole line written during an invocation with its id."""

    def __init__(self, stream):
        self.stream = stream
        self.partial = ""

    def write(self, text):
        if not isinstance(text, str):
            text = text.decode("utf-8", "replace")
        self.partial += text
        while "\n" in self.partial:
            line, self.partial = self.partial.split("\n", 1)
            self.emit(line)
        return len(text)

    def emit(self, line):
        if CURRENT[0]:
            line = "\x1f%s\x1f%s" % (CURRENT[0], line)
        self.stream.write(line + "\n")
        self.stream.flush()

    def flush(self):
        if self.partial:
            line, self.partial = self.partial, ""
            self.emit(line)
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def call(method, path, body=None, then_next=False):
    """One request to the runtime API over a kept-alive connection: (status, headers, body).
    `then_next`: post a response or error and get the next event in the same exchange (scfgate's
    runtime API answers X-Scfgate-Next with it)."""
    for attempt in (0, 1):
        if CONNECTION[0] is None:
            CONNECTION[0] = httplib.HTTPConnection(API[0], API[1])
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if then_next:
                headers["X-Scfgate-Next"] = "1"
            CONNECTION[0].request(method, path, body, headers)
            response = CONNECTION[0].getresponse()
            return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read()
        except (httplib.HTTPException, OSError, IOError):
            CONNECTION[0].close()
            CONNECTION[0] = None
            if attempt:
                raise


def error_body(message, status, stack=None):
    body = {"errorCode": -1, "errorMessage": message, "statusCode": status}
    if stack:
        body["stackTrace"] = stack
    return json.dumps(body).encode("utf-8")


def load_handler():
    """The handler function, or (None, error body) when it cannot be loaded."""
    code = os.getcwd()
    if code not in sys.path:
        sys.path.insert(0, code)
    name = os.environ.get("_HANDLER") or "index.main_handler"
    module_name, _, function_name = name.rpartition(".")
    if not module_name or not function_name:
        return None, error_body("handler `%s` is not `file.function`" % name, 437)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        stack = traceback.format_exc()
        sys.stderr.write(stack)
        missing = getattr(error, "name", None) in (None, module_name.split(".")[0], module_name)
        if missing and not os.path.exists(os.path.join(code, module_name.replace(".", "/") + ".py")):
            return None, error_body("handler `%s` not found: no module `%s` in the code folder" % (name, module_name), 437, stack)
        return None, error_body("function initialization failed: %s" % error, 445, stack)
    except Exception as error:  # the module's global code raised
        stack = traceback.format_exc()
        sys.stderr.write(stack)
        return None, error_body("function initialization failed: %s" % error, 445, stack)
    handler = getattr(module, function_name, None)
    if not callable(handler):
        return None, error_body("handler `%s` not found: module `%s` has no function `%s`" % (name, module_name, function_name), 437)
    return handler, None


def environment_texts():
    """The context's `environment` (JSON) and `environ` (K=V;K=V): made once, the environment
    does not change between events."""
    environment = dict(os.environ)
    for private in ("SCF_RUNTIME_API", "SCF_RUNTIME_API_PORT", "_HANDLER"):
        environment.pop(private, None)
    return json.dumps(environment), ";".join("%s=%s" % item for item in sorted(environment.items()))


ENVIRONMENT = []


def context_for(headers):
    if not ENVIRONMENT:
        ENVIRONMENT.extend(environment_texts())
    return {
        "request_id": headers.get("request_id", ""),
        "memory_limit_in_mb": int(headers.get("memory_limit_in_mb") or os.environ.get("SCF_FUNCTIONMEMORYSIZE") or 0),
        "time_limit_in_ms": int(headers.get("time_limit_in_ms") or 0),
        "function_name": os.environ.get("SCF_FUNCTIONNAME", ""),
        "function_version": os.environ.get("SCF_FUNCTIONVERSION", ""),
        "namespace": os.environ.get("SCF_NAMESPACE", ""),
        "tencentcloud_region": os.environ.get("TENCENTCLOUD_REGION", ""),
        "tencentcloud_appid": os.environ.get("TENCENTCLOUD_APPID", ""),
        "tencentcloud_uin": os.environ.get("TENCENTCLOUD_UIN", ""),
        "environment": ENVIRONMENT[0],
        "environ": ENVIRONMENT[1],
    }


def answer(event_body, headers, handler, init_error):
    """(path, body) of the answer to one event."""
    if init_error is not None:
        return "/runtime/invocation/error", init_error
    CURRENT[0] = headers.get("request_id")
    try:
        event = json.loads(event_body.decode("utf-8")) if event_body else {}
        value = handler(event, context_for(headers))
    except Exception:
        stack = traceback.format_exc()
        sys.stderr.write(stack)
        return "/runtime/invocation/error", error_body("user code exception caught", 430, stack)
    try:
        return "/runtime/invocation/response", json.dumps(value).encode("utf-8")
    except (TypeError, ValueError) as error:
        message = "the function's return value is not JSON: %s" % error
        sys.stderr.write(message + "\n")
        return "/runtime/invocation/error", error_body(message, 443)


def main():
    sys.stdout = Tagged(sys.stdout)
    sys.stderr = Tagged(sys.stderr)
    handler, init_error = load_handler()
    call("POST", "/runtime/init/ready", b"")
    status, headers, body = call("GET", "/runtime/invocation/next")
    while True:
        if status != 200:
            time.sleep(0.05)
            status, headers, body = call("GET", "/runtime/invocation/next")
            continue
        path, payload = answer(body, headers, handler, init_error)
        sys.stdout.flush()
        sys.stderr.flush()
        CURRENT[0] = None
        # The answer, and the next event back in the same exchange.
        status, headers, body = call("POST", path, payload, then_next=True)


if __name__ == "__main__":
    main()
