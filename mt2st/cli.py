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
