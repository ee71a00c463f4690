"""Read a site file: YAML in, a validated SiteConfig or a ConfigError naming file, path, line."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from gateway.config.site import SiteConfig


class ConfigError(Exception):
    """The site file cannot be used; the message names the file, the path in it and the line."""

    def __init__(self, file: Path, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(f"{file}: " + "; ".join(problems))


def load_site(path: str | Path) -> SiteConfig:
    """Load and validate a site file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, [f"cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(file, [f"not UTF-8 text (byte {exc.start})"]) from exc
    return parse_site(text, file)


def parse_site(text: str, file: Path) -> SiteConfig:
    """Validate site-file text; ``file`` is only used to name it in errors."""
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(file, [f"{where}not valid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(file, ["the top level must be a mapping (site:, zones:, doors:, ...)"])
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc: tuple[object, ...] = tuple(err["loc"])
            msg = str(err["msg"])
            m = _PATH_IN_MESSAGE.match(msg)
            if not loc and m is not None:
                # a cross-reference check: the message names its own path
                loc = _parse_path(m.group(1))
                msg = m.group(2)
            path = _dotted(loc) or "(top level)"
            line = _line_of(node, loc)
            at = f" (line {line})" if line else ""
            problems.append(f"{path}{at}: {msg}")
        raise ConfigError(file, problems) from exc


_PATH_IN_MESSAGE = re.compile(
    r"^Value error, ([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): (.*)$"
)


def _parse_path(text: str) -> tuple[object, ...]:
    out: list[object] = []
    for part in text.split("."):
        name, _, rest = part.partition("[")
        out.append(name)
        if rest:
            out.append(int(rest.rstrip("]")))
    return tuple(out)


def _dotted(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_of(node: yaml.Node | None, loc: tuple[object, ...]) -> int | None:
    """1-based line of the deepest YAML node the error path reaches."""
    best = node
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node = best = nxt
    return best.start_mark.line + 1 if best is not None else None
