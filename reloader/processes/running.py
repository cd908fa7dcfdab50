"""Run a tool as a child process with a deadline that really ends it, and bounded output.

Every tool the controller runs goes through ``run``, so what follows is proven once
(``tests/unit/test_processes.py``) rather than per tool:

- **Its own process group.** The tool leads a new session (``start_new_session``), so one
  ``killpg`` reaches everything it started: ``git fetch`` runs ``git-remote-https`` or
  ``ssh``, which would go on holding the connection and the pipes if only ``git`` died.
- **A deadline on the whole group.** When it passes, the group gets SIGKILL and the pipes
  are abandoned, not drained: a process that escaped the group (or is stuck in the kernel)
  may hold them open for ever, and waiting for end-of-file would wait as long. When the tool
  exits on its own, what it left running in its group is killed too: nothing outlives it.
- **No race with pid reuse.** The group is killed while its leader is not yet reaped (a
  zombie at worst), so its group id cannot name anyone else's processes yet. Hence
  ``subprocess.Popen`` plus a pidfd to learn of the exit, rather than asyncio's subprocess
  transport: that one reaps the leader itself, and its ``wait()`` returns only once every
  pipe has closed (its waiters are woken in ``_call_connection_lost``), which is the
  grandchild-holds-the-pipe hang again.
- **Bounded output.** At most ``output_limit`` bytes of each stream are kept; the rest is
  read and dropped, so the tool never blocks on a full pipe and a flood costs no memory.
  ``Finished`` says when output was cut.
- **Failures are values or one exception type.** An exit status is data (``Finished``); a
  tool that cannot be started or runs out of time raises a ``ProcessError`` that names the
  program, never its arguments or environment (they may hold credentials).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

OUTPUT_LIMIT = 1 << 20
"""Bytes kept of each of stdout and stderr unless the caller says otherwise."""
DRAIN_GRACE = 1.0
"""After a tool exited and its group was killed: how long its pipes' last bytes may take."""
REAP_GRACE = 5.0
"""How long to wait for a killed leader to die before leaving it to ``subprocess``."""
_POLL = 0.02


class ProcessError(Exception):
    """A tool could not be run to its end; the message names the program only."""

    def __init__(self, message: str, *, program: str) -> None:
        super().__init__(message)
        self.program = program


class NotStarted(ProcessError):
    """The tool could not be started (not installed, not executable, no such cwd)."""


class TimedOut(ProcessError):
    """The deadline passed: the tool's whole process group was killed."""

    def __init__(self, *, program: str, time_limit: float, stderr: bytes) -> None:
        super().__init__(
            f"{program} timed out after {time_limit:g}s; it and everything it started were killed",
            program=program,
        )
        self.time_limit = time_limit
        self.stderr = stderr
        """What the tool had written to stderr by then (capped)."""


class Failed(ProcessError):
    """Raised by ``Finished.check`` for a tool that exited unsuccessfully."""

    def __init__(self, finished: Finished) -> None:
        said = finished.stderr_lines()[-3:]
        detail = f": {' / '.join(said)}" if said else ""
        super().__init__(f"{finished.program} {finished.status}{detail}", program=finished.program)
        self.finished = finished


@dataclass(frozen=True)
class Finished:
    """A tool that exited: its status and what it printed (each stream capped)."""

    program: str
    returncode: int
    """The exit status, or minus the number of the signal that ended the tool."""
    stdout: bytes
    stderr: bytes
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def status(self) -> str:
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"was killed by {name}"
        return f"exited with status {self.returncode}"

    def stderr_lines(self) -> list[str]:
        text = self.stderr.decode(errors="replace")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def check(self) -> Finished:
        """This result if the tool succeeded; else raise ``Failed``."""
        if not self.ok:
            raise Failed(self)
        return self


async def run(
    argv: Sequence[str],
    *,
    time_limit: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    output_limit: int = OUTPUT_LIMIT,
) -> Finished:
    """Run ``argv`` to its end or until ``time_limit`` seconds have passed, whichever is first.

    ``env`` replaces the environment (None: inherit ours); ``stdin`` is fed and then closed
    (None: the tool reads end-of-file at once). Raises ``NotStarted`` or ``TimedOut``; an exit
    status, zero or not, is returned. Cancelling the caller kills the group as a timeout does.
    """
    if not argv:
        raise ValueError("no program to run")
    if time_limit <= 0:
        raise ValueError(f"time_limit must be more than zero, got {time_limit!r}")
    program = Path(argv[0]).name
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc = _spawn(argv, program=program, cwd=cwd, env=env, feed=stdin is not None)
    pipes: _Pipes | None = None
    try:
        pipes = await _Pipes.connect(proc, stdin=stdin, limit=output_limit)
        try:
            async with asyncio.timeout_at(started + time_limit):
                await _exited(proc.pid)
        except TimeoutError:
            stderr = pipes.err.captured()
            raise TimedOut(program=program, time_limit=time_limit, stderr=stderr) from None
        _kill_group(proc.pid)  # what the tool left running, so that its pipes close
        await pipes.drain(DRAIN_GRACE)
    finally:
        # Whatever happened (exit, deadline, cancellation), the group is killed before its
        # leader is reaped, and no pipe is waited for.
        _kill_group(proc.pid)
        if pipes is not None:
            pipes.abandon()
        else:
            _close_files(proc)
        await _reap(proc)
    assert proc.returncode is not None
    return Finished(
        program=program,
        returncode=proc.returncode,
        stdout=pipes.out.captured(),
        stderr=pipes.err.captured(),
        stdout_truncated=pipes.out.truncated,
        stderr_truncated=pipes.err.truncated,
        seconds=loop.time() - started,
    )


def _spawn(
    argv: Sequence[str],
    *,
    program: str,
    cwd: Path | None,
    env: Mapping[str, str] | None,
    feed: bool,
) -> subprocess.Popen[bytes]:
    """Start the tool in a session of its own. Blocking, as asyncio's own start is: a fork
    and an exec take about a millisecond."""
    try:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise NotStarted(f"{program} could not be started: {reason}", program=program) from None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _exited(pid: int) -> None:
    """Return once the process has exited, without reaping it: until it is reaped, neither
    its pid nor its process group id can be given to another process."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:  # no pidfd (an old kernel, a strict seccomp profile): poll
        await _polled(pid)
        return
    try:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await done
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)


async def _polled(pid: int) -> None:
    while True:
        if _has_exited(pid):
            return
        await asyncio.sleep(_POLL)


def _has_exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped already
        return True


async def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Collect the leader's exit status; one the kernel holds up (uninterruptible sleep) is
    left to ``subprocess``, which reaps abandoned children later."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(REAP_GRACE):
            await _exited(proc.pid)
    proc.poll()


def _close_files(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


class _Capture(asyncio.Protocol):
    """One output stream: the first ``limit`` bytes are kept, the rest counted as cut."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        room = self.limit - len(self.data)
        if len(data) > room:
            self.truncated = True
        if room > 0:
            self.data += data[:room]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def captured(self) -> bytes:
        return bytes(self.data)


class _Feeding(asyncio.Protocol):
    """Stdin's side: knows when the pipe is gone (flushed and closed, or broken)."""

    lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


class _Pipes:
    """The child's pipes as asyncio transports: stdin fed, stdout and stderr captured."""

    def __init__(self, out: _Capture, err: _Capture) -> None:
        self.out, self.err = out, err
        self.transports: list[asyncio.BaseTransport] = []
        self.feeding: _Feeding | None = None

    @classmethod
    async def connect(
        cls, proc: subprocess.Popen[bytes], *, stdin: bytes | None, limit: int
    ) -> _Pipes:
        pipes = cls(_Capture(limit), _Capture(limit))
        try:
            await pipes._read(proc.stdout, pipes.out)
            await pipes._read(proc.stderr, pipes.err)
            if stdin is not None:
                await pipes._feed(proc.stdin, stdin)
        except BaseException:
            pipes.abandon()
            _close_files(proc)
            raise
        return pipes

    async def _read(self, pipe: object, capture: _Capture) -> None:
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: capture, pipe)
        self.transports.append(transport)

    async def _feed(self, pipe: object, data: bytes) -> None:
        """Write ``data`` and close: the transport flushes it as the tool reads, and a tool
        that exits without reading it all (a broken pipe) is not an error."""
        feeding = _Feeding()
        transport, _ = await asyncio.get_running_loop().connect_write_pipe(lambda: feeding, pipe)
        self.transports.append(transport)
        self.feeding = feeding
        transport.write(data)
        transport.close()

    async def drain(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) for both output streams to reach end-of-file."""
        await asyncio.wait([self.out.closed, self.err.closed], timeout=grace)

    def abandon(self) -> None:
        """Close every pipe now, whoever still holds the other end."""
        for transport in self.transports:
            if not isinstance(transport, asyncio.WriteTransport):
                transport.close()  # a no-op once at end-of-file
            elif self.feeding is not None and not self.feeding.lost:
                transport.abort()  # drops what the tool did not read (abort once lost fails)


DEAD_PROXY = "http://127.0.0.1:9"
"""A proxy address nothing answers at: a tool that tries the network fails fast."""


def offline_environment(home: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of ours but PATH: a private HOME (and XDG directories in
    it), every proxy dead, then ``extra``. Rendering and decrypting run offline with it."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "NO_PROXY": "",
        "no_proxy": "",
    }
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[proxy] = env[proxy.lower()] = DEAD_PROXY
    return {**env, **extra}
