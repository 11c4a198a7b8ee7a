"""The ``mt2st`` command line."""

from __future__ import annotations

import argparse
import json
import sys

from mt2st.errors import MT2STError


def _cmd_data_list(args: argparse.Namespace) -> int:
    from mt2st.data.summary import list_resources

    for name, description, status in list_resources(args.data_dir):
        print(f"{name:<10} {description}\n{'':<10} {status}")
    return 0


def _cmd_data_info(args: argparse.Namespace) -> int:
    from mt2st.data import load_dataset
    from mt2st.data.summary import dataset_info, format_info

    options = {"subsample": args.subsample} if args.subsample else {}
    dataset = load_dataset(args.name, data_dir=args.data_dir, seed=args.seed, **options)
    info = dataset_info(dataset, min_count=args.min_count, data_dir=args.data_dir)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def _read_corpus(spec: str, data_dir: str | None) -> list[list[str]]:
    """``sst2,mr,wikitext2`` (any of them, comma-separated) or ``file:PATH`` (one sentence a line)."""
    from pathlib import Path

    from mt2st.data import embedding_corpus, tokenize
    from mt2st.data.files import numbered_lines

    if spec.startswith("file:"):
        texts = [line for _, line in numbered_lines(Path(spec[5:]))]
    else:
        texts = list(embedding_corpus(data_dir, tuple(p.strip() for p in spec.split(","))))
    return [tokenize(t) for t in texts]


def _cmd_embed(args: argparse.Namespace) -> int:
    from mt2st.data import load_google_analogy, load_similarity_sets
    from mt2st.embed import train_embeddings
    from mt2st.metrics import analogy_accuracy, similarity_spearman

    sentences = _read_corpus(args.corpus, args.data_dir)
    emb = train_embeddings(sentences, method=args.method, dim=args.dim, window=args.window,
                           negative=args.negative, epochs=args.epochs, threads=args.threads,
                           seed=args.seed, min_count=args.min_count, sample=args.sample,
                           alpha=args.alpha, min_alpha=args.min_alpha, bucket=args.bucket,
                           backend=args.backend, progress=not args.quiet)
    st = emb.stats
    print(f"{args.method}: {len(emb):,} words x {emb.dim}; {st.seconds:.2f} s training "
          f"(compilation excluded); {st.raw_words_per_s:,.0f} raw words/s (in-vocabulary tokens "
          f"before subsampling), {st.effective_words_per_s:,.0f} effective words/s (after)")
    if args.out:
        emb.save_word2vec(args.out)
        print(f"vectors written to {args.out} (word2vec text format)")
    if args.evaluate:
        for name, pairs in load_similarity_sets(args.data_dir).items():
            rho, n = similarity_spearman(emb.index, emb.vectors, pairs)
            print(f"  {name:<14} Spearman {rho:6.3f} over {n} pairs")
        acc = analogy_accuracy(emb.index, emb.vectors, load_google_analogy(args.data_dir))
        print(f"  analogy        semantic {acc['semantic']:.1%}  syntactic {acc['syntactic']:.1%}"
              f"  overall {acc['overall']:.1%} over {acc['questions']} questions in vocabulary")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mt2st", description=__doc__)
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the datasets (default: $MT2ST_DATA_DIR, then cache)")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="list and inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("list", help="known datasets and where each was found")
    p.set_defaults(func=_cmd_data_list)
    p = data_sub.add_parser("info", help="sizes, label balance, vocabulary, OOV rates")
    p.add_argument("name", help="sst2, mr, imdb, synthetic, fasttext:PATH or tsv:PATH")
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subsample", type=int, default=None, help="imdb: draw N reviews")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_data_info)

    p = sub.add_parser("embed", help="pretrain word vectors with the negative-sampling kernels")
    p.add_argument("--corpus", default="sst2,mr,wikitext2",
                   help="comma-separated parts of sst2, mr, wikitext2; or file:PATH")
    p.add_argument("--method", choices=("sg", "cbow", "fasttext"), default="sg")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--alpha", type=float, default=0.025)
    p.add_argument("--min-alpha", type=float, default=0.0001)
    p.add_argument("--bucket", type=int, default=2_000_000, help="fasttext n-gram buckets")
    p.add_argument("--backend", default="numba")
    p.add_argument("--out", help="write vectors here (word2vec text format)")
    p.add_argument("--evaluate", action="store_true", help="word similarity and analogy scores")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_embed)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MT2STError as exc:
        print(f"mt2st: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
