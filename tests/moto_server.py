"""Starts moto on a free loopback port for one test process, prints the port, and stops when the test
process closes our stdin (or dies): no server outlives the tests that started it.

Requests are applied one at a time. Real AWS applies each request atomically (a DynamoDB transaction or
conditional update is all or nothing whatever else runs), but moto's backends are not thread-safe: a failed
transaction restores a copy of the table and can undo a concurrent write. Serialising requests gives the tests
AWS's per-request atomicity while the test's invocations still interleave their requests freely."""
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

def serve() -> None:
    """Serves until stdin closes, one request at a time, after printing the port."""
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # The body is produced inside the lock too: moto builds responses lazily in places.
            return list(app(environ, start_response))

    server = make_server("127.0.0.1", 0, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_port, flush=True)
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    serve()
