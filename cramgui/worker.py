"""Start, read and stop the engine process (qasync + asyncio subprocess).

The engine runs as a separate process in its own session (process group), so a GUI crash does not kill training
and Stop can signal the whole group (torchrun children included). Both pipes are read continuously in chunks (no
64 KiB line limit: sample events can be megabytes); stdout goes through cramgui.tailer, and the events available
at one moment are delivered as ONE `events(list)` signal, so thousands of events per second cost a handful of
signal emissions.
"""
from __future__ import annotations

import asyncio
import collections
import os
import signal
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine.contract.launch import engine_command

from .tailer import LineSplitter, StreamTail

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1 << 20          # bytes read per await
STDERR_TAIL = 40         # lines kept for the "worker died" message
BATCH_S = 0.03           # parsed events are delivered at most this often (one signal per batch)


class EngineWorker(QObject):
    """One engine process at a time.

    Signals:
      started(int pid)
      events(list)            parsed event dicts, in stream order, batched
      log_line(str)           stdout lines that are not events
      stderr_lines(list)      stderr lines (logs, tracebacks), batched per read
      finished(int, str)      exit code (negative = killed by that signal) and the last stderr lines
    """

    started = Signal(int)
    events = Signal(list)
    log_line = Signal(str)
    stderr_lines = Signal(list)
    finished = Signal(int, str)

    def __init__(self, command: list[str] | None = None, parent: QObject | None = None, cwd=None):
        super().__init__(parent)
        self.command = list(command) if command else engine_command()
        # the user's working directory, so relative paths in the form (data.path, runs/) mean the same to the
        # engine as to the console; PYTHONPATH makes `-m engine` importable from anywhere
        self.cwd = str(cwd or os.getcwd())
        self.args: list[str] = []
        self.run_dir: Path | None = None
        self.exit_code: int | None = None
        self.stopping = False
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task | None = None
        self._kill_task: asyncio.Task | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self._running = False
        self._pending_signal: int | None = None
        self._grace_s = 20.0
        self._pending: list[dict] = []
        self._flush_handle: asyncio.TimerHandle | None = None

    # -- public API -----------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_running(self) -> bool:
        """True from start() until just before `finished` is emitted."""
        return self._running

    def start(self, args: list[str], run_dir=None, env: dict | None = None) -> None:
        """Launch `command + args`. Needs a running asyncio loop (qasync)."""
        if self.is_running():
            raise RuntimeError("the engine is already running")
        self.args = list(args)
        self.run_dir = Path(run_dir) if run_dir else None
        self.exit_code = None
        self.stopping = False
        self._proc = None
        self._pending_signal = None
        self._tail.clear()
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        paths = [str(PROJECT_ROOT)] + [p for p in full_env.get("PYTHONPATH", "").split(os.pathsep) if p]
        full_env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        if env:
            full_env.update(env)
        loop = asyncio.get_event_loop()
        self._running = True
        self._task = loop.create_task(self._run(self.command + self.args, full_env))

    def stop(self, grace_s: float = 20.0) -> None:
        """Ask the engine to stop (SIGTERM to its process group: finish the step, checkpoint, `done`); force it
        with SIGKILL after `grace_s` seconds."""
        if not self.is_running():
            return
        self.stopping = True
        self._grace_s = grace_s
        if self._proc is None:                   # not spawned yet: signalled as soon as it is
            self._pending_signal = self._pending_signal or signal.SIGTERM
            return
        self._signal_group(signal.SIGTERM)
        if self._kill_task is None or self._kill_task.done():
            self._kill_task = asyncio.get_event_loop().create_task(self._kill_after(grace_s))

    def kill(self) -> None:
        """SIGKILL the process group now."""
        if not self.is_running():
            return
        self.stopping = True
        if self._proc is None:
            self._pending_signal = signal.SIGKILL
            return
        self._signal_group(signal.SIGKILL)

    async def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process (and the readers) to finish; returns the exit code."""
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        return self.exit_code

    def last_stderr(self, n: int = 15) -> str:
        return "\n".join(list(self._tail)[-n:])

    # -- internals ------------------------------------------------------------------------------------------
    def _signal_group(self, sig: int) -> None:
        if self._proc is None:
            return
        try:
            os.killpg(self._proc.pid, sig)       # start_new_session: pgid == pid
        except (ProcessLookupError, PermissionError):
            try:
                self._proc.send_signal(sig)
            except ProcessLookupError:
                pass

    async def _kill_after(self, grace_s: float) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), grace_s)
        except asyncio.TimeoutError:
            self._signal_group(signal.SIGKILL)

    async def _run(self, argv: list[str], env: dict) -> None:
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, cwd=self.cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True, limit=CHUNK * 4)
        except (OSError, ValueError) as e:
            msg = f"cannot start {' '.join(argv[:3])}: {e}"
            self._tail.append(msg)
            self.stderr_lines.emit([msg])
            self.exit_code = 127
            self._running = False
            self.finished.emit(127, msg)
            return
        self.started.emit(self._proc.pid)
        if self._pending_signal == signal.SIGKILL:
            self._signal_group(signal.SIGKILL)
        elif self._pending_signal == signal.SIGTERM:
            self.stopping = False
            self.stop(self._grace_s)
        readers = [asyncio.ensure_future(self._read_stdout(self._proc.stdout)),
                   asyncio.ensure_future(self._read_stderr(self._proc.stderr))]
        code = await self._wait_exit()
        try:
            await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 2.0)
        except asyncio.TimeoutError:
            for r in readers:
                r.cancel()
        self._flush_events()
        if self._kill_task is not None:
            self._kill_task.cancel()
        self.exit_code = code
        self._running = False
        try:
            self.finished.emit(code, self.last_stderr())
        except RuntimeError:          # the worker object was deleted (window closed in a test): nothing to tell
            pass

    async def _wait_exit(self) -> int:
        """The exit status. asyncio's Process.wait() (3.11) also waits for both pipes to close, which never
        happens while a child left in the group holds them: such children are killed 3 s after the exit."""
        proc = self._proc
        loop = asyncio.get_event_loop()
        waiter = asyncio.ensure_future(proc.wait())
        exited_at = None
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=0.25)
            if done:
                self._reap_group()
                return waiter.result()
            if proc.returncode is None:
                continue
            if exited_at is None:
                exited_at = loop.time()
            elif loop.time() - exited_at > 3.0:
                self._reap_group()
                done, _ = await asyncio.wait({waiter}, timeout=2.0)
                if not done:
                    waiter.cancel()
                return proc.returncode

    def _reap_group(self) -> None:
        """Children left in the group after the main process exited (a torchrun rank, say): kill them."""
        pid = self._proc.pid if self._proc else None
        if pid is None:
            return
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    async def _read_stdout(self, stream: asyncio.StreamReader) -> None:
        tail = StreamTail()
        while True:
            chunk = await stream.read(CHUNK)
            items = tail.feed(chunk)
            if items:
                self._deliver_stdout(items)
            if not chunk:
                return

    def _deliver_stdout(self, items: list[dict | str]) -> None:
        for item in items:
            if isinstance(item, dict):
                self._pending.append(item)
            else:
                self._flush_events()            # keep the order between events and plain lines
                self.log_line.emit(item)
        if self._pending and self._flush_handle is None:
            loop = asyncio.get_event_loop()
            self._flush_handle = loop.call_later(BATCH_S, self._flush_events)

    def _flush_events(self) -> None:
        """Deliver what was parsed since the last flush as one `events` signal (at most every BATCH_S)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._pending:
            batch, self._pending = self._pending, []
            self.events.emit(batch)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        split = LineSplitter()
        while True:
            chunk = await stream.read(CHUNK)
            raw_lines = split.feed(chunk) if chunk else split.flush()
            lines = [r.decode("utf-8", errors="replace").rstrip("\r") for r in raw_lines]
            if lines:
                self._tail.extend(lines)
                self.stderr_lines.emit(lines)
            if not chunk:
                return
