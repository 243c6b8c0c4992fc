"""Shared fixtures: a real Neo4j 5.26 for every storage and query test.

With NEO4J_URI set, tests use that server (NEO4J_USER / NEO4J_PASSWORD / NEO4J_DATABASE)
and WIPE its database before each test: point it at a throwaway database. Otherwise one
managed local Neo4j is started for the test session in a temporary data dir on free
ports (jars come from the per-user cache, assembled from Maven Central on first use),
so the user's own knowledge base is never touched.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from n2g_kb.settings import ConnectionSettings, LocalServerSettings, cache_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def neo4j_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectionSettings]:
    if os.environ.get("NEO4J_URI"):
        yield ConnectionSettings(
            uri=os.environ["NEO4J_URI"],
            user=os.environ.get("NEO4J_USER", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD"),
            database=os.environ.get("NEO4J_DATABASE", "neo4j"),
        )
        return
    from n2g_kb.kb.localdb import LocalNeo4j

    local = LocalServerSettings(
        cache_dir=cache_dir(),
        data_dir=tmp_path_factory.mktemp("neo4j-home"),
        bolt_port=_free_port(),
        http_port=_free_port(),
        heap="512m",
        pagecache="256m",
    )
    server = LocalNeo4j(local)
    server.start()
    try:
        yield server.connection("neo4j")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_driver(neo4j_settings: ConnectionSettings):
    from n2g_kb.kb.db import connect

    driver = connect(neo4j_settings, retry_s=60.0)
    yield driver
    driver.close()


@pytest.fixture
def store(neo4j_driver, neo4j_settings: ConnectionSettings):
    """A Store on a database emptied before the test (schema applied)."""
    from n2g_kb.kb.store import Store

    s = Store(neo4j_driver, neo4j_settings.database, settings=neo4j_settings)
    s.clear()
    s.init_schema()
    return s


@pytest.fixture
def cli_env(neo4j_settings: ConnectionSettings, store) -> dict[str, str]:
    """Environment for `CliRunner.invoke(..., env=cli_env)` reaching the test Neo4j (emptied)."""
    return {
        "NEO4J_URI": neo4j_settings.uri,
        "NEO4J_USER": neo4j_settings.user,
        "NEO4J_PASSWORD": neo4j_settings.password or "",
        "NEO4J_DATABASE": neo4j_settings.database,
    }


@pytest.fixture(scope="module")
def kb(neo4j_driver, neo4j_settings: ConnectionSettings):
    """The fixture knowledge base (n2g_kb.kb.fixtures), written once per test module on an
    emptied database; tests using it only read."""
    from n2g_kb.kb.fixtures import write_fixture
    from n2g_kb.kb.store import Store

    s = Store(neo4j_driver, neo4j_settings.database, settings=neo4j_settings)
    s.clear()
    s.init_schema()
    write_fixture(s)
    return s


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A tiny GPT-2 (2 layers, 64 neurons per layer, a BPE trained on the synthetic corpus)
    saved as a checkpoint directory named `tiny`, built once per session; the ingest, shard,
    scale and fault tests load it through the real loading path. Modules that need another
    model define their own `model_dir`."""
    from n2g_kb.testing import build_tiny_gpt2, synthetic_corpus

    return build_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny", corpus=synthetic_corpus(300), d_mlp=64)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    """A text corpus of 200 synthetic sentences (documents separated by blank lines)."""
    from n2g_kb.testing import synthetic_corpus

    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join(synthetic_corpus(200, seed=5)), encoding="utf-8")
    return path
