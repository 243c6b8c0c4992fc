"""The managed local Neo4j: assembled from Maven Central, run with the user's Java.

For users without a Neo4j of their own. The jars of Neo4j Community 5.26 (with APOC and
Neo4j Browser) are copied once by Maven into a per-user cache; the server runs from a
per-user home (config, data, logs) on localhost, and any command that needs it starts
it. State lives in files of the home dir:

    <data_dir>/neo4j/conf/neo4j.conf    written at every start from the settings
    <data_dir>/neo4j/data/              the databases (never deleted by n2g-kb)
    <data_dir>/neo4j/logs/              neo4j.log, debug.log, console.log
    <data_dir>/neo4j/server.json        pid, ports, version of the running server
    <data_dir>/neo4j/password           generated once, mode 0600
The data dir and everything n2g-kb creates in it are private to the user (0700 dirs,
0600 password file). The password never appears on a command line: it is written to its
file first (0600), and Neo4j's admin tool reads it from there (`@file` argument), so a
kill at any point of the first start leaves a home that the next start completes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from n2g_kb.errors import LocalServerError
from n2g_kb.faults import fault_point
from n2g_kb.settings import DEFAULT_USER, ConnectionSettings, LocalServerSettings, private_dir

NEO4J_VERSION = "5.26.19"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
_COMPLETE_MARKER = ".complete"
_START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ServerInfo:
    """What `n2gkb db status` reports about the managed server."""

    running: bool
    pid: int | None
    bolt_uri: str
    http_url: str
    version: str
    home: Path
    data_dir: Path


def _pom() -> bytes:
    return resources.files("n2g_kb.kb").joinpath("neo4j_pom.xml").read_bytes()


def _pom_digest() -> str:
    """Part of the cache dir name, so a changed dependency list gets a fresh assembly."""
    return hashlib.sha256(_pom()).hexdigest()[:10]


def _java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LocalServerError(f"Cannot run {java!r} ({e}); install Java 17+ (e.g. apt-get install openjdk-17-jre-headless)") from e
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise LocalServerError(f"Cannot tell the version of {java!r}; install Java 17+ and put it on PATH or set JAVA_HOME")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def find_java() -> str:
    """The `java` binary to run Neo4j with (JAVA_HOME first, then PATH); Java 17+ required."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    for java in candidates:
        if Path(java).exists() and _java_major(java) >= 17:
            return java
    if candidates:
        raise LocalServerError(
            "The managed local Neo4j needs Java 17 or newer; install it (e.g. apt-get install openjdk-17-jre-headless) "
            "or use your own Neo4j (docker compose up -d) and set NEO4J_URI"
        )
    raise LocalServerError(
        "Java is not installed; the managed local Neo4j needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless), "
        "or use your own Neo4j (docker compose up -d) and set NEO4J_URI"
    )


def new_password(length: int = 24) -> str:
    """A random password of letters and digits only: one starting with '-' would be read
    as an option by Neo4j's admin tool."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    """True while process `pid` runs (one of another user's counts; a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this very process) counts as dead. The state of a JVM
    # whose main thread has exited reads "Z" too while its other threads still run (its
    # shutdown), so every thread of the process is looked at.
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # no /proc to look in: os.kill found it
    states = []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                states.append(f.read().split(") ")[-1].split()[0])
        except OSError:
            continue
    return any(state != "Z" for state in states) if states else True


def _pid_is_our_server(pid: int, home: Path) -> bool:
    """True when pid is alive and is a Neo4j started from this home (guards stale pid files)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # no /proc (not Linux): trust the pid
    return ENTRY_POINT in cmdline and str(home) in cmdline


def _find_server(home: Path) -> int | None:
    """The pid of a Neo4j running from `home` that no state file records, if any (Linux)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for entry in proc.iterdir():
        if entry.name.isdigit() and _pid_is_our_server(int(entry.name), home):
            try:
                if f"--home-dir={home}\0" in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    return int(entry.name)
            except OSError:
                continue
    return None


class LocalNeo4j:
    """The managed local server for one `LocalServerSettings` (one home dir)."""

    def __init__(self, settings: LocalServerSettings) -> None:
        self.settings = settings
        self.home = settings.data_dir / "neo4j"
        self.lib_dir = settings.cache_dir / f"neo4j-{NEO4J_VERSION}-{_pom_digest()}"

    # -- files ---------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "server.json"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "console.log"

    @property
    def auth_file(self) -> Path:
        return self.home / "data" / "dbms" / "auth.ini"

    def _started_once(self) -> bool:
        """True once Neo4j has created its system database (it then ignores auth.ini)."""
        return (self.home / "data" / "databases" / "system").exists()

    def _prepare_home(self) -> None:
        private_dir(self.settings.data_dir)
        private_dir(self.home, own=True)

    @contextlib.contextmanager
    def _lock(self):
        self._prepare_home()
        with open(self.home / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- assembling the jars -------------------------------------------------------------
    def is_assembled(self) -> bool:
        return (self.lib_dir / _COMPLETE_MARKER).exists()

    def assemble(self) -> Path:
        """Copy Neo4j's jars from Maven Central into the cache (once). Half-finished copies are redone."""
        if self.is_assembled():
            return self.lib_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalServerError(
                "Maven is needed once to assemble the managed local Neo4j: install it (e.g. apt-get install maven), "
                "or use your own Neo4j (docker compose up -d) and set NEO4J_URI"
            )
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="assemble-", dir=self.settings.cache_dir))
        try:
            pom = work / "pom.xml"
            pom.write_bytes(_pom())
            out = work / "lib"
            proc = subprocess.run(
                [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={out}"],
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if proc.returncode != 0 or not any(out.glob("neo4j-server-*.jar")):
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
                raise LocalServerError(
                    f"Maven could not fetch Neo4j {NEO4J_VERSION} from Maven Central ({tail[0][:200]}); "
                    "check network access to Maven Central and run the command again"
                )
            (out / _COMPLETE_MARKER).write_text(NEO4J_VERSION)
            if self.lib_dir.exists():  # an earlier, half-finished copy
                shutil.rmtree(self.lib_dir)
            out.rename(self.lib_dir)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.lib_dir

    # -- configuration -------------------------------------------------------------------
    def password(self) -> str:
        if self.password_file.exists():
            return self.password_file.read_text().strip()
        raise LocalServerError(
            f"The managed Neo4j has no password file at {self.password_file}; start it once with `n2gkb db start`"
        )

    def _write_config(self) -> None:
        s = self.settings
        for sub in ("conf", "data", "logs", "plugins", "import"):
            private_dir(self.home / sub, own=True)
        conf = "\n".join(
            [
                "# Written by n2g-kb at every start; edit N2GKB_* variables instead.",
                f"server.directories.data={self.home / 'data'}",
                f"server.directories.logs={self.home / 'logs'}",
                f"server.directories.plugins={self.home / 'plugins'}",
                f"server.directories.import={self.home / 'import'}",
                "server.default_listen_address=127.0.0.1",
                f"server.bolt.listen_address=127.0.0.1:{s.bolt_port}",
                f"server.bolt.advertised_address=localhost:{s.bolt_port}",
                f"server.http.listen_address=127.0.0.1:{s.http_port}",
                f"server.http.advertised_address=localhost:{s.http_port}",
                "server.https.enabled=false",
                f"server.memory.pagecache.size={s.pagecache}",
                "dbms.security.auth_enabled=true",
                "dbms.security.procedures.unrestricted=apoc.*",
                "dbms.usage_report.enabled=false",
                "# bounded transaction logs: rotate at 64 MiB, keep at most 256 MiB after a checkpoint",
                "db.tx_log.rotation.size=64M",
                "db.tx_log.rotation.retention_policy=256M size",
                "# smaller dynamic records for string and array properties (pattern keys past the",
                "# 27 characters a property block holds, Neurons' token arrays): honoured when a store",
                "# is created (a new managed database or a bulk build), ignored by an existing one",
                "internal.dbms.block_size.strings=56",
                "internal.dbms.block_size.array_properties=56",
                "# a stop does not wait 2 x 5 s for idle Bolt threads and connections: the",
                "# databases are already shut down (checkpointed) when the Bolt server stops",
                "internal.server.bolt.thread_pool_shutdown_wait_time=0s",
                "internal.server.bolt.connection_shutdown_wait_time=0s",
                "",
            ]
        )
        (self.home / "conf" / "neo4j.conf").write_text(conf)

    def _classpath(self) -> str:
        # As Neo4j's own launcher does, plugins are on the classpath too (APOC registers
        # its extensions through the service loader) as well as in the plugins dir.
        jars = sorted(str(p) for p in self.lib_dir.glob("*.jar"))
        return os.pathsep.join(jars)

    def _install_plugins(self) -> None:
        for jar in self.lib_dir.glob("apoc-*.jar"):
            target = self.home / "plugins" / jar.name
            if not target.exists():
                shutil.copyfile(jar, target)

    def _write_password_file(self) -> str:
        """A new password, on disk (0600, fsynced, renamed into place) before anything uses it."""
        password = new_password()
        for stale in self.home.glob(".password.tmp*"):  # left by a start killed while writing
            stale.unlink(missing_ok=True)
        tmp = self.password_file.with_name(f".password.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.password_file)
        return password

    def _set_initial_password(self, java: str) -> None:
        """Sets the neo4j user's password before the first start, from the password file.

        Until Neo4j has created its system database, the auth file can be (re)written
        any number of times, so a start killed at any point is completed by the next one.
        """
        if self._started_once():
            if self.password_file.exists():
                return
            raise LocalServerError(
                f"The managed Neo4j in {self.home} has users but its password file is missing; "
                f"restore {self.password_file} or point N2GKB_DATA_DIR at a fresh directory"
            )
        if not self.password_file.exists():
            self._write_password_file()
        self.password_file.chmod(0o600)
        fault_point("db-password-file")
        env = dict(os.environ, NEO4J_HOME=str(self.home), NEO4J_CONF=str(self.home / "conf"))
        # '@file': the admin tool (picocli) reads the argument from the file, so the
        # password is never on a command line that `ps` shows to other users.
        proc = subprocess.run(
            [java, "-cp", self._classpath(), ADMIN_TOOL, "dbms", "set-initial-password", f"@{self.password_file}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        if proc.returncode != 0:
            raise LocalServerError(f"Could not set the managed Neo4j's initial password: {proc.stderr.strip()[:200]}")
        fault_point("db-auth-set")

    # -- state ---------------------------------------------------------------------------
    def _read_state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def running_pid(self) -> int | None:
        """The pid of the running server, or None; a stale state file is removed, and a
        server whose starter was killed before it wrote the state file is adopted."""
        self._prepare_home()
        state = self._read_state()
        pid = state.get("pid") if state else None
        if isinstance(pid, int) and _pid_is_our_server(pid, self.home):
            return pid
        self.state_file.unlink(missing_ok=True)
        orphan = _find_server(self.home)
        if orphan is not None:
            self._write_state(orphan)
        return orphan

    def _class_archive(self, java: str, classpath: str) -> tuple[str | None, list[str]]:
        """Java options for a class-data-sharing archive of the server's classes: with one
        for this Java and these jars the JVM maps the classes in instead of loading them
        (Bolt answers after ~5 s instead of ~8 s on the 2-core development machine);
        without, this run writes one when it stops (its first stop takes ~5 s longer) and
        returns the path it writes to, which `stop` gives the archive's name. A JVM that
        cannot use an archive, or finds it stale or damaged, starts without it.
        N2GKB_NEO4J_CDS=off leaves it out."""
        if os.environ.get("N2GKB_NEO4J_CDS", "").strip().lower() in ("0", "off", "false", "no"):
            return None, []
        real = Path(java).resolve()
        try:
            stamp = real.stat().st_mtime_ns
        except OSError:
            return None, []
        key = hashlib.sha256(f"{real}|{stamp}|{classpath}".encode()).hexdigest()[:16]
        final = self.lib_dir / f"classes-{key}.jsa"
        if final.is_file():
            return None, ["-XX:+IgnoreUnrecognizedVMOptions", f"-XX:SharedArchiveFile={final}"]
        pending = final.with_name(f"{final.name}.{os.getpid()}-{time.time_ns()}.tmp")
        return str(pending), ["-XX:+IgnoreUnrecognizedVMOptions", f"-XX:ArchiveClassesAtExit={pending}"]

    @staticmethod
    def _keep_archive(pending: str | None, whole: bool) -> None:
        """After the server stopped: the archive it wrote at exit takes its final name (one
        from a server that had to be killed may be cut short, and is removed)."""
        if not pending:
            return
        path = Path(pending)
        final = path.with_name(path.name.split(".jsa.", 1)[0] + ".jsa")
        with contextlib.suppress(OSError):
            if whole and path.is_file() and path.stat().st_size > 0:
                os.replace(path, final)
            path.unlink(missing_ok=True)

    def _write_state(self, pid: int, archive: str | None = None) -> None:
        s = self.settings
        state = {
            "pid": pid,
            "class_archive": archive,
            "bolt_uri": s.bolt_uri,
            "http_url": f"http://localhost:{s.http_port}",
            "version": NEO4J_VERSION,
            "started_at": time.time(),
        }
        tmp = self.state_file.with_name(f".server.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)

    def connection(self, database: str) -> ConnectionSettings:
        return ConnectionSettings(
            uri=self.settings.bolt_uri, user=DEFAULT_USER, password=self.password(), database=database, managed=True
        )

    def info(self) -> ServerInfo:
        pid = self.running_pid()
        state = self._read_state() or {}
        return ServerInfo(
            running=pid is not None,
            pid=pid,
            bolt_uri=state.get("bolt_uri", self.settings.bolt_uri),
            http_url=state.get("http_url", f"http://localhost:{self.settings.http_port}"),
            version=NEO4J_VERSION,
            home=self.home,
            data_dir=self.home / "data",
        )

    # -- start / stop --------------------------------------------------------------------
    def start(self, on_status=None, http: bool = True) -> tuple[int, bool]:
        """Start the server unless it runs. Returns (pid, started_now). With `http` False it
        returns once Bolt answers (the HTTP port, for Neo4j Browser, opens about a second later)."""
        say = on_status or (lambda msg: None)
        with self._lock():
            pid = self.running_pid()
            if pid is not None:
                self._wait_ready(lambda: None if pid_alive(pid) else -1, http)  # it may still be starting
                return pid, False
            java = find_java()
            if not self.is_assembled():
                say(f"Assembling Neo4j {NEO4J_VERSION} from Maven Central into {self.lib_dir} (once)...")
            self.assemble()
            s = self.settings
            for port, what, var in ((s.bolt_port, "Bolt", "N2GKB_BOLT_PORT"), (s.http_port, "HTTP", "N2GKB_HTTP_PORT")):
                if not _port_free(port):
                    raise LocalServerError(
                        f"Port {port} ({what}) is already in use, perhaps by another Neo4j; "
                        f"set NEO4J_URI to use that server, or {var} to run the managed one on another port"
                    )
            self._write_config()
            self._install_plugins()
            self._set_initial_password(java)
            say(f"Starting Neo4j {NEO4J_VERSION} (data in {self.home / 'data'})...")
            log = open(self.log_file, "ab")
            classpath = self._classpath()
            archive, cds = self._class_archive(java, classpath)
            cmd = [
                java,
                f"-Xms{s.heap}",
                f"-Xmx{s.heap}",
                "-XX:+UseG1GC",
                "-Dfile.encoding=UTF-8",
                *cds,
                "-cp",
                classpath,
                ENTRY_POINT,
                f"--home-dir={self.home}",
                f"--config-dir={self.home / 'conf'}",
            ]
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            fault_point("db-server-spawned")
            self._write_state(proc.pid, archive)
            self._wait_ready(proc.poll, http)
            return proc.pid, True

    def _wait_ready(self, exit_code, http: bool = True) -> None:
        """Waits for the Bolt port (and the HTTP port, with `http`); `exit_code()` is None
        while the server process lives."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if exit_code() is not None:
                self.state_file.unlink(missing_ok=True)
                raise LocalServerError(
                    f"Neo4j exited during start-up (code {exit_code()}); see {self.home / 'logs'} "
                    "(neo4j.log, console.log) for the cause"
                )
            if _port_open(self.settings.bolt_port) and (not http or _port_open(self.settings.http_port)):
                return
            time.sleep(0.2)
        raise LocalServerError(
            f"Neo4j did not open port {self.settings.bolt_port} within {_START_TIMEOUT_S:.0f} s; "
            f"see {self.home / 'logs'} and stop it with `n2gkb db stop`"
        )

    def stop(self, timeout: float = 90.0) -> int | None:
        """Stop the server if it runs; returns the pid that was stopped (None if none ran)."""
        with self._lock():
            pid = self.running_pid()
            if pid is None:
                return None
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and pid_alive(pid):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.25)
            killed = pid_alive(pid)
            if killed:
                os.kill(pid, signal.SIGKILL)
            state = self._read_state() or {}
            self.state_file.unlink(missing_ok=True)
            self._keep_archive(state.get("class_archive"), whole=not killed)
            return pid

    def ensure_running(self, database: str, on_status=None) -> ConnectionSettings:
        """Start on demand and return settings that reach it."""
        self.start(on_status=on_status)
        return self.connection(database)
