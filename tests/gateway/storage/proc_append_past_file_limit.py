"""Run as a subprocess: append, then hit RLIMIT_FSIZE (like a full disk), then recover.

Prints one JSON object with what each phase saw; the limit applies to this process only.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
from datetime import UTC, datetime

from gateway.records import NewRecord, RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.errors import StorageError
from gateway.storage.record_log import RecordLog


def _record() -> NewRecord:
    """A door event with a payload large enough to need new pages."""
    return NewRecord(
        kind=RecordKind.DOOR_OPENED, ts=datetime.now(UTC), door_id="d1", detail={"pad": "x" * 8000}
    )


async def main(url: str) -> None:
    """Three appends, two under a zero file-size limit, two after lifting it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    log = RecordLog(make_engine(url), "site-a")
    log.start()
    before = [await log.append(_record()) for _ in range(3)]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
    failures = []
    for _ in range(2):
        try:
            failures.append(f"stored as {await log.append(_record())}")
        except StorageError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
    seq_during = log.last_seq
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    after = [await log.append(_record()) for _ in range(2)]
    log.close()
    result = {"before": before, "failures": failures, "seq_during": seq_during, "after": after}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
