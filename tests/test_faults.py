"""Fault tests: what users meet, each ending with an audit of the knowledge base.

A real `n2gkb ingest` runs in a subprocess and is killed (SIGKILL, as `kill -9` would)
at a named stage through the `N2GKB_FAULT` hook (`n2g_kb.faults`): inside a write
transaction, during mining, during the checkpoint save; two ingests overlap; Neo4j
itself is killed mid-run; the first `db start` is killed. After each, the same command
is run again, and the audit (`n2g_kb.kb.audit`) must find exactly one graph per neuron,
no orphans, the census of a clean run, and every Run's provenance consistent.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.faults import FAULT_ENV
from n2g_kb.kb.audit import audit, census
from n2g_kb.kb.localdb import LocalNeo4j
from n2g_kb.settings import LocalServerSettings

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
NEURONS = [(layer, n) for layer in (0, 1) for n in range(4)]


def _args(model_dir, corpus_file, neurons: str = "0-3", *extra: str) -> list[str]:
    return [
        "ingest", str(model_dir), "--layers", "0-1", "--neurons", neurons, "--examples", "4",
        "--corpus", str(corpus_file), "--context", "24", "--augmenter", "none", "--chunk-size", "2",
        "--device", "cpu", *extra,
    ]  # fmt: skip


def _spawn(args: list[str], env: dict[str, str], fault: str | None = None) -> subprocess.Popen:
    extra = {FAULT_ENV: fault} if fault else {}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args], env=os.environ | env | extra, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _killed(args, env, fault: str) -> None:
    proc = _spawn(args, env, fault)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err[-2000:]


def _wait_stopped(proc: subprocess.Popen, timeout: float = 300) -> None:
    """Waits until `proc` stopped itself at its fault point (state T)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        if Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[-1].split()[0] == "T":
            return
        time.sleep(0.1)
    raise AssertionError("the process never reached its fault point")


def _resume(args, env) -> str:
    result = runner.invoke(app, args, env=env | {"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def clean(neo4j_driver, neo4j_settings, model_dir, corpus_file, tmp_path_factory) -> dict:
    """The census and neurons of one uninterrupted ingest (then the database is emptied)."""
    from n2g_kb.kb.store import Store

    store = Store(neo4j_driver, neo4j_settings.database, settings=neo4j_settings)
    store.clear()
    env = {
        "NEO4J_URI": neo4j_settings.uri, "NEO4J_USER": neo4j_settings.user,
        "NEO4J_PASSWORD": neo4j_settings.password or "", "NEO4J_DATABASE": neo4j_settings.database,
        "N2GKB_DATA_DIR": str(tmp_path_factory.mktemp("clean-data")),
    }  # fmt: skip
    _resume(_args(model_dir, corpus_file), env)
    reference = {"census": census(store), "neurons": _neurons(store)}
    store.clear()
    return reference


def _neurons(store) -> list[tuple]:
    return [(r["layer"], r["index"], r["status"], r["n_trie_nodes"], r["examples"]) for r in store.read("ingest/audit_neurons", model="tiny")]


def _assert_sound(store, clean: dict | None = None) -> None:
    assert audit(store, "tiny") == []
    if clean is not None:
        assert _neurons(store) == clean["neurons"]
        assert census(store) == clean["census"]


@pytest.fixture
def env(cli_env, tmp_path) -> dict[str, str]:
    return cli_env | {"N2GKB_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}


def test_a_kill_inside_a_write_transaction_loses_that_chunk_whole_and_resumes(env, store, clean, model_dir, corpus_file):
    args = _args(model_dir, corpus_file)
    _killed(args, env, "write-tx@2")  # killed before the second chunk's commit
    assert len(_neurons(store)) == 2  # the first chunk, whole; nothing of the second
    assert audit(store, "tiny") == []
    out = _resume(args, env)
    assert "Resuming: 2 of 8 neurons" in out
    _assert_sound(store, clean)


def test_a_kill_during_mining_resumes_to_the_clean_result(env, store, clean, model_dir, corpus_file):
    args = _args(model_dir, corpus_file)
    _killed(args, env, "mine-batch@2")
    assert _neurons(store) == []
    _resume(args, env)
    _assert_sound(store, clean)


def test_a_kill_during_the_checkpoint_save_leaves_no_stale_temp_file(env, store, clean, model_dir, corpus_file):
    args = _args(model_dir, corpus_file)
    _killed(args, env, "checkpoint-save")
    runs = Path(env["N2GKB_DATA_DIR"]) / "runs"
    assert [p.name for p in runs.glob("*/*")] and all(".tmp" in p.name for p in runs.glob("*/*"))
    _resume(args, env)
    assert [p.name for p in runs.glob("*/*")] == ["mined.pt"]
    _assert_sound(store, clean)


def test_overlapping_ingests_neither_crash_nor_duplicate_and_runs_count_what_they_wrote(env, store, clean, model_dir, corpus_file):
    first = _spawn(_args(model_dir, corpus_file, "0-3"), env, "extract:stop")
    try:
        _wait_stopped(first)  # planned 0-3 of both layers and mined; writes nothing yet
        _resume(_args(model_dir, corpus_file, "2-3"), env)  # another ingest does the overlap
    finally:
        first.send_signal(signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    _assert_sound(store, clean)
    runs = {r["id"]: r for r in store.read("ingest/audit_runs", model="tiny")}
    assert len(runs) == 2 and all(r["status"] == "finished" for r in runs.values())
    assert sorted(r["produced"] for r in runs.values()) == [4, 4]  # the overlap was not written twice


def test_two_writers_of_the_same_neurons_take_turns_without_a_constraint_error(store):
    """Two ingests writing the same 20 neurons at once: no constraint error, no neuron twice."""
    import threading

    from n2g_kb.n2g.results import Example, NeuronResult

    def result(i: int, token: str) -> NeuronResult:
        rows = [
            dict(id=0, parent=None, kind="root", token=None, depth=0, activation=None, importance=None, end_activation=None),
            dict(id=1, parent=0, kind="token", token=token, depth=1, activation=0.9, importance=None, end_activation=0.9),
        ]
        example = Example(tokens=["x", token], activations=[0.0, 1.0], split="test")
        return NeuronResult("tiny", 0, i, 1.0, trie_nodes=rows, firing_tokens={token: 0.9}, examples=[example])

    store.write_neurons("tiny", [NeuronResult("tiny", 0, i, 0.0, status="failed", error="x") for i in range(20)])
    for run in ("run-a", "run-b"):
        store.start_run(run, "tiny")
    written, errors = {}, []

    def write(run: str, token: str) -> None:
        try:
            written[run] = store.write_neurons("tiny", [result(i, token) for i in range(20)], run_id=run, claim=True)
        except Exception as e:  # noqa: BLE001 - the test reports it
            errors.append(e)

    threads = [threading.Thread(target=write, args=(run, tok)) for run, tok in (("run-a", "a"), ("run-b", "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # each neuron was written by exactly one run (a write's transactions claim their neurons
    # group by group, so the two runs may share the chunk), and holds that run's graph
    by_run = {run: {r.index for r in w} for run, w in written.items()}
    assert by_run["run-a"].isdisjoint(by_run["run-b"]) and by_run["run-a"] | by_run["run-b"] == set(range(20))
    for run, token in (("run-a", "a"), ("run-b", "b")):
        for i in by_run[run]:
            assert store.load_neuron("tiny", 0, i).firing_tokens == {token: 0.9}
    assert audit(store, "tiny") == []


# ------------------------------------------------------------ a managed Neo4j of its own


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A fresh managed-Neo4j environment (nothing started yet); stopped at the end."""
    data = tmp_path_factory.mktemp("own-neo4j") / "data"
    env = {
        "NEO4J_URI": "", "N2GKB_DATA_DIR": str(data), "N2GKB_BOLT_PORT": str(_free_port()),
        "N2GKB_HTTP_PORT": str(_free_port()), "N2GKB_NEO4J_HEAP": "512m", "N2GKB_NEO4J_PAGECACHE": "128m",
        "HF_HUB_OFFLINE": "1",
    }  # fmt: skip
    server = LocalNeo4j(LocalServerSettings.from_env_dict(env))
    yield env, server
    server.stop()


def test_a_kill_at_any_point_of_the_first_start_leaves_a_home_the_next_start_completes(own_server, monkeypatch):
    env, server = own_server
    _killed(["db", "start"], env, "db-password-file")
    assert server.password_file.stat().st_mode & 0o777 == 0o600  # on disk before anything uses it
    assert not server.auth_file.exists()
    password = server.password()
    _killed(["db", "start"], env, "db-auth-set")
    assert server.auth_file.exists() and server.password() == password

    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(cmd, *a, **k):
        seen.append([str(c) for c in cmd])
        return real_run(cmd, *a, **k)

    monkeypatch.setattr(subprocess, "run", spy)
    from n2g_kb.kb.localdb import find_java

    server._set_initial_password(find_java())  # not started yet: sets it again, from the file
    assert any("set-initial-password" in cmd for cmd in seen)
    assert not any(password in arg for cmd in seen for arg in cmd)
    monkeypatch.undo()

    _killed(["db", "start"], env, "db-server-spawned")
    assert not server.state_file.exists()  # the starter died before recording the server...
    started = runner.invoke(app, ["db", "start"], env=env)
    assert started.exit_code == 0 and "Already running" in started.output  # ...which this start adopts
    pid = server.running_pid()
    assert pid is not None and password not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    from n2g_kb.kb.db import connect

    connect(server.connection("neo4j"), retry_s=60).close()  # the password of the file works
    data_dir = Path(env["N2GKB_DATA_DIR"])
    for folder in (data_dir, server.home, server.home / "data", server.home / "logs", server.home / "conf"):
        assert folder.stat().st_mode & 0o077 == 0, folder


def test_a_first_start_of_an_older_bricked_home_sets_a_new_password(tmp_path):
    """A home left by the old bug (auth file, no password file, never started) starts."""
    settings = LocalServerSettings(cache_dir=LocalServerSettings.from_env().cache_dir, data_dir=tmp_path / "d")
    server = LocalNeo4j(settings)
    server.auth_file.parent.mkdir(parents=True)
    server.auth_file.write_text("neo4j:SHA-256,00,00,1024:\n")
    server._prepare_home()
    server._set_initial_password(__import__("n2g_kb.kb.localdb", fromlist=["find_java"]).find_java())
    assert server.password_file.exists() and server.auth_file.read_text() != "neo4j:SHA-256,00,00,1024:\n"


def test_neo4j_killed_mid_ingest_is_one_line_within_15_s_and_the_rerun_resumes(own_server, clean, model_dir, corpus_file):
    env, server = own_server
    server.start()
    args = _args(model_dir, corpus_file)
    proc = _spawn(args, env, "chunk-written:stop")
    try:
        _wait_stopped(proc)
        os.kill(server.running_pid(), signal.SIGKILL)
        t0 = time.monotonic()
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 1, err[-2000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith(f"Error: Cannot reach Neo4j at bolt://127.0.0.1:{env['N2GKB_BOLT_PORT']}")
    assert "retried" not in err and "Traceback" not in err
    # The driver retries for 2 s and the writes still queued fail at once: about 5 s on an
    # idle 2-core machine, against 65-114 s of retries before.
    assert elapsed < 15, elapsed

    out = _resume(args, env)  # starts the managed Neo4j again and picks up where it stopped
    assert re.search(r"Resuming: [246] of 8 neurons", out), out
    from n2g_kb.kb.db import connect
    from n2g_kb.kb.store import Store

    settings = server.connection("neo4j")
    driver = connect(settings)
    try:
        _assert_sound(Store(driver, "neo4j", settings=settings), clean)
    finally:
        driver.close()
