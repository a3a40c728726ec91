"""From the per-paper Parquet layout (one file per paper per table, before DuckLake) into the lake.

Everything moves in one transaction, is counted back from the lake, and only then are the old
folders moved aside (to `legacy-layout/`, never deleted): a failed migration changes nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from paperlake.errors import PaperlakeError
from paperlake.ids import paper_id_from_stem
from storage.lakehouse import Lakehouse, Replace
from storage.schema import PAPER_TABLES
from storage.tables import TableSpec

log = logging.getLogger(__name__)

LEGACY_FOLDER = "legacy-layout"
_LEGACY_CATALOG = "paperlake.duckdb"
_SCHEMA_FILE = "_schema.parquet"


@dataclass
class Migration:
    papers: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # per table, as found and as counted back
    moved_to: Path | None = None


def legacy_files(data_dir: Path, table: str) -> list[Path]:
    return sorted(p for p in (Path(data_dir) / table).glob("*.parquet") if p.name != _SCHEMA_FILE)


def has_legacy_layout(data_dir: Path) -> bool:
    return any(legacy_files(data_dir, spec.name) for spec in PAPER_TABLES)


def _read_legacy(data_dir: Path, spec: TableSpec) -> pa.Table:
    parts = []
    for path in legacy_files(data_dir, spec.name):
        table = pq.read_table(path)
        if "paper_id" not in table.column_names:  # embeddings files: the paper is the file's name
            table = table.append_column("paper_id", pa.array([paper_id_from_stem(path.stem)] * table.num_rows, pa.string()))
        if "embedding" in table.column_names:  # fixed-size lists then, lists in DuckLake
            table = table.set_column(table.schema.get_field_index("embedding"), "embedding",
                                     table.column("embedding").cast(pa.list_(pa.float32())))  # fmt: skip
        parts.append(spec.conform(table))
    return pa.concat_tables(parts) if parts else spec.empty()


def migrate(data_dir: Path) -> Migration:
    """Move every paper of the old layout into the lake; PaperlakeError when there is none."""
    data_dir = Path(data_dir)
    if not has_legacy_layout(data_dir):
        raise PaperlakeError(f"nothing to migrate: {data_dir} (PAPERLAKE_DATA_DIR) holds no per-paper Parquet files")
    tables = {spec.name: _read_legacy(data_dir, spec) for spec in PAPER_TABLES}
    result = Migration(papers=sorted(set(tables["papers"].column("paper_id").to_pylist())))
    house = Lakehouse(data_dir)
    try:
        scope = {"paper_id": result.papers}
        house.commit([Replace(spec, scope, tables[spec.name]) for spec in PAPER_TABLES], message="migrate per-paper layout")
        for spec in PAPER_TABLES:
            counted = house.query(f"SELECT count(*) FROM {spec.name} WHERE list_contains(?, paper_id)", [result.papers])
            found = counted.column(0)[0].as_py()
            if found != tables[spec.name].num_rows:
                raise PaperlakeError(f"migration check failed: {spec.name} has {found} rows, the old layout {tables[spec.name].num_rows}")
            result.rows[spec.name] = found
    finally:
        house.close()
    result.moved_to = _move_aside(data_dir)
    return result


def _move_aside(data_dir: Path) -> Path:
    target = data_dir / LEGACY_FOLDER
    if target.exists():
        target = data_dir / f"{LEGACY_FOLDER}-{int(time.time())}"
    target.mkdir(parents=True)
    for name in [*(spec.name for spec in PAPER_TABLES), _LEGACY_CATALOG]:
        if (data_dir / name).exists():
            shutil.move(str(data_dir / name), str(target / name))
    log.info("old layout moved to %s", target)
    return target
