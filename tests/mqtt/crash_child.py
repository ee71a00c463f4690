"""A gateway with MQTT that writes records until it is killed (for the kill -9 test).

    python -m tests.mqtt.crash_child BASE SITE_JSON

Starts the rig of ``tests.mqtt.rig`` (SQLite in BASE, its password file there) and writes a
``system`` record every 2 ms, printing each committed seq on its own line; never stops by
itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from gateway.records import NewRecord, RecordKind
from tests.mqtt.rig import start_rig


async def main(base: Path, raw: str) -> None:
    """Run until killed."""
    rig = await start_rig(base, json.loads(raw))
    n = 0
    while True:
        seq = await rig.gateway.record(
            NewRecord(RecordKind.SYSTEM, datetime.now(UTC), detail={"n": n})
        )
        print(seq, flush=True)
        n += 1
        await asyncio.sleep(0.002)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
