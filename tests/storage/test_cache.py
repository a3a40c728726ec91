from __future__ import annotations

import multiprocessing

from storage.cache import ContentCache


def test_round_trip_by_namespace(tmp_path):
    cache = ContentCache(tmp_path / "c.sqlite")
    cache.put_many("wordllama", {"k1": b"v1", "k2": b"v2"})
    cache.put_many("other", {"k1": b"x"})
    assert cache.get_many("wordllama", ["k1", "k2", "k3"]) == {"k1": b"v1", "k2": b"v2"}
    assert cache.get_many("other", ["k1"]) == {"k1": b"x"}
    assert cache.count() == 3


def test_survives_reopening_and_many_keys(tmp_path):
    ContentCache(tmp_path / "c.sqlite").put_many("m", {f"k{i}": bytes([i % 256]) for i in range(1200)})
    again = ContentCache(tmp_path / "c.sqlite")
    assert len(again.get_many("m", [f"k{i}" for i in range(1500)])) == 1200


def test_a_damaged_file_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = ContentCache(path)
    assert cache.get_many("m", ["k"]) == {}
    cache.put_many("m", {"k": b"v"})
    assert cache.get_many("m", ["k"]) == {"k": b"v"}
    assert any(p.name.startswith("c.sqlite.broken-") for p in tmp_path.iterdir())


def _writer(path: str, start: int) -> None:
    cache = ContentCache(path)
    for i in range(start, start + 50):
        cache.put_many("m", {f"k{i}": b"v"})


def test_concurrent_processes_share_one_file(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ContentCache(path)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, n * 50)) for n in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert ContentCache(path).count("m") == 150
