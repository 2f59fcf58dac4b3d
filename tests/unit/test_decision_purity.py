"""The decision core stays pure: no web framework, HTTP client, random ids, clock or environment.

DESIGN.md ("decision/ imports neither Flask nor requests"), STYLE.md §4 and §15.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import cds_service.decision

DECISION_DIR = Path(cds_service.decision.__file__).parent
# The vocabulary the core reasons in lives beside it, shared with the knowledge: as pure.
VOCABULARY = DECISION_DIR.parent / "vocabulary.py"
MODULES = [
    *sorted(f"cds_service.decision.{i.name}" for i in pkgutil.iter_modules([str(DECISION_DIR)])),
    "cds_service.vocabulary",
]
SOURCES = [*sorted(DECISION_DIR.glob("*.py")), VOCABULARY]

_FORBIDDEN_IMPORTS = {"flask", "requests", "uuid", "os", "time", "random", "secrets", "socket"}
_FORBIDDEN_TEXT = ("datetime.now", "date.today", "datetime.utcnow", "os.environ", "getenv")


def test_the_package_has_the_modules_this_test_guards():
    assert {"cds_service.decision.findings", "cds_service.decision.guidance"} <= set(MODULES)
    assert VOCABULARY.is_file()


def test_importing_every_decision_module_loads_neither_flask_nor_requests():
    script = (
        "import importlib, json, sys\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in ('flask', 'requests') if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert json.loads(result.stdout) == []


def test_no_decision_module_imports_a_clock_ids_environment_or_network():
    offenders = []
    for source in SOURCES:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            offenders.extend(
                f"{source.name}: {name}"
                for name in names
                if name.split(".")[0] in _FORBIDDEN_IMPORTS
            )

    assert offenders == []


def test_no_decision_module_reads_the_clock_or_the_environment():
    offenders = [
        f"{source.name}: {text}"
        for source in SOURCES
        for text in _FORBIDDEN_TEXT
        if text in source.read_text(encoding="utf-8")
    ]

    assert offenders == []
