"""scikit-learn peer for `breakwater bench scan`.

Trains a character n-gram TF-IDF + logistic regression pipeline on the same training
split Breakwater uses, then times prediction on the same texts, single-threaded.
Usage: peer.py TRAIN_JSONL TEXTS_JSONL  (prints one JSON object)
"""
import json
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline


def main() -> None:
    train = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
    texts = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, min_df=2),
        LogisticRegression(max_iter=1000),
    )
    model.fit([t["text"] for t in train], [t["label"] for t in train])
    model.predict(texts[:500])
    started = time.perf_counter()
    model.predict(texts)
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "pipeline": "TfidfVectorizer(char_wb, 2-4) + LogisticRegression",
        "items": len(texts),
        "seconds": elapsed,
        "posts_per_second": len(texts) / elapsed,
    }))


if __name__ == "__main__":
    main()
