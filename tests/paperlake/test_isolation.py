"""run_isolated with real child processes: results, errors, timeouts, crashes, memory caps, threads."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from paperlake.errors import PaperError
from paperlake.isolation import (
    ChildException,
    IsolationCrashed,
    IsolationTimeout,
    describe_exit,
    run_isolated,
    start_forkserver,
    vm_size_kb,
)

# Functions the child runs: module level, so they pickle by reference.


def add(a: int, b: int) -> int:
    return a + b


def big_result(n_pages: int) -> dict[str, object]:
    return {"pages": [f"page {i} " + "word " * 8000 for i in range(n_pages)], "pid": os.getpid()}


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def raise_paper_error() -> None:
    raise PaperError("2307.09288", "corrupt", "broken xref")


class NeedsTwoArgs(Exception):
    def __init__(self, a: str, b: str) -> None:  # pickles, but cannot be rebuilt from self.args
        super().__init__(f"{a}/{b}")


def raise_unpicklable() -> None:
    raise NeedsTwoArgs("left", "right")


def return_lock() -> threading.Lock:
    return threading.Lock()


def call_sys_exit(code: int) -> None:
    sys.exit(code)


def sleep_after_writing_pid(pid_file: Path, seconds: float) -> None:
    pid_file.write_text(str(os.getpid()))
    time.sleep(seconds)


def exit_hard(code: int) -> None:
    os._exit(code)


def segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def imported(module: str) -> bool:
    return module in sys.modules


def process_gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_result_round_trips() -> None:
    assert run_isolated(add, 2, 3, timeout_s=30, memory_mb=None) == 5


def test_large_result_does_not_deadlock() -> None:
    result = run_isolated(big_result, 100, timeout_s=30, memory_mb=1024)  # ~4 MB of text
    assert len(result["pages"]) == 100 and result["pid"] != os.getpid()
    assert process_gone(result["pid"])


def test_exception_is_reraised_with_its_type_and_child_traceback() -> None:
    with pytest.raises(ValueError, match="bad input") as caught:
        run_isolated(raise_value_error, "bad input", timeout_s=30, memory_mb=None)
    assert any("raise_value_error" in note for note in caught.value.__notes__)


def test_paper_error_keeps_its_fields() -> None:
    with pytest.raises(PaperError) as caught:
        run_isolated(raise_paper_error, timeout_s=30, memory_mb=None)
    assert (caught.value.paper_id, caught.value.reason, caught.value.detail) == ("2307.09288", "corrupt", "broken xref")


def test_exception_that_cannot_cross_becomes_child_exception() -> None:
    with pytest.raises(ChildException, match="NeedsTwoArgs: left/right"):
        run_isolated(raise_unpicklable, timeout_s=30, memory_mb=None)


def test_result_that_cannot_be_pickled_is_a_child_exception() -> None:
    with pytest.raises(ChildException, match="result of type lock cannot be pickled"):
        run_isolated(return_lock, timeout_s=30, memory_mb=None)


def test_timeout_kills_the_child_and_leaves_no_zombie(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(IsolationTimeout) as caught:  # 2 s: time for a fork on a busy machine to write its pid
        run_isolated(sleep_after_writing_pid, pid_file, 60.0, timeout_s=2.0, memory_mb=None)
    assert time.monotonic() - started < 30  # stopped at the timeout, not after the child's 60 s (no tighter bound)
    assert caught.value.timeout_s == 2.0
    assert process_gone(int(pid_file.read_text()))  # killed and reaped by the forkserver, not a zombie


@pytest.mark.parametrize(
    ("fn", "args", "exitcode"), [(exit_hard, (3,), 3), (segfault, (), -signal.SIGSEGV), (call_sys_exit, (4,), 4)]
)
def test_child_dying_without_result_is_a_crash(fn, args, exitcode: int) -> None:
    with pytest.raises(IsolationCrashed) as caught:
        run_isolated(fn, *args, timeout_s=30, memory_mb=None)
    assert caught.value.exitcode == exitcode
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV" and describe_exit(3) == "exit code 3"


def test_memory_cap_raises_memory_error() -> None:
    with pytest.raises(MemoryError):
        run_isolated(allocate, 4096, timeout_s=30, memory_mb=1024)
    assert run_isolated(allocate, 64, timeout_s=30, memory_mb=1024) == 64 * 1024 * 1024


def test_concurrent_calls_from_threads(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        sums = [pool.submit(run_isolated, add, i, i, timeout_s=30, memory_mb=512) for i in range(16)]
        slow = pool.submit(run_isolated, sleep_after_writing_pid, tmp_path / "pid", 60.0, timeout_s=0.5, memory_mb=None)
        assert [future.result() for future in sums] == [2 * i for i in range(16)]
        with pytest.raises(IsolationTimeout):
            slow.result()


class Interrupted(Exception):
    pass


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted()


def test_interrupted_caller_kills_the_child(tmp_path: Path) -> None:
    """An exception raised into the waiting thread (here by a signal handler) still ends the child."""
    pid_file = tmp_path / "pid"
    previous = signal.signal(signal.SIGUSR1, _raise_interrupted)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(Interrupted):
            run_isolated(sleep_after_writing_pid, pid_file, 60.0, timeout_s=30, memory_mb=None)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert process_gone(int(pid_file.read_text()))


def test_no_descriptors_leak() -> None:
    run_isolated(add, 1, 1, timeout_s=30, memory_mb=None)  # forkserver and its pipes exist from here on
    before = open_fds()
    for _ in range(10):
        run_isolated(add, 1, 1, timeout_s=30, memory_mb=None)
    with pytest.raises(IsolationCrashed):
        run_isolated(exit_hard, 1, timeout_s=30, memory_mb=None)
    assert open_fds() == before


def test_preload_after_start_imports_in_the_child() -> None:
    preloaded = start_forkserver()
    assert "__main__" in preloaded
    assert run_isolated(imported, "xml.dom.minidom", timeout_s=30, memory_mb=None, preload=("xml.dom.minidom",))


def test_child_address_space_is_far_below_the_default_cap() -> None:
    assert run_isolated(vm_size_kb, timeout_s=30, memory_mb=None) < 1024 * 1024  # kB; the default cap is 3 GB


def test_argument_that_cannot_be_pickled_fails_before_any_child() -> None:
    with pytest.raises(TypeError, match="pickle"):
        run_isolated(add, threading.Lock(), 1, timeout_s=30, memory_mb=None)
