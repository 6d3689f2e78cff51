#!/usr/bin/env python3
"""Python peer for crates/media/examples/pdq_bench.rs.

Reads the files the Rust benchmark wrote (see that file's header) and measures, on the same
data and single-threaded:

- `pdqhash` (bindings to Meta's C++ reference) on the same images, decoded with Pillow as the
  pdqhash README shows (open, convert("RGB"), numpy array), and how our hashes compare;
- faiss `IndexBinaryFlat` and `IndexBinaryMultiHash` range search at the same radius on the
  same hashes, with recall against the exact answer (and a check that the Rust results are
  that exact answer).

Prints one JSON object. `peer.py table RUST_JSON PEER_JSON` prints the side-by-side table.
"""

import argparse
import io
import json
import os
import sys
import time


def rss_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def hex_of_bits(bits):
    """pdqhash returns 256 bits, most significant first: pack them into the 64-hex form."""
    import numpy as np

    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def bench_images(out, rounds):
    import numpy as np
    import pdqhash
    from PIL import Image

    with open(os.path.join(out, "images.txt")) as f:
        paths = [line.strip() for line in f if line.strip()]
    files = [open(p, "rb").read() for p in paths]

    ours = {}
    with open(os.path.join(out, "rust_image_hashes.csv")) as f:
        next(f)
        for line in f:
            path, h, q = line.strip().rsplit(",", 2)
            ours[path] = (h, int(q))

    def hash_one(data):
        image = Image.open(io.BytesIO(data))
        rgb = np.asarray(image.convert("RGB"))
        return rgb, pdqhash.compute(rgb)

    # Warm-up, and agreement with our hashes.
    exact, dists, qdiffs, differing = 0, [], [], []
    for p, data in zip(paths, files):
        _, (bits, quality) = hash_one(data)
        h = hex_of_bits(bits)
        oh, oq = ours[p]
        d = bin(int(h, 16) ^ int(oh, 16)).count("1")
        exact += d == 0
        dists.append(d)
        qdiffs.append(abs(int(quality) - oq))
        if d or int(quality) != oq:
            differing.append(
                {"file": os.path.basename(p), "distance": d, "quality": int(quality),
                 "our_quality": oq}
            )

    decode_s = hash_s = 0.0
    for _ in range(rounds):
        for data in files:
            t0 = time.perf_counter()
            image = Image.open(io.BytesIO(data))
            rgb = np.asarray(image.convert("RGB"))
            t1 = time.perf_counter()
            pdqhash.compute(rgb)
            t2 = time.perf_counter()
            decode_s += t1 - t0
            hash_s += t2 - t1
    n = len(files) * rounds
    return {
        "files": len(files),
        "rounds": rounds,
        "images_per_s": n / (decode_s + hash_s),
        "decode_ms_per_image": 1e3 * decode_s / n,
        "pdq_ms_per_image": 1e3 * hash_s / n,
        "pdq_only_images_per_s": n / hash_s,
        "agreement_exact": exact,
        "agreement_max_distance": max(dists),
        "agreement_max_quality_diff": max(qdiffs),
        "differing": differing,
    }


def load_hashes(path):
    import numpy as np

    data = np.fromfile(path, dtype=np.uint8)
    return data.reshape(-1, 32)


def range_results(lims, ids, nq):
    return [set(ids[lims[i] : lims[i + 1]].tolist()) for i in range(nq)]


def bench_faiss(out, t, multihash_configs):
    import faiss

    faiss.omp_set_num_threads(1)
    xb = load_hashes(os.path.join(out, "haystack.bin"))
    xq = load_hashes(os.path.join(out, "queries.bin"))
    nq = xq.shape[0]
    # faiss binary range search keeps distances strictly below the radius.
    radius = t + 1

    with open(os.path.join(out, "rust_results.txt")) as f:
        rust = [set(int(x) for x in line.split()) for line in f.read().split("\n")[:nq]]

    res = {"n": int(xb.shape[0]), "queries": nq, "t": t, "threads": 1}

    rss0 = rss_bytes()
    t0 = time.perf_counter()
    flat = faiss.IndexBinaryFlat(256)
    flat.add(xb)
    build = time.perf_counter() - t0
    rss1 = rss_bytes()
    t0 = time.perf_counter()
    lims, _, ids = flat.range_search(xq, radius)
    qs = time.perf_counter() - t0
    truth = range_results(lims, ids, nq)
    true_total = sum(len(s) for s in truth)
    res["flat"] = {
        "build_s": build,
        "rss_growth_bytes": (rss1 - rss0) if rss0 and rss1 else None,
        "queries_per_s": nq / qs,
        "true_matches": true_total,
        "rust_identical": truth == rust,
    }

    res["multihash"] = []
    for nhash, b, nflip in multihash_configs:
        t0 = time.perf_counter()
        mh = faiss.IndexBinaryMultiHash(256, nhash, b)
        mh.nflip = nflip
        mh.add(xb)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        lims, _, ids = mh.range_search(xq, radius)
        qs = time.perf_counter() - t0
        got = range_results(lims, ids, nq)
        found = sum(len(g & tr) for g, tr in zip(got, truth))
        res["multihash"].append(
            {
                "nhash": nhash,
                "b": b,
                "nflip": nflip,
                "build_s": build,
                "queries_per_s": nq / qs,
                "found": found,
                "missed": true_total - found,
                "recall": found / true_total if true_total else 1.0,
            }
        )
        del mh
    return res


def fmt_ratio(ours, theirs):
    if not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


def print_table(rust_json, peer_json):
    with open(rust_json) as f:
        r = json.load(f)
    with open(peer_json) as f:
        p = json.load(f)
    rows = []
    if "images" in r and "images" in p:
        ri, pi = r["images"], p["images"]
        rows.append(("PDQ: decode + hash (images/s)", "breakwater-media", ri["images_per_s"],
                     "pdqhash + Pillow", pi["images_per_s"]))
        rows.append(("PDQ: hash only, decoded pixels (images/s)", "breakwater-media",
                     ri["pdq_only_images_per_s"], "pdqhash (C++)", pi["pdq_only_images_per_s"]))
    ri, pf = r["index"], p["faiss"]
    rows.append((f"range query t={ri['t']}, n={ri['n']:,} (queries/s)", "PdqIndex",
                 ri["queries_per_s"], "IndexBinaryFlat", pf["flat"]["queries_per_s"]))
    for mh in pf["multihash"]:
        name = f"MultiHash({mh['nhash']}x{mh['b']}, nflip={mh['nflip']})"
        rows.append((f"range query t={ri['t']}, n={ri['n']:,} (queries/s)", "PdqIndex",
                     ri["queries_per_s"], name, mh["queries_per_s"]))
    print()
    print(f"{'measure':<44} {'ours':<17} {'value':>10}   {'peer':<28} {'value':>10}  ours/peer")
    print("-" * 128)
    for what, on, ov, pn, pv in rows:
        print(f"{what:<44} {on:<17} {ov:>10.1f}   {pn:<28} {pv:>10.1f}  {fmt_ratio(ov, pv)}")
    print()
    print(f"index build: PdqIndex {ri['build_s']:.2f} s, IndexBinaryFlat {pf['flat']['build_s']:.2f} s, "
          + ", ".join(f"MultiHash({m['nhash']}x{m['b']},{m['nflip']}) {m['build_s']:.2f} s"
                      for m in pf["multihash"]))
    print(f"recall at t={ri['t']}: PdqIndex {ri['recall']:.6f} ({ri['found']}/{ri['true_matches']}, "
          f"identical to linear scan: {ri['identical_to_linear']}); "
          f"faiss flat agrees with PdqIndex on every query: {pf['flat']['rust_identical']}")
    for m in pf["multihash"]:
        print(f"  faiss MultiHash({m['nhash']}x{m['b']}, nflip={m['nflip']}): recall {m['recall']:.6f}, "
              f"missed {m['missed']} of {pf['flat']['true_matches']}")
    mb = 1e6
    print(f"memory: PdqIndex memory_bytes {ri['memory_bytes'] / mb:.1f} MB "
          f"({ri['bytes_per_hash']:.1f} B/hash, RSS growth {ri['rss_growth_bytes'] / mb:.1f} MB) "
          f"-> 10M hashes ~ {ri['memory_10m_gb']:.2f} GB; faiss IndexBinaryFlat RSS growth "
          f"{(pf['flat']['rss_growth_bytes'] or 0) / mb:.1f} MB")
    print(f"PdqIndex linear scan: {ri['linear_queries_per_s']:.1f} queries/s; "
          f"updates: {ri['inserts_per_s']:.0f} inserts/s, {ri['removes_per_s']:.0f} removes/s")
    if "images" in p:
        pi = p["images"]
        print(f"hash agreement with pdqhash on the same files: {pi['agreement_exact']}/{pi['files']} "
              f"identical, max distance {pi['agreement_max_distance']}, "
              f"max quality difference {pi['agreement_max_quality_diff']}")
        for d in pi["differing"]:
            print(f"  {d['file']}: distance {d['distance']}, quality ours {d['our_quality']} "
                  f"vs pdqhash {d['quality']}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "table":
        print_table(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="directory written by pdq_bench")
    ap.add_argument(
        "--multihash",
        default="16x16x1,8x16x1,16x16x0",
        help="comma-separated NHASHxBxNFLIP configurations of IndexBinaryMultiHash",
    )
    args = ap.parse_args()
    configs = [tuple(int(v) for v in c.split("x")) for c in args.multihash.split(",") if c]
    # Same radius, rounds and image set as the Rust run.
    with open(os.path.join(args.out, "rust.json")) as f:
        rust = json.load(f)
    result = {}
    if "images" in rust:
        result["images"] = bench_images(args.out, rust["images"]["rounds"])
    result["faiss"] = bench_faiss(args.out, rust["index"]["t"], configs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
