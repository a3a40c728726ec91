"""The lake's tables: a contract with users (documented in the README).

Columns may be added over time; existing ones keep their name and meaning. Every table holding a
paper's data carries `paper_id` and is sorted by it, so a query for one paper reads few files.
"""

from __future__ import annotations

import pyarrow as pa

from storage.tables import TableSpec

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
# DuckDB's smallest row group. A merged file's rows are sorted by paper_id, so one paper's rows are one or
# two groups: measured on a maintained 1,000-paper lake, one paper's nodes 94 -> 35 ms CPU, its nodes with
# vectors 164 -> 80 ms, counts over the whole table unchanged (bench/lake.py).
PAPER_ROW_GROUP = 2048

PAPERS = TableSpec(
    "papers",
    pa.schema(
        [
            ("paper_id", pa.string()),
            ("source", pa.string()),  # arxiv | local
            ("title", pa.string()),
            ("authors", pa.list_(pa.string())),
            ("abstract", pa.string()),
            ("categories", pa.list_(pa.string())),
            ("published", UTC_TIMESTAMP),
            ("pdf_sha256", pa.string()),
            ("n_pages", pa.int32()),
            ("n_chars", pa.int64()),
            ("status", pa.string()),  # ok | failed
            ("error", pa.string()),  # one line: reason code, then detail
            ("ingested_at", UTC_TIMESTAMP),
            ("version", pa.string()),  # arXiv version ingested (v1, v2, ...); null for local PDFs
            ("ingest_config", pa.string()),  # JSON of what shaped the nodes: chunk sizes, engine, embed model
        ]
    ),
    key=("paper_id",),
    sorted_by=("paper_id",),
    row_group_rows=PAPER_ROW_GROUP,
)

NODES = TableSpec(
    "nodes",
    pa.schema(
        [
            ("node_id", pa.string()),
            ("paper_id", pa.string()),
            ("kind", pa.string()),  # parent | child | summary | question
            ("parent_id", pa.string()),
            ("chunk_size", pa.int32()),
            ("position", pa.int32()),
            ("text", pa.string()),
            ("text_sha256", pa.string()),
            ("page_start", pa.int32()),
            ("page_end", pa.int32()),
        ]
    ),
    key=("node_id",),
    sorted_by=("paper_id",),
    row_group_rows=PAPER_ROW_GROUP,
)

EMBEDDINGS = TableSpec(
    "embeddings",
    pa.schema(
        [
            ("node_id", pa.string()),
            ("model", pa.string()),
            ("dim", pa.int32()),
            ("embedding", pa.list_(pa.float32())),  # unit length; FLOAT[] in SQL
            ("paper_id", pa.string()),  # added with the DuckLake layout: one paper's vectors without a join
        ]
    ),
    key=("node_id", "model"),
    sorted_by=("paper_id",),
    row_group_rows=PAPER_ROW_GROUP,
)

EXTRACTIONS = TableSpec(
    "extractions",
    pa.schema(
        [
            ("parent_id", pa.string()),
            ("kind", pa.string()),  # summary | questions
            ("model", pa.string()),
            ("prompt_version", pa.string()),
            ("text", pa.string()),
            ("input_tokens", pa.int32()),
            ("output_tokens", pa.int32()),
            ("latency_s", pa.float64()),
            ("status", pa.string()),  # ok | failed
            ("error", pa.string()),
            ("created_at", UTC_TIMESTAMP),
            ("paper_id", pa.string()),
        ]
    ),
    key=("parent_id", "kind"),
    sorted_by=("paper_id",),
    row_group_rows=PAPER_ROW_GROUP,
)

PAPER_TABLES = (PAPERS, NODES, EMBEDDINGS, EXTRACTIONS)
