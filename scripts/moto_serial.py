"""moto_server answering one request at a time.

moto's DynamoDB `transact_write_items` takes a deep copy of the table before a transaction and puts
the copy back when the transaction fails; the threaded server lets other requests write meanwhile,
so a failed transaction silently undoes writes that were already acknowledged (reproduced: 22 of 200
acknowledged transactional puts lost against 3 threads of failing transactions on a 1,500-item
table). DynamoDB never loses an acknowledged write. Opt in with `MOTO_SERVER=scripts/moto-server`:
every request waits for the one before it, so under heavy concurrency on a loaded machine the AWS
SDK's 8 s operation timeout can fire instead (seen once in the randomized transfer schedule).
"""
import sys
import threading

import moto.server as server

_run_simple = server.run_simple
_lock = threading.Lock()


def _serial_run_simple(host, port, app, *args, **kwargs):
    def serial(environ, start_response):
        with _lock:
            # The body is produced inside the lock too.
            return list(app(environ, start_response))

    return _run_simple(host, port, serial, *args, **kwargs)


server.run_simple = _serial_run_simple

if __name__ == "__main__":
    sys.exit(server.main())
