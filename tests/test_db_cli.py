"""`n2gkb db ...` and the managed local Neo4j: lifecycle and every expected failure."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.errors import LocalServerError
from n2g_kb.kb.localdb import LocalNeo4j
from n2g_kb.settings import LocalServerSettings, cache_dir

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def local_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a managed server of its own (temporary data dir, free ports)."""
    return {
        "NEO4J_URI": "",
        "N2GKB_DATA_DIR": str(tmp_path / "data"),
        "N2GKB_BOLT_PORT": str(_free_port()),
        "N2GKB_HTTP_PORT": str(_free_port()),
        "N2GKB_NEO4J_HEAP": "512m",
        "N2GKB_NEO4J_PAGECACHE": "128m",
    }


def _error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_status_of_an_unreachable_uri_is_one_clear_line_and_exit_1():
    result = runner.invoke(app, ["db", "status"], env={"NEO4J_URI": "bolt://127.0.0.1:1"})
    assert result.exit_code == 1
    line = _error_line(result)
    assert line.startswith("Error: Cannot reach Neo4j at bolt://127.0.0.1:1")
    assert "Traceback" not in result.output


def test_a_wrong_password_is_one_clear_line_and_exit_1(neo4j_settings):
    env = {"NEO4J_URI": neo4j_settings.uri, "NEO4J_USER": neo4j_settings.user, "NEO4J_PASSWORD": "not-the-password"}
    result = runner.invoke(app, ["db", "status"], env=env)
    assert result.exit_code == 1
    line = _error_line(result)
    assert "refused the credentials" in line and "NEO4J_PASSWORD" in line
    assert "not-the-password" not in result.output


def test_a_malformed_uri_is_a_config_error():
    result = runner.invoke(app, ["db", "status"], env={"NEO4J_URI": "http://localhost:7474"})
    assert result.exit_code == 1
    assert "is not a Neo4j URI" in _error_line(result)


def test_status_against_a_running_server_reports_version_and_counts(cli_env, store):
    store.upsert_model("tiny", n_layers=2)
    result = runner.invoke(app, ["db", "status"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Neo4j version:  5.26." in result.output
    assert "Nodes:          2" in result.output  # the Model and the KnowledgeBase node


def test_the_managed_server_starts_reports_stops_and_keeps_its_data(local_env):
    started = runner.invoke(app, ["db", "start"], env=local_env)
    try:
        assert started.exit_code == 0, started.output
        assert "Started Neo4j 5.26" in started.output

        again = runner.invoke(app, ["db", "start"], env=local_env)
        assert again.exit_code == 0 and "Already running" in again.output

        status = runner.invoke(app, ["db", "status"], env=local_env)
        assert status.exit_code == 0, status.output
        pid = json.loads((Path(local_env["N2GKB_DATA_DIR"]) / "neo4j" / "server.json").read_text())["pid"]
        assert f"Process id:     {pid}" in status.output
        assert f"bolt://127.0.0.1:{local_env['N2GKB_BOLT_PORT']}" in status.output
        assert "Nodes:          0" in status.output

        init = runner.invoke(app, ["db", "init"], env=local_env)
        assert init.exit_code == 0, init.output
        from n2g_kb.kb.db import connect

        server = LocalNeo4j(LocalServerSettings.from_env_dict(local_env))
        driver = connect(server.connection("neo4j"))
        driver.execute_query("CREATE (:Model {name: $name})", name="kept")
        driver.close()

        stopped = runner.invoke(app, ["db", "stop"], env=local_env)
        assert stopped.exit_code == 0 and f"Stopped Neo4j (pid {pid})" in stopped.output

        restarted = runner.invoke(app, ["db", "start"], env=local_env)
        assert restarted.exit_code == 0, restarted.output
        assert "Assembling" not in restarted.output  # the cached jars are reused
        status = runner.invoke(app, ["db", "status"], env=local_env)
        assert "Nodes:          1" in status.output  # and the data survived the restart
    finally:
        runner.invoke(app, ["db", "stop"], env=local_env)


def test_a_taken_port_is_reported_with_what_to_do(local_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(local_env["N2GKB_BOLT_PORT"])))
        s.listen()
        result = runner.invoke(app, ["db", "start"], env=local_env)
    assert result.exit_code == 1
    line = _error_line(result)
    assert f"Port {local_env['N2GKB_BOLT_PORT']} (Bolt) is already in use" in line
    assert "N2GKB_BOLT_PORT" in line


def test_a_stale_pid_file_is_ignored_and_removed(local_env):
    home = Path(local_env["N2GKB_DATA_DIR"]) / "neo4j"
    home.mkdir(parents=True)
    (home / "server.json").write_text(json.dumps({"pid": os.getpid(), "bolt_uri": "bolt://127.0.0.1:1"}))
    result = runner.invoke(app, ["db", "status"], env=local_env)
    assert result.exit_code == 0
    assert "not running" in result.output
    assert not (home / "server.json").exists()
    stop = runner.invoke(app, ["db", "stop"], env=local_env)
    assert "was not running" in stop.output


def test_missing_java_says_what_to_install(local_env, tmp_path):
    env = {**local_env, "PATH": str(tmp_path), "JAVA_HOME": ""}
    result = runner.invoke(app, ["db", "start"], env=env)
    assert result.exit_code == 1
    line = _error_line(result)
    assert "Java" in line and "openjdk-17" in line and "docker compose" in line


def test_a_half_downloaded_jar_cache_is_assembled_again(tmp_path):
    server = LocalNeo4j(LocalServerSettings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data"))
    server.lib_dir.mkdir(parents=True)
    (server.lib_dir / "neo4j-server-5.26.19.jar").write_bytes(b"truncated")
    assert not server.is_assembled()
    server.assemble()
    assert server.is_assembled()
    jar = server.lib_dir / "neo4j-server-5.26.19.jar"
    assert jar.stat().st_size > 1000
    assert any(server.lib_dir.glob("apoc-core-*.jar"))


def test_the_managed_password_is_generated_private_and_never_printed(local_env):
    result = runner.invoke(app, ["db", "start"], env=local_env)
    try:
        assert result.exit_code == 0, result.output
        server = LocalNeo4j(LocalServerSettings.from_env_dict(local_env))
        secret = server.password()
        assert len(secret) >= 16
        assert server.password_file.stat().st_mode & 0o077 == 0
        status = runner.invoke(app, ["db", "status"], env=local_env)
        assert secret not in result.output + status.output
    finally:
        runner.invoke(app, ["db", "stop"], env=local_env)


def test_missing_maven_on_a_cold_cache_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    server = LocalNeo4j(LocalServerSettings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data"))
    with pytest.raises(LocalServerError, match="apt-get install maven"):
        server.assemble()


def test_the_default_cache_is_per_user_and_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("N2GKB_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"


def test_generated_passwords_are_letters_and_digits_so_the_admin_tool_takes_them():
    from n2g_kb.kb.localdb import new_password

    passwords = [new_password() for _ in range(2000)]
    assert all(p.isalnum() and p.isascii() and len(p) == 24 for p in passwords)
    assert len(set(passwords)) == len(passwords)


def test_a_stopped_server_leaves_a_class_archive_that_the_next_start_maps_in(local_env, tmp_path):
    from n2g_kb.kb.localdb import find_java

    server = LocalNeo4j(LocalServerSettings.from_env_dict(local_env))
    server.assemble()
    java, classpath = find_java(), server._classpath()
    finals = list(server.lib_dir.glob("classes-*.jsa"))
    for f in finals:  # other servers of this cache wrote one already: set it aside
        f.unlink()
    state_file = Path(local_env["N2GKB_DATA_DIR"]) / "neo4j" / "server.json"
    try:
        assert runner.invoke(app, ["db", "start"], env=local_env).exit_code == 0
        pending = json.loads(state_file.read_text())["class_archive"]
        assert pending and pending.endswith(".tmp")
        assert runner.invoke(app, ["db", "stop"], env=local_env).exit_code == 0
        assert not Path(pending).exists()
        (final,) = server.lib_dir.glob("classes-*.jsa")
        assert server._class_archive(java, classpath) == (None, ["-XX:+IgnoreUnrecognizedVMOptions", f"-XX:SharedArchiveFile={final}"])

        assert runner.invoke(app, ["db", "start"], env=local_env).exit_code == 0
        state = json.loads(state_file.read_text())
        assert state["class_archive"] is None
        cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
        assert f"-XX:SharedArchiveFile={final}".encode() in cmdline
        assert "Nodes:          0" in runner.invoke(app, ["db", "status"], env=local_env).output
    finally:
        runner.invoke(app, ["db", "stop"], env=local_env)


def test_a_class_archive_is_kept_only_from_a_server_that_stopped_cleanly(tmp_path, monkeypatch):
    pending = tmp_path / "classes-abc.jsa.123-456.tmp"
    pending.write_bytes(b"cut short")
    LocalNeo4j._keep_archive(str(pending), whole=False)
    assert not pending.exists() and not (tmp_path / "classes-abc.jsa").exists()
    pending.write_bytes(b"whole")
    LocalNeo4j._keep_archive(str(pending), whole=True)
    assert not pending.exists() and (tmp_path / "classes-abc.jsa").read_bytes() == b"whole"
    monkeypatch.setenv("N2GKB_NEO4J_CDS", "off")
    server = LocalNeo4j(LocalServerSettings(cache_dir=tmp_path, data_dir=tmp_path / "data", bolt_port=1, http_port=2,
                                            heap="512m", pagecache="128m"))
    assert server._class_archive("java", "a.jar") == (None, [])
