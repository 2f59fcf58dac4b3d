"""`cds-knowledge export DIR`: ValueSets and variant tables a committee can diff."""

from __future__ import annotations

import csv
import json
import shutil

from fhir.resources.R4B.valueset import ValueSet

from cds_service.knowledge_cli import main

from .conftest import DEFAULT_KNOWLEDGE_DIR


def rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_writes_valuesets_and_tables(tmp_path, knowledge, capsys):
    out = tmp_path / "export"
    assert main(["export", str(out), "--knowledge", str(DEFAULT_KNOWLEDGE_DIR)]) == 0
    assert f"knowledge {knowledge.version}" in capsys.readouterr().out
    codes = rows(out / "value-set-codes.csv")
    for vs in knowledge.value_sets.values():
        name = vs.id.replace("_", "-")
        definition = ValueSet.model_validate_json((out / f"ValueSet-{name}.json").read_text())
        assert definition.version == knowledge.version and definition.compose.include
        expansion = ValueSet.model_validate_json(
            (out / f"ValueSet-{name}.expansion.json").read_text()
        ).expansion
        listed = {(r["system"], r["code"]) for r in codes if r["value_set"] == name}
        assert listed == {(c.system, c.code) for c in expansion.contains}
    table = rows(out / "variants.csv")
    assert len(table) == sum(len(v.ratings) for v in knowledge.variants.values())
    v2_mri = next(
        r
        for r in table
        if r["variant"] == "acr-vcf-2022-v2"
        and r["procedure"] == "MRI spine area of interest without and with IV contrast"
    )
    assert (v2_mri["category"], v2_mri["rating"]) == ("Usually Appropriate", "9")
    assert {r["rating"] for r in table if r["variant"] == "acr-vcf-2022-v3"} == {"UNCONFIRMED"}


def test_two_knowledge_versions_diff_line_by_line(tmp_path):
    changed = tmp_path / "cards"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR, changed)
    variants = changed / "variants.yaml"
    text = variants.read_text(encoding="utf-8")
    variants.write_text(
        text.replace("category: may-be-appropriate", "category: usually-not-appropriate", 1),
        encoding="utf-8",
    )
    assert main(["export", str(tmp_path / "a"), "--knowledge", str(DEFAULT_KNOWLEDGE_DIR)]) == 0
    assert main(["export", str(tmp_path / "b"), "--knowledge", str(changed)]) == 0
    before = (tmp_path / "a" / "variants.csv").read_text().splitlines()
    after = (tmp_path / "b" / "variants.csv").read_text().splitlines()
    changed_lines = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed_lines) == 1
    assert "May Be Appropriate" in changed_lines[0][0]
    assert "Usually Not Appropriate" in changed_lines[0][1]
    for name in ("ValueSet-prior-vcf.json", "value-set-codes.csv"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    assert json.loads((tmp_path / "a" / "ValueSet-prior-vcf.json").read_text())["url"]


def test_bad_knowledge_stops_the_export_with_the_file_named(tmp_path, capsys):
    broken = tmp_path / "cards"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR, broken)
    (broken / "variants.yaml").unlink()
    assert main(["export", str(tmp_path / "out"), "--knowledge", str(broken)]) == 2
    assert "variants.yaml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
