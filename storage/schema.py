"""The lake's tables: a contract with users (documented in the README).

One Parquet file per paper per table under `<data_dir>/<table>/`. Columns may be added
over time (readers use `union_by_name`); existing ones keep their name and meaning.
"""

from __future__ import annotations

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

PAPERS = pa.schema(
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
)

NODES = pa.schema(
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
)


def embeddings_schema(dim: int) -> pa.Schema:
    # Fixed-size so the vector length is part of the file's contract; DuckDB reads it as FLOAT[].
    return pa.schema(
        [
            ("node_id", pa.string()),
            ("model", pa.string()),
            ("dim", pa.int32()),
            ("embedding", pa.list_(pa.float32(), dim)),
        ]
    )


EXTRACTIONS = pa.schema(
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
)

TABLES: dict[str, pa.Schema] = {
    "papers": PAPERS,
    "nodes": NODES,
    "embeddings": embeddings_schema(256),  # the view of an empty lake needs some width; real files carry theirs
    "extractions": EXTRACTIONS,
}
