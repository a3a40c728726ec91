# Two commands on a fresh clone: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PAPERS ?= 2307.09288

.PHONY: install demo test bench clean

install: $(STAMP)

# The lock pins the whole dependency tree; the project itself installs without resolving again.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: install
	$(BIN)/paperlake ingest --extract $(PAPERS)
	$(BIN)/paperlake sql "SELECT paper_id, status, n_pages, left(title, 60) AS title, error FROM papers ORDER BY paper_id"
	$(BIN)/paperlake sql "SELECT paper_id, kind, chunk_size, count(*) AS nodes FROM nodes GROUP BY ALL ORDER BY ALL"
	$(BIN)/paperlake sql "SELECT e.model, e.dim, count(*) AS vectors FROM embeddings e GROUP BY ALL"
	$(BIN)/paperlake sql "SELECT kind, model, left(replace(text, chr(10), ' / '), 110) AS text FROM extractions WHERE status = 'ok' ORDER BY parent_id, kind LIMIT 4"
	$(BIN)/paperlake query "Can you tell me about the key concepts for safety finetuning" --strategy all -k 3

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The notebook baseline of the benchmark reads PDFs with llama-index-readers-file's PDFReader, which
# pins pypdf<7; paperlake pins pypdf 7.1 for its parser fixes, so the reader goes in without its pin.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llama-index-readers-file==0.7.0 \
		pandas==2.3.3 pytz==2026.6 tzdata==2026.6 beautifulsoup4==4.15.0 soupsieve==4.1.2 striprtf==0.0.26 defusedxml==0.7.1
	# DuckDB's BM25 (fts) and HNSW index (vss) only to compare them with bm25s and exact numpy search in
	# bench/search.py; the search path uses neither.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps duckdb-extension-fts==1.5.5 duckdb-extension-vss==1.5.5
	touch $(BENCH_STAMP)

# bench.lake builds lakes of 100, 1,000 and 10,000 synthetic papers: 18-26 minutes measured on this shared
# 2-core machine (load average 2-16), most of it writing 20,000 small DuckLake files; BENCH_LAKE_SIZES=100,1000
# makes it a few minutes.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.ingest_before
	$(BIN)/python -m bench.extract
	$(BIN)/python -m bench.lake
	$(BIN)/python -m bench.search
	$(BIN)/python -m bench.search_quality --levers
	$(BIN)/python -m bench.cli

clean:
	rm -rf $(VENV) data bench/out
