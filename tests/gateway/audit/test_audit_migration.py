"""Revision 0002 on a log written before it: every old record is salted, committed and hashed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Engine, insert, text

from gateway.audit.note import Signer
from gateway.audit.verify import verify_log
from gateway.storage.engine import make_engine
from gateway.storage.migrate import upgrade
from gateway.storage.models import RECORD_TABLE
from gateway.storage.record_log import RecordLog
from tests.gateway.audit.audit_support import ORIGIN, T0, append_all, policy, record


def test_records_from_before_the_audit_revision_join_the_tree(db_url: str) -> None:
    """600 records written at revision 0001 get commitments and tiles on upgrade; the writer
    then continues the same tree and the whole log verifies."""
    engine: Engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        columns = [
            c.name
            for c in RECORD_TABLE.columns
            if c.name not in ("salt", "commitment", "purged_by")
        ]
        rows = []
        for i in range(600):
            rec = record(i, ts=T0 + timedelta(seconds=i))
            row = {name: getattr(rec, name, None) for name in columns}
            row.update(site_id="hq", seq=i + 1, kind=rec.kind.value)
            rows.append(row)
        with engine.begin() as conn:
            table = RECORD_TABLE
            conn.execute(
                insert(table).values(),
                [{k: v for k, v in r.items() if k in columns} for r in rows],
            )
        upgrade(engine)
        with engine.connect() as conn:
            missing = conn.execute(
                text("SELECT count(*) FROM record WHERE commitment IS NULL OR salt IS NULL")
            ).scalar_one()
            tiles = conn.execute(text("SELECT count(*) FROM audit_node")).scalar_one()
        assert (missing, tiles) == (0, 2)
        signer = Signer.generate(ORIGIN)
        log = RecordLog(engine, "hq", checkpoints=policy(signer, every=100))
        log.start()
        try:
            asyncio.run(append_all(log, [record(i) for i in range(600, 700)]))
        finally:
            log.close()
        report = verify_log(engine, "hq", keys=[signer.verifier()], origin=ORIGIN)
        assert report.ok, report.problems
        assert report.size == 700
    finally:
        engine.dispose()
