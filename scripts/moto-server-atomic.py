#!/usr/bin/env python3
"""moto_server with DynamoDB operations made atomic with respect to each other.

moto's threaded server runs requests concurrently, and its TransactWriteItems rolls a failed
transaction back by restoring a copy of the whole table taken when the transaction began: every
write another request made meanwhile is undone (an item created in between vanishes, an update is
lost). Real DynamoDB never does that, and under the cash tests' concurrency it made ledger entries
disappear. One re-entrant lock around the backend's item operations makes each of them, and each
transaction's copy-and-restore, happen as a whole. Arguments are moto_server's.

With `MOTO_TRANSACT_FAULTS_PER_MILLE=n` (and optionally `MOTO_FAULT_SEED`), n in 1000
TransactWriteItems calls fail with an HTML 500, as stock moto's unlocked copy did now and then: half
of them before the transaction is applied, half after it was applied (the caller cannot tell which).
Tests use it to check that a store failure at any point loses nothing and doubles nothing.
"""
import functools
import os
import random
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

_FAULTS_PER_MILLE = int(os.environ.get("MOTO_TRANSACT_FAULTS_PER_MILLE", "0") or "0")
_RNG = random.Random(os.environ.get("MOTO_FAULT_SEED"))


class InjectedStoreFault(RuntimeError):
    """Not a DynamoDB error: moto's server answers it with an HTML 500."""


if _FAULTS_PER_MILLE > 0:
    _transact = DynamoDBBackend.transact_write_items

    @functools.wraps(_transact)
    def _flaky_transact(*args, **kwargs):
        with _LOCK:
            draw = _RNG.randrange(1000)
            if draw < _FAULTS_PER_MILLE // 2:
                raise InjectedStoreFault("injected before the transaction")
            result = _transact(*args, **kwargs)
            if draw < _FAULTS_PER_MILLE:
                raise InjectedStoreFault("injected after the transaction was applied")
            return result

    DynamoDBBackend.transact_write_items = _flaky_transact

if __name__ == "__main__":
    sys.exit(main())
