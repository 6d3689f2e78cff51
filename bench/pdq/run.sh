#!/usr/bin/env bash
# PDQ benchmark: breakwater-media (Rust) against pdqhash (Meta's C++ via Python) and faiss.
#
#   bench/pdq/run.sh [pdq_bench flags, e.g. --n 1000000 --queries 1000 --t 31]
#
# Creates target/bench-venv (pdqhash, faiss-cpu, numpy, pillow) if missing, runs the Rust
# example, then bench/pdq/peer.py on the same files, and prints a side-by-side table.
# Everything runs single-threaded. Results land in target/pdq-bench/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/target/bench-venv"
OUT="$ROOT/target/pdq-bench"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

if [ ! -f "$VENV/.installed" ]; then
    echo "creating $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check pdqhash faiss-cpu numpy pillow
    touch "$VENV/.installed"
fi

mkdir -p "$OUT"
cd "$ROOT"
echo "== Rust: cargo run --release -p breakwater-media --example pdq_bench -- --out $OUT $*" >&2
cargo run --quiet --release -p breakwater-media --example pdq_bench -- --out "$OUT" "$@" \
    > "$OUT/rust.stdout"
echo "== Python peer: pdqhash $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pdqhash"))'), faiss $("$VENV/bin/python" -c 'import faiss; print(faiss.__version__)'), Pillow $("$VENV/bin/python" -c 'import PIL; print(PIL.__version__)')" >&2
OMP_NUM_THREADS=1 "$VENV/bin/python" "$ROOT/bench/pdq/peer.py" --out "$OUT" > "$OUT/peer.json"
"$VENV/bin/python" "$ROOT/bench/pdq/peer.py" table "$OUT/rust.json" "$OUT/peer.json"
