"""`cds-knowledge export DIR`: the knowledge as files a review committee can diff.

Writes, for the knowledge in CDS_KNOWLEDGE_DIR (or `--knowledge`):
- `ValueSet-<id>.json`: each value set as a FHIR R4B ValueSet (its definition);
- `ValueSet-<id>.expansion.json`: its expansion, the codes the service matches;
- `value-set-codes.csv`: the same codes, one per line (value set, system, code, display);
- `variants.csv`: every ACR variant's procedure table (category, rating, radiation level).
Every file but the expansions' timestamps is the same for the same knowledge, so two
exports of two knowledge versions diff line by line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cds_service import terminology
from cds_service.knowledge.errors import KnowledgeError
from cds_service.knowledge.loader import load_knowledge
from cds_service.knowledge.model import Knowledge
from cds_service.settings import Settings

VARIANT_COLUMNS = (
    "variant",
    "acr_topic",
    "variant_title",
    "wording",
    "procedure",
    "category",
    "rating",
    "radiation_level",
    "radiation_level_complete_spine",
    "sources",
    "knowledge_version",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cds-knowledge", description="Export the service's knowledge for review."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export", help="write the ValueSets (FHIR JSON) and the variant tables (CSV) to DIR"
    )
    export.add_argument("directory", type=Path, metavar="DIR")
    export.add_argument(
        "--knowledge", type=Path, help="folder of the knowledge files (default: CDS_KNOWLEDGE_DIR)"
    )
    args = parser.parse_args(argv)
    try:
        folder = args.knowledge or Settings.from_environ().knowledge_dir
        knowledge = load_knowledge(folder)
        written = export_knowledge(knowledge, args.directory)
    except KnowledgeError as error:
        print(f"cds-knowledge: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"cds-knowledge: cannot write {args.directory}: {error.strerror}", file=sys.stderr)
        return 2
    print(f"knowledge {knowledge.version}: {len(written)} files in {args.directory}")
    for path in written:
        print(f"  {path.name}")
    return 0


def export_knowledge(knowledge: Knowledge, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    codes: list[tuple[str, str, str, str]] = []
    for vs in knowledge.value_sets.values():
        name = terminology.fhir_id(vs)
        written.append(
            _json(directory / f"ValueSet-{name}.json", terminology.value_set(knowledge, vs))
        )
        expansion = terminology.expand(knowledge, vs)
        written.append(_json(directory / f"ValueSet-{name}.expansion.json", expansion))
        codes.extend(
            (name, c.system, c.code, c.display or "") for c in expansion.expansion.contains
        )
    written.append(
        _csv(directory / "value-set-codes.csv", ("value_set", "system", "code", "display"), codes)
    )
    written.append(_csv(directory / "variants.csv", VARIANT_COLUMNS, _variant_rows(knowledge)))
    return written


def _variant_rows(knowledge: Knowledge) -> list[tuple[str, ...]]:
    labels = knowledge.wording.category_labels
    return [
        (
            variant.id,
            variant.acr_topic,
            variant.title,
            "exact" if variant.wording_confirmed else "paraphrase (UNCONFIRMED)",
            rating.procedure,
            labels[rating.category],
            str(rating.rating) if rating.rating is not None else "UNCONFIRMED",
            rating.radiation_level,
            rating.radiation_level_complete_spine or "",
            " ".join(rating.sources),
            knowledge.version,
        )
        for variant in knowledge.variants.values()
        for rating in variant.ratings
    ]


def _json(path: Path, resource) -> Path:
    data = resource.model_dump(mode="json", exclude_none=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


if __name__ == "__main__":
    sys.exit(main())
