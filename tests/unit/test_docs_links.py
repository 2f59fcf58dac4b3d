"""Every relative link in the README and the guides leads somewhere: a file that exists and,
when the link names an anchor, a heading of that file with that anchor (GitHub's slugs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [
        REPO_ROOT / "README.md",
        *REPO_ROOT.glob("docs/**/*.md"),
        *REPO_ROOT.glob("tests/data/**/*.md"),
        *REPO_ROOT.glob("fixtures/**/*.md"),
    ]
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_EXTERNAL = ("http://", "https://", "mailto:")


def prose_lines(path: Path) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(path):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    """Link targets in the prose; a link's text may run over a line break."""
    prose = _CODE_SPAN.sub("", "\n".join(prose_lines(path)))
    return [target for target in _LINK.findall(prose) if not target.startswith(_EXTERNAL)]


def broken(path: Path, target: str) -> str | None:
    file_part, _, anchor = target.partition("#")
    linked = (path.parent / file_part).resolve() if file_part else path
    if not linked.exists():
        return f"{target}: no such file"
    if REPO_ROOT not in linked.parents and linked != REPO_ROOT:
        return f"{target}: outside the repository"
    if anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
        return f"{target}: no heading #{anchor} in {linked.name}"
    return None


def test_the_guides_are_found():
    names = {path.relative_to(REPO_ROOT).as_posix() for path in DOCUMENTS}
    assert {"README.md", "docs/clinical-logic.md", "docs/integration.md"} <= names
    assert {"docs/operations.md", "docs/performance.md", "docs/code.md"} <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_relative_link_resolves(document):
    problems = [p for t in relative_links(document) if (p := broken(document, t))]
    assert problems == []


def test_slugs_follow_github():
    assert slug("What the seed's patient gets") == "what-the-seeds-patient-gets"
    assert slug("Metrics (`GET /metrics`)") == "metrics-get-metrics"
    assert slug("Security: which EHRs may call the service") == (
        "security-which-ehrs-may-call-the-service"
    )
    assert slug("1. Register the app and get client IDs") == "1-register-the-app-and-get-client-ids"


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path, monkeypatch):
    monkeypatch.setattr(f"{__name__}.REPO_ROOT", tmp_path)
    (tmp_path / "guide.md").write_text("# Guide\n\n## How it is served\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](guide.md#how-it-is-served) [gone](missing.md) [moved](guide.md#serving)\n"
        "[over a\nline break](elsewhere.md)\n"
        "`[not a link](nowhere.md)`\n```\n[in code](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    problems = [p for t in relative_links(page) if (p := broken(page, t))]
    assert problems == [
        "missing.md: no such file",
        "guide.md#serving: no heading #serving in guide.md",
        "elsewhere.md: no such file",
    ]
