"""Every ``docs/`` path and every cited section of SCIENCE.md, DASHBOARD.md and STYLE.md exists.

Code and documents cite the project's notes by file and section ("docs/SCIENCE.md section 3.4",
"SCIENCE.md 3.2–3.8", "(DASHBOARD.md 2.4)", "STYLE.md §2"). This test scans the ``.py``, ``.md``
and ``.toml`` files of the packages, ``benchmarks`` and ``tests``, plus ``README.md`` and
``docs/*.md``, and checks that

* every ``docs/<path>`` names a file or folder of the repository, and every mention of
  ``SCIENCE.md``, ``DASHBOARD.md``, ``STYLE.md`` or ``DEPLOY.md`` (with or without ``docs/``) names
  a file in ``docs/``;
* every section number cited after ``SCIENCE.md``, ``DASHBOARD.md`` or ``STYLE.md`` is the number
  of a heading of that file (a range such as 3.2–3.8 needs every section in between), and a cited
  "section N, item K" has a numbered item K in that section;
* a bare ``§N`` inside one of those files points at one of its own headings.

A failure names the citing file and line and what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED_DIRS = ("desa_core", "training", "data", "dashboard", "benchmarks", "tests")
SUFFIXES = {".py", ".md", ".toml"}
#: Notes whose sections are cited by number.
NOTES = ("SCIENCE", "DASHBOARD", "STYLE")

_NUMBER = r"\d+(?:\.\d+)*"
#: ``docs/<path>``, not part of a longer path or URL; the path does not end in punctuation.
DOCS_PATH = re.compile(r"(?<![\w/.-])docs/([\w.\-/]*[\w\-/])")
#: A note, then (after backticks, spaces, newlines, comment marks or "(") an optional
#: "section(s)"/"§", then numbers joined by "–", "-", "," or "and".
NOTE_CITATION = re.compile(
    rf"\b(?P<note>{'|'.join(NOTES)})\.md`*(?P<gap>[\s#:(]*)"
    rf"(?P<word>(?:sections?|§)\s*)?"
    rf"(?P<nums>{_NUMBER}(?:\s*(?:[–-]|,|\band\b)\s*§?\s*{_NUMBER})*)"
    rf"(?:,\s*items?\s+(?P<item>\d+))?"
)
#: Any mention of a note (or of DEPLOY.md), with or without ``docs/``: the file must exist.
NOTE_MENTION = re.compile(r"\b(?P<note>SCIENCE|DASHBOARD|STYLE|DEPLOY)\.md\b")
HEADING = re.compile(rf"^#{{1,6}}\s+(?P<num>{_NUMBER})\.?\s", re.MULTILINE)
SELF_REFERENCE = re.compile(rf"§\s*(?P<num>{_NUMBER}(?:\s*[–-]\s*{_NUMBER})?)")


@dataclass(frozen=True)
class Citation:
    """One cited section: where it is cited and what it asks for."""

    source: Path
    line: int
    note: str
    section: str
    item: int | None = None

    def where(self, root: Path) -> str:
        return f"{self.source.relative_to(root)}:{self.line}"


def scanned_files(root: Path = ROOT) -> list[Path]:
    """The files whose references are checked (this test file's own examples excluded)."""
    files = [
        path
        for folder in SCANNED_DIRS
        if (root / folder).is_dir()
        for path in sorted((root / folder).rglob("*"))
        if path.suffix in SUFFIXES and path.is_file() and "__pycache__" not in path.parts
    ]
    files += [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    own = Path(__file__).resolve()
    return [path for path in files if path.is_file() and path.resolve() != own]


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def expand(numbers: str) -> list[str]:
    """Section numbers of a citation: ``"3.2–3.5"`` -> 3.2, 3.3, 3.4, 3.5; ``"1.2, 1.5"`` -> both."""
    out: list[str] = []
    parts = re.split(r"\s*(,|\band\b|[–-])\s*", numbers)
    values, separators = parts[0::2], parts[1::2]
    out.append(values[0].lstrip("§ "))
    for sep, value in zip(separators, values[1:], strict=True):
        value = value.lstrip("§ ")
        if sep in "–-":
            start, end = out[-1].split("."), value.split(".")
            if len(start) == len(end) and start[:-1] == end[:-1] and int(start[-1]) < int(end[-1]):
                prefix = start[:-1]
                out += [".".join([*prefix, str(k)]) for k in range(int(start[-1]) + 1, int(end[-1]))]
        out.append(value)
    return out


def citations_in(path: Path, text: str) -> list[Citation]:
    """Section citations of the notes in one file's text."""
    found = []
    for match in NOTE_CITATION.finditer(text):
        line = _line(text, match.start())
        item = int(match["item"]) if match["item"] else None
        numbers = expand(match["nums"])
        for k, number in enumerate(numbers):
            found.append(Citation(path, line, match["note"], number, item if k == len(numbers) - 1 else None))
    return found


def doc_paths_in(text: str) -> list[tuple[int, str]]:
    """``(line, path)`` of every ``docs/<path>`` reference in a file's text."""
    return [(_line(text, m.start()), m.group(1)) for m in DOCS_PATH.finditer(text)]


def headings(note: Path) -> dict[str, str]:
    """Section number -> the text of that section (up to the next numbered heading)."""
    text = note.read_text(encoding="utf-8")
    matches = list(HEADING.finditer(text))
    return {
        m["num"]: text[m.start() : matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        for i, m in enumerate(matches)
    }


def problems(root: Path = ROOT) -> list[str]:
    """Every broken reference under ``root``, one readable line each."""
    found: list[str] = []
    sections = {
        note: headings(root / "docs" / f"{note}.md")
        for note in NOTES
        if (root / "docs" / f"{note}.md").is_file()
    }
    for path in scanned_files(root):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(root)
        for line, ref in doc_paths_in(text):
            if not (root / "docs" / ref).exists():
                found.append(f"{where}:{line}: docs/{ref} does not exist; create it or fix the path")
        missing_notes = {
            (_line(text, m.start()), m["note"])
            for m in NOTE_MENTION.finditer(text)
            if not (root / "docs" / f"{m['note']}.md").is_file()
        }
        for line, note in sorted(missing_notes):
            if not any(ref == f"{note}.md" for ref_line, ref in doc_paths_in(text) if ref_line == line):
                found.append(f"{where}:{line}: mentions {note}.md, but docs/{note}.md does not exist")
        for cite in citations_in(path, text):
            if cite.note not in sections:
                continue  # reported above as a missing note
            body = sections[cite.note].get(cite.section)
            if body is None:
                found.append(
                    f"{cite.where(root)}: cites {cite.note}.md section {cite.section}, which docs/"
                    f"{cite.note}.md has no heading for; add the section or fix the citation"
                )
            elif cite.item is not None and not re.search(rf"^\s*{cite.item}\.\s", body, re.MULTILINE):
                found.append(
                    f"{cite.where(root)}: cites {cite.note}.md section {cite.section}, item {cite.item}, "
                    "which that section does not number"
                )
    for note, numbered in sections.items():
        path = root / "docs" / f"{note}.md"
        text = path.read_text(encoding="utf-8")
        cross = [m.span() for m in NOTE_CITATION.finditer(text)]
        for match in SELF_REFERENCE.finditer(text):
            if any(a <= match.start() < b for a, b in cross):
                continue  # "SCIENCE.md §2" inside another note: checked above
            for number in expand(match["num"]):
                if number not in numbered:
                    found.append(
                        f"docs/{note}.md:{_line(text, match.start())}: §{number} is not a heading of "
                        f"docs/{note}.md"
                    )
    return found


# --- the repository ------------------------------------------------------------------------------
def test_every_docs_path_and_cited_section_exists() -> None:
    broken = problems()
    assert not broken, "broken documentation references:\n" + "\n".join(broken)


def test_the_scan_sees_the_citations_the_code_makes() -> None:
    # Guards against a scanner that silently checks nothing (a broken pattern finds no citation).
    cited = {
        (c.note, c.section) for p in scanned_files() for c in citations_in(p, p.read_text(encoding="utf-8"))
    }
    for expected in [("SCIENCE", "3.4"), ("SCIENCE", "5.2"), ("DASHBOARD", "2.3"), ("STYLE", "2")]:
        assert expected in cited, f"no citation of {expected} found; did the pattern break?"
    science = [c for c in cited if c[0] == "SCIENCE"]
    assert len(science) >= 14, science


# --- the scanner itself --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(``docs/SCIENCE.md`` section 3)", [("SCIENCE", "3")]),
        ("see docs/SCIENCE.md section 3.4.", [("SCIENCE", "3.4")]),
        ("(``docs/SCIENCE.md`` 3.2–3.5):", [("SCIENCE", s) for s in ("3.2", "3.3", "3.4", "3.5")]),
        ("(SCIENCE.md 4.4); Gaia", [("SCIENCE", "4.4")]),
        ("label leakage (SCIENCE.md §2) and", [("SCIENCE", "2")]),
        ("(SCIENCE.md 1.2, 1.3, 1.5); the heads", [("SCIENCE", s) for s in ("1.2", "1.3", "1.5")]),
        ("(SCIENCE.md 3.3, 3.9.1).", [("SCIENCE", "3.3"), ("SCIENCE", "3.9.1")]),
        ("(docs SCIENCE.md sections 1.2-1.4). Goal", [("SCIENCE", s) for s in ("1.2", "1.3", "1.4")]),
        ("(DASHBOARD.md\n    2.1). Here", [("DASHBOARD", "2.1")]),
        ("(DASHBOARD.md section 2.3-2.4). The", [("DASHBOARD", "2.3"), ("DASHBOARD", "2.4")]),
        ("(STYLE.md section 2), checked", [("STYLE", "2")]),
        ("(SCIENCE.md: synchronized binaries", []),
    ],
)
def test_citation_pattern(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(c.note, c.section) for c in citations_in(Path("x.py"), text)] == expected


def test_item_citation() -> None:
    (cite,) = citations_in(Path("x.py"), '(DASHBOARD.md section 1, item 11: "load in TOPCAT by URL")')
    assert (cite.note, cite.section, cite.item) == ("DASHBOARD", "1", 11)


def test_doc_paths_skip_urls_and_trailing_punctuation() -> None:
    text = "see docs/DEPLOY.md. and `docs/evaluation/`; not https://example.org/docs/x.md"
    assert [ref for _, ref in doc_paths_in(text)] == ["DEPLOY.md", "evaluation/"]


def test_problems_reports_missing_files_and_sections(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "SCIENCE.md").write_text("# S\n\n## 1. One\n\n### 1.1 Sub\n\nSee §1.2.\n")
    (tmp_path / "docs" / "DASHBOARD.md").write_text("## 1. Features\n\n1. overlays\n2. kNN\n")
    (tmp_path / "README.md").write_text("Read docs/SCIENCE.md and docs/MISSING.md.\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.py").write_text(
        '"""Uses SCIENCE.md 1.1, SCIENCE.md section 2 and\nDASHBOARD.md section 1, item 11."""\n'
        "# STYLE.md section 2\n"
    )
    found = problems(tmp_path)
    assert any("README.md:1: docs/MISSING.md does not exist" in p for p in found), found
    assert any("data/a.py:1: cites SCIENCE.md section 2," in p for p in found), found
    assert any("item 11" in p for p in found), found
    assert any("data/a.py:3: mentions STYLE.md, but docs/STYLE.md does not exist" in p for p in found), found
    assert any("§1.2 is not a heading" in p for p in found), found
    assert not any("section 1.1," in p for p in found), found
    assert len(found) == 5, found
