"""A service that cannot start says which file or setting is at fault (issue 19 §6)."""

from __future__ import annotations

import shutil

import pytest

from cds_service import create_app
from cds_service.db import DatabaseStartError
from cds_service.knowledge.errors import KnowledgeError
from cds_service.knowledge.loader import load_knowledge
from cds_service.settings import DEFAULT_KNOWLEDGE_DIR


def test_a_knowledge_file_that_is_not_utf8_is_named(tmp_path):
    knowledge = tmp_path / "cards"
    shutil.copytree(DEFAULT_KNOWLEDGE_DIR, knowledge)
    with (knowledge / "card-texts.yaml").open("ab") as file:
        file.write(b"\n# caf\xe9 in Latin-1\n")
    with pytest.raises(KnowledgeError) as refused:
        load_knowledge(knowledge)
    assert str(refused.value).startswith("cards/card-texts.yaml: Not UTF-8 text: byte 0xe9")


def test_an_unusable_sqlite_path_names_database_url(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    url = f"sqlite:///{not_a_folder}/feedback.sqlite3"
    with pytest.raises(DatabaseStartError) as refused:
        create_app(database_url=url)
    assert str(refused.value).startswith(f"DATABASE_URL={url}: ")
    assert "unable to open database file" in str(refused.value)


def test_an_unreachable_database_is_named_without_its_password():
    url = "postgresql+psycopg://cds:s3cret-pw@127.0.0.1:1/cds"
    with pytest.raises(DatabaseStartError) as refused:
        create_app(database_url=url)
    assert str(refused.value).startswith(
        "DATABASE_URL=postgresql+psycopg://cds:***@127.0.0.1:1/cds"
    )
    assert "s3cret-pw" not in str(refused.value)
