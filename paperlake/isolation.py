"""Run one function in a throwaway child process with a wall-clock limit and an address-space cap.

Why a child process: PDF libraries can hang, segfault or allocate without bound on hostile input, and
none of that may take the pipeline down. Why forkserver: our callers are Prefect worker threads, and
plain `fork` of a threaded process can deadlock the child; `spawn` would re-import llama-index (~1.3 s)
on every call. The forkserver is a single-threaded process that imports the heavy modules once; each
call forks from it in milliseconds.

The result travels back over a pipe that the parent drains before it reaps the child, so a result of
several MB cannot deadlock; nothing is written to disk. The child is killed and reaped (the forkserver
waits for it) on every exit path, including an exception raised into the calling thread.

As with any non-fork start method, the main script is imported (once, in the forkserver) under the
name `__mp_main__`: a script that calls run_isolated must keep its work under `if __name__ == "__main__":`.
Measured here (2 cores): start with llama-index preloaded ~1.2 s once; each call ~10 ms; a forked child
has ~260 MB of address space mapped before it does anything, so caps below ~512 MB make no sense.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import resource
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from paperlake.errors import PaperlakeError

T = TypeVar("T")
log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
# Serialises Process.start() and reaping: start() polls every other live child (multiprocessing's
# _cleanup), and two threads reading the same forkserver exit-status pipe at once would lose the code.
_PROCESS_LOCK = threading.Lock()
_PRELOAD_LOCK = threading.Lock()
_preloaded: frozenset[str] | None = None  # what the running forkserver imported; None until we start it
_warned_missing: set[str] = set()
_TIMED_OUT = object()  # _receive's answer when the deadline passed
_REAP_GRACE_S = 5.0  # how long a child that already sent its result may take to exit before it is killed


class IsolationError(PaperlakeError):
    """The child process did not hand back a result."""


class IsolationTimeout(IsolationError):
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(f"no result after {timeout_s:g} s; the child process was killed")


class IsolationCrashed(IsolationError):
    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(f"the child process died without a result ({describe_exit(exitcode)})")


class ChildException(IsolationError):
    """The child raised an exception that cannot cross the process boundary; this carries its text."""


def describe_exit(exitcode: int | None) -> str:
    """`exit code 3` or `killed by SIGSEGV`, from a multiprocessing exit code (negative = signal)."""
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def start_forkserver(preload: Iterable[str] = (), *, wait: bool = True) -> frozenset[str]:
    """Start the forkserver with `preload` imported once, unless it runs already; returns what it preloaded.

    Preloading is process-global and fixed when the server starts, so call this early (e.g. at flow start)
    with every heavy module any isolated call will need; later calls only add imports inside each child.
    The server imports in the background: `wait` blocks until it is ready (one trivial call).
    """
    started_now, preloaded = _ensure_forkserver(preload)
    if wait and started_now:
        run_isolated(os.getpid, timeout_s=600, memory_mb=None)
    return preloaded


def _ensure_forkserver(preload: Iterable[str]) -> tuple[bool, frozenset[str]]:
    global _preloaded
    with _PRELOAD_LOCK:
        if _preloaded is not None:
            return False, _preloaded
        modules = list(dict.fromkeys(["__main__", *_importable(preload)]))  # __main__: the stdlib default
        _CONTEXT.set_forkserver_preload(modules)
        multiprocessing.forkserver.ensure_running()
        _preloaded = frozenset(modules)
        log.debug("forkserver starting with %s", modules)
        return True, _preloaded


def _importable(modules: Iterable[str]) -> list[str]:
    """Modules that exist. The forkserver dies on a preload name that is not even a valid module name,
    and every later call would fail with it, so typos are dropped here (with a warning) instead."""
    found = []
    for name in modules:
        try:
            exists = bool(name) and importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            exists = False
        if exists:
            found.append(name)
        else:
            log.warning("not preloading %r: no such module", name)
    return found


def run_isolated(
    fn: Callable[..., T],
    *args: Any,
    timeout_s: float,
    memory_mb: int | None,
    preload: tuple[str, ...] = (),
) -> T:
    """`fn(*args)` in a child forked from the forkserver; its result, or its exception re-raised here.

    `fn` must be a module-level function and args/result picklable. Raises IsolationTimeout after
    `timeout_s` wall-clock seconds (the child is SIGKILLed), IsolationCrashed when the child dies
    without a result, and MemoryError when it ran out of its `memory_mb` address-space cap.
    """
    _, preloaded = _ensure_forkserver(preload)
    missing = tuple(name for name in preload if name not in preloaded)
    _warn_missing(missing)
    reader, writer = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(
        target=_child_main, args=(writer, fn, args, memory_mb, missing), name=f"isolated-{fn.__name__}", daemon=True
    )
    grace_s = 0.0  # timed out or interrupted: kill at once
    try:
        with _PROCESS_LOCK:
            try:
                process.start()
            except (EOFError, ConnectionError) as exc:  # the forkserver died; the next call restarts it
                raise IsolationCrashed(None) from exc
        writer.close()  # the child holds the only write end now, so its death reads as EOF
        outcome = _receive(reader, process, time.monotonic() + timeout_s)
        if outcome is not _TIMED_OUT:
            grace_s = _REAP_GRACE_S
    finally:
        writer.close()
        reader.close()
        exitcode = _reap(process, grace_s=grace_s)
    if outcome is _TIMED_OUT:
        raise IsolationTimeout(timeout_s)
    if outcome is None:
        raise IsolationCrashed(exitcode)
    return _unwrap(outcome)


def _receive(reader: Connection, process: Any, deadline: float) -> Any:
    """The child's pickled payload, `None` if it died without sending one, `_TIMED_OUT` past the deadline."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _TIMED_OUT
        ready = wait([reader, process.sentinel], timeout=remaining)
        if not ready:
            continue
        # Readable means a payload or EOF. Exited without the pipe reading EOF means a grandchild
        # still holds the write end: take what was sent, if anything.
        if reader in ready or reader.poll():
            try:
                return pickle.loads(reader.recv_bytes())
            except EOFError:
                return None
        return None


def _reap(process: Any, *, grace_s: float) -> int | None:
    """Wait up to `grace_s` for the child, then SIGKILL it; always reaped and closed afterwards."""
    if process.pid is None:  # start() failed, e.g. an argument that cannot be pickled
        return None
    if grace_s > 0:
        wait([process.sentinel], timeout=grace_s)
    with _PROCESS_LOCK:
        if process.exitcode is None:
            process.kill()
        process.join()  # the forkserver waitpid()s it and reports the status, so no zombie remains
        exitcode = process.exitcode
        process.close()
    return exitcode


def _unwrap(payload: tuple[str, Any, str]) -> Any:
    status, value, child_traceback = payload
    if status == "ok":
        return value
    if child_traceback and not isinstance(value, MemoryError):
        value.add_note(f"In the isolated child process:\n{child_traceback.rstrip()}")
    raise value


def _warn_missing(modules: tuple[str, ...]) -> None:
    new = [name for name in modules if name not in _warned_missing]
    if new:
        _warned_missing.update(new)
        log.warning("forkserver already running without %s: imported in every child; call start_forkserver early", new)


def _child_main(
    writer: Connection, fn: Callable[..., Any], args: tuple[Any, ...], memory_mb: int | None, imports: tuple[str, ...]
) -> None:
    """Runs in the child: cap memory, call fn, send ("ok", result, "") or ("error", exception, traceback)."""
    if memory_mb is not None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        for name in imports:
            __import__(name)
        payload = _pickled(("ok", fn(*args), ""))
    except Exception as exc:  # noqa: BLE001 - the caller gets it. SystemExit/KeyboardInterrupt end the
        payload = _pickled_error(exc)  # child instead (IsolationCrashed), never the parent's thread.
    try:
        writer.send_bytes(payload)
    finally:
        writer.close()


def _pickled(payload: tuple[str, Any, str]) -> bytes:
    try:
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        raise
    except Exception as exc:  # an unpicklable result is the caller's bug: report it as the child's error
        raise ChildException(f"result of type {type(payload[1]).__name__} cannot be pickled: {exc}") from exc


def _pickled_error(exc: BaseException) -> bytes:
    if isinstance(exc, MemoryError):
        # Free what the failed call held before building anything; a traceback would pin its frames.
        exc.__traceback__ = None
        return pickle.dumps(("error", MemoryError(str(exc)), ""))
    text = "".join(traceback.format_exception(exc))
    try:
        data = pickle.dumps(("error", exc, text), protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(data)  # some exceptions pickle but cannot be rebuilt (extra required __init__ args)
        return data
    except Exception:  # noqa: BLE001
        substitute = ChildException(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
        return pickle.dumps(("error", substitute, text), protocol=pickle.HIGHEST_PROTOCOL)


def vm_size_kb() -> int:
    """VmSize of the calling process in kB: run it isolated to see what a forked child has mapped already."""
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    raise RuntimeError("no VmSize in /proc/self/status")
