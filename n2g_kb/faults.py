"""Named fault points: a test hook that stops or kills the process at a chosen stage.

Inert unless `N2GKB_FAULT` is set. Its value is `STAGE[@N][:ACTION]`: at the N-th time
(default 1) the code passes `fault_point(STAGE)`, the process gets SIGKILL (ACTION `kill`,
the default: no cleanup, no finally blocks, exactly like `kill -9` or a power cut) or
SIGSTOP (ACTION `stop`: the test does something, e.g. kills Neo4j, then sends SIGCONT).
The fault tests (tests/test_faults*.py) use it to interrupt an ingest or the first
start of the managed Neo4j at a deterministic point.

Stages: `db-password-file` (the new password file is on disk, Neo4j's auth not yet set),
`db-auth-set` (auth set, server not started), `mine-batch` (a corpus batch was scored),
`checkpoint-save` (the checkpoint's temp file is written, not yet renamed), `extract`
(a chunk is being extracted), `write-tx` (inside a chunk's write transaction, before the
commit), `chunk-written` (a chunk is committed).
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "N2GKB_FAULT"
_seen: dict[str, int] = {}


def _parse(value: str) -> tuple[str, int, str]:
    spec, _, action = value.partition(":")
    stage, _, count = spec.partition("@")
    return stage.strip(), int(count) if count.strip() else 1, (action.strip() or "kill")


def fault_point(stage: str) -> None:
    """Stops or kills this process here when N2GKB_FAULT names `stage` (see the module doc)."""
    value = os.environ.get(FAULT_ENV)
    if not value:
        return
    wanted, count, action = _parse(value)
    if wanted != stage:
        return
    _seen[stage] = _seen.get(stage, 0) + 1
    if _seen[stage] != count:
        return
    os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
