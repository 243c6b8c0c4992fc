"""The installed package carries what it needs, and every command documents itself."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import typer
from typer.testing import CliRunner

from cli.main import app
from n2g_kb.kb import cypher

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _commands(group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if getattr(command, "commands", None):  # a sub-group (typer vendors its own click)
            yield from _commands(command, prefix + (name,))


def test_the_wheel_ships_the_cypher_folder_and_the_neo4j_pom(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
    )
    wheel = next(tmp_path.glob("n2g_kb-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"n2g_kb/cypher/{q}.cypher" for q in cypher.available()}
    assert "n2g_kb/cypher/schema.cypher" in shipped
    assert shipped <= names
    assert "n2g_kb/kb/neo4j_pom.xml" in names
    assert "cli/main.py" in names


def test_every_query_file_starts_with_a_header_comment():
    for name in cypher.available():
        assert cypher.header(name), f"{name}.cypher has no leading // comment saying what it answers"


def test_every_command_has_help_text_and_answers_help():
    group = typer.main.get_command(app)
    seen = list(_commands(group))
    assert {("db",), ("db", "start"), ("db", "status"), ("db", "stop"), ("db", "init")} <= {p for p, _ in seen}
    for path, command in seen:
        assert (command.help or "").strip(), f"`n2gkb {' '.join(path)}` has no help text"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_no_cypher_is_built_with_string_formatting_in_python():
    offenders = []
    for path in list((ROOT / "n2g_kb").rglob("*.py")) + list((ROOT / "cli").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("f\"MATCH", "f'MATCH", "f\"CREATE", "f\"MERGE", "f\"UNWIND", "f\"CALL")):
                offenders.append(f"{path.name}:{number}")
    assert offenders == []
