"""docs/requirements.md must cover every requirement id the code cites, and point at real modules.

Comments, docstrings, tests and the README cite ids from the TRD ("TRD FR-3", "AC-008",
"PERF-006", ...), a document that is not in this repository. docs/requirements.md is our own
summary of those requirements, so that every citation leads somewhere. Without a check it would
rot both ways: someone cites a new id and nobody adds a row, or a module moves and the row keeps
naming the old path. So this test

- scans every ``*.py`` under the source and test folders, and README.md, for cited ids (the same
  pattern a reader would grep with) and fails naming each id that has no row in the document;
- checks that every module path written in backticks in the document exists in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "requirements.md"

#: Folders whose Python files may cite requirement ids (absent ones are skipped).
SCANNED_DIRS = (
    "analytics",
    "cli",
    "config",
    "pipelines",
    "serving",
    "store",
    "telemetry",
    "synthetic_fleet",
    "benchmarks",
    "tests",
    "migrations",
)

PREFIXES = "FR|AC|PERF|REL|SEC|NFR|OBS|DQ|OPS|MAINT|SCALE|COMP|RISK|USA"
ID_PATTERN = re.compile(rf"\b(?:{PREFIXES})-[0-9]+(?:\.[0-9]+)?\b")

#: A table row's first cell: the id that row defines.
ROW_ID = re.compile(rf"^\|\s*((?:{PREFIXES})-[0-9]+(?:\.[0-9]+)?)\s*\|", re.MULTILINE)

#: Something in backticks that looks like a repository path: a file with an extension we keep
#: code or configuration in, or a folder ending in "/". Routes (`/api/v1/...`), settings and
#: commands do not match.
BACKTICK = re.compile(r"`([^`\s]+)`")
MODULE_PATH = re.compile(
    r"^[A-Za-z_][\w.-]*(?:/[\w.-]+)*(?:\.(?:py|sql|lua|yaml|yml|toml|md|mako)|/)$"
)


def _cited_ids() -> dict[str, set[str]]:
    """Every cited id, with the files (relative to the repository) that cite it."""
    files = [ROOT / "README.md"]
    for folder in SCANNED_DIRS:
        if (ROOT / folder).is_dir():
            files.extend(sorted((ROOT / folder).rglob("*.py")))
    cited: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for found in ID_PATTERN.findall(text):
            cited.setdefault(found, set()).add(path.relative_to(ROOT).as_posix())
    return cited


def _documented_ids() -> set[str]:
    return set(ROW_ID.findall(DOC.read_text(encoding="utf-8")))


def _documented_paths() -> set[str]:
    tokens = BACKTICK.findall(DOC.read_text(encoding="utf-8"))
    return {token for token in tokens if MODULE_PATH.match(token)}


def test_the_scan_finds_citations() -> None:
    # A pattern or folder list gone wrong would make the next test pass vacuously.
    assert len(_cited_ids()) >= 10


def test_every_cited_id_has_a_row() -> None:
    documented = _documented_ids()
    missing = {found: files for found, files in _cited_ids().items() if found not in documented}
    assert not missing, "cited but not in docs/requirements.md: " + "; ".join(
        f"{found} (in {', '.join(sorted(files))})" for found, files in sorted(missing.items())
    )


def test_every_id_has_one_row() -> None:
    rows = ROW_ID.findall(DOC.read_text(encoding="utf-8"))
    duplicated = sorted({found for found in rows if rows.count(found) > 1})
    assert not duplicated, f"ids with more than one row: {duplicated}"


def test_every_module_path_exists() -> None:
    paths = _documented_paths()
    assert len(paths) >= 10, "no module paths recognised in docs/requirements.md"
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert not missing, f"docs/requirements.md names paths that do not exist: {missing}"
