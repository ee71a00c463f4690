"""docs/api-routes.md is what the application serves (regenerate: python -m api.reference)."""

from pathlib import Path

from api.reference import _app, route_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "api-routes.md"


def test_the_route_reference_in_docs_is_current(tmp_path: Path) -> None:
    current = route_reference(_app(tmp_path))
    assert DOC.read_text(encoding="utf-8") == current, (
        "run: python -m api.reference > docs/api-routes.md"
    )


def test_every_route_names_its_roles(tmp_path: Path) -> None:
    table = [
        line for line in route_reference(_app(tmp_path)).splitlines() if line.startswith("| ")
    ][2:]
    assert len(table) > 50
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] and cells[3] and cells[3] != "nobody", line
        if cells[2] in ("events:read", "audit:read"):
            assert "admin" not in cells[3]  # 4-8-6(6): the administrator reads no records
