#!/usr/bin/env python3
"""moto_server with DynamoDB operations made atomic with respect to each other.

moto's threaded server runs requests concurrently, and its TransactWriteItems rolls a failed
transaction back by restoring a copy of the whole table taken when the transaction began: every
write another request made meanwhile is undone (an item created in between vanishes, an update is
lost). Real DynamoDB never does that, and under the cash tests' concurrency it made ledger entries
disappear. One re-entrant lock around the backend's item operations makes each of them, and each
transaction's copy-and-restore, happen as a whole. Arguments are moto_server's.
"""
import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()

for _name in (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
    "transact_get_items",
    "batch_get_item",
    "batch_write_item",
    "execute_transaction",
):
    _op = getattr(DynamoDBBackend, _name, None)
    if _op is None:
        continue

    def _locked(op):
        @functools.wraps(op)
        def run(*args, **kwargs):
            with _LOCK:
                return op(*args, **kwargs)

        return run

    setattr(DynamoDBBackend, _name, _locked(_op))

if __name__ == "__main__":
    sys.exit(main())
