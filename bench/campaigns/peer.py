"""datasketch peer for `breakwater bench campaigns`.

The same algorithm as Breakwater's, written the usual datasketch way: a MinHash of each
post's shingles (the same shingles Breakwater uses, given as text), a MinHashLSH index with
the same bands and rows, each post queried before it is inserted, each candidate from
another cluster verified by estimated Jaccard similarity at the threshold, and a union-find
over the verified pairs. Reading the file and encoding the shingles are not timed; building
the MinHashes, the index and the clusters is.

Usage: peer.py SHINGLES_JSONL THRESHOLD NUM_PERM BANDS ROWS  (prints one JSON object)
Each input line is a JSON array of the post's shingles; the output's `labels` give each
post's cluster, in input order.
"""
import json
import sys
import time

import datasketch
from datasketch import MinHash, MinHashLSH


def main() -> None:
    path = sys.argv[1]
    threshold = float(sys.argv[2])
    num_perm, bands, rows = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    with open(path, encoding="utf-8") as f:
        docs = [[s.encode("utf-8") for s in json.loads(line)] for line in f]
    # Posts without shingles have nothing to compare and stay alone.
    indexed = [i for i, d in enumerate(docs) if d]
    parent = list(range(len(docs)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    started = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=(bands, rows))
    kept = {}
    minhashes = MinHash.generator((docs[i] for i in indexed), num_perm=num_perm)
    for i, m in zip(indexed, minhashes):
        for j in lsh.query(m):
            a, b = find(i), find(j)
            if a != b and m.jaccard(kept[j]) >= threshold:
                parent[a] = b
        lsh.insert(i, m)
        kept[i] = m
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "implementation": f"datasketch {datasketch.__version__} MinHash + MinHashLSH",
        "items": len(docs),
        "seconds": elapsed,
        "items_per_second": len(docs) / elapsed,
        "labels": [find(i) for i in range(len(docs))],
    }))


if __name__ == "__main__":
    main()
