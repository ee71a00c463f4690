"""Run as a subprocess: append records forever, printing each seq as soon as append returned.

The durability test kills this process with SIGKILL and checks every printed seq is stored.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from gateway.records import NewRecord, RecordKind
from gateway.storage.engine import make_engine
from gateway.storage.record_log import RecordLog


async def main(url: str) -> None:
    """Append until killed; one line per durable append on stdout."""
    log = RecordLog(make_engine(url), "site-a")
    log.start()
    out = sys.stdout
    while True:
        rec = NewRecord(kind=RecordKind.ACCESS, ts=datetime.now(UTC), door_id="d1")
        seq = await log.append(rec)
        out.write(f"{seq}\n")
        out.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
