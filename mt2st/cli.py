"""The ``mt2st`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys

from mt2st.errors import MT2STError
from mt2st.kernels.problem import KERNELS, METHODS


def _cmd_data_list(args: argparse.Namespace) -> int:
    from mt2st.data.summary import list_resources

    for name, description, status in list_resources(args.data_dir):
        print(f"{name:<10} {description}\n{'':<10} {status}")
    return 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from mt2st.data.sources import RESOURCES, locate

    unknown = sorted(set(args.names) - set(RESOURCES))
    if unknown:
        raise MT2STError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(RESOURCES)}")
    for name in args.names or [n for n in RESOURCES if n != "imdb"]:
        print(f"{name:<10} {locate(name, args.data_dir)}", flush=True)
    return 0


def _cmd_data_info(args: argparse.Namespace) -> int:
    from mt2st.data import load_dataset
    from mt2st.data.summary import dataset_info, format_info

    options = {k: v for k, v in (("subsample", args.subsample), ("train_size", args.train_size),
                                 ("fractions", args.fractions)) if v is not None}
    dataset = load_dataset(args.name, data_dir=args.data_dir, seed=args.seed, **options)
    info = dataset_info(dataset, min_count=args.min_count, data_dir=args.data_dir)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def _read_corpus(spec: str, data_dir: str | None) -> list[list[str]]:
    """Comma-separated parts: sst2, mr, wikitext2, file:PATH (one sentence a line)."""
    from mt2st.data import embedding_corpus, tokenize

    return [tokenize(t) for t in embedding_corpus(data_dir, tuple(p.strip() for p in spec.split(",")))]


def _cmd_embed(args: argparse.Namespace) -> int:
    from mt2st.data import load_google_analogy, load_similarity_sets
    from mt2st.embed import train_embeddings
    from mt2st.metrics import analogy_accuracy, similarity_spearman

    if args.out:
        _check_output_file(args.out, "embed --out")
    sentences = _read_corpus(args.corpus, args.data_dir)
    emb = train_embeddings(sentences, method=args.method, dim=args.dim, window=args.window,
                           negative=args.negative, epochs=args.epochs, threads=args.threads,
                           seed=args.seed, min_count=args.min_count, sample=args.sample,
                           alpha=args.alpha, min_alpha=args.min_alpha, bucket=args.bucket,
                           backend=args.backend, device=args.device, kernel=args.kernel,
                           progress=not args.quiet)
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


def _check_output_file(path: str, flag: str) -> None:
    """Fail before any work when the file cannot be written where it is asked for."""
    from pathlib import Path

    from mt2st.errors import ConfigError

    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder, expected a file name")
    parent = target.parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{flag} {path}: folder {parent} is not writable")


def _jobs(text: str) -> int:
    """--jobs: a whole number from 1 to the machine's processors times 4."""
    limit = 4 * (os.cpu_count() or 1)
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= limit:
        raise argparse.ArgumentTypeError(f"expected 1 to {limit} (4 per processor), got {value}")
    return value


def _check_output_folder(path, flag: str):
    """Create the output folder now (not after training); a clear error when it cannot be."""
    from pathlib import Path

    from mt2st.errors import ConfigError

    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"{flag} {path}: a file is in the way, expected a folder") from None
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot create the folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"{flag} {path}: folder is not writable")
    return folder


def _train_config(args: argparse.Namespace, base=None):
    """TOML file (``--config``, or ``base``) first, then every flag given on the command line
    on top."""
    import dataclasses

    from mt2st.config import TrainConfig

    if base is None:
        base = TrainConfig.from_toml(args.config) if args.config else TrainConfig()
    changes = {}
    for f in dataclasses.fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            changes[f.name] = value
    if "gamma0" in changes:
        changes["gamma0"] = _parse_gamma(changes["gamma0"])
    # the two units of the evaluation schedule: a flag given replaces the other unit (the
    # file's, or the default 0.05 epoch filled in before the flags applied)
    if "eval_every" in changes and "eval_every_epochs" not in changes:
        changes["eval_every_epochs"] = None
    elif "eval_every_epochs" in changes and "eval_every" not in changes:
        changes["eval_every"] = None
    return base.replace(**changes)


def _corpus_list(text: str) -> tuple[str, ...]:
    """``wikitext2`` or ``train,file:extra.txt``: corpus parts, in order."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_gamma(text: str):
    """``0.5`` or ``analogy=1,similarity=0.3``."""
    from mt2st.errors import ConfigError

    try:
        if "=" not in text:
            return float(text)
        return {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise ConfigError(f"--gamma0 {text!r}: expected a number or task=value,task=value") from None


def _cmd_train(args: argparse.Namespace) -> int:

    from mt2st.trainer import train

    config = _train_config(args)
    out = _check_output_folder(args.out, "train --out")
    record = train(config, data_dir=args.data_dir, progress=not args.quiet)
    path = record.save(out / f"{record.run_id}.parquet")
    rows = record.rows
    last = rows.iloc[-1]
    ttt = record.meta["time_to_target_s"]
    print(f"run {record.run_id}: {config.strategy} {config.setting} seed {config.seed}; "
          f"{len(rows)} evaluations over {last['epoch']:g} epochs, final val {last['val_acc']:.4f} "
          f"test {last['test_acc']:.4f}; "
          f"train {last['train_seconds']:.2f} s, wall {last['wall_seconds']:.2f} s; "
          f"time to val >= {config.target}: "
          + (f"{ttt:.2f} s" if ttt != float("inf") else "not reached (miss)")
          + (" [DIVERGED]" if record.meta["diverged"] else ""))
    print(f"record written to {path}")
    return 0


def _select_config(args: argparse.Namespace):
    """The workload to choose for: a sweep TOML's regime (``--regime``; its MTL cell, tuned
    knobs included, first seed) or a run TOML, with the train flags given on top."""
    from mt2st.config import read_toml
    from mt2st.errors import ConfigError
    from mt2st.spec import SWEEP_TABLES, SweepSpec

    raw = read_toml(args.config) if args.config else {}
    if not raw or not ({"sweep", "grid", "regime"} & set(raw)) or not set(raw) <= set(SWEEP_TABLES):
        return _train_config(args)
    spec = SweepSpec.from_toml(args.config)
    labels = spec.labels
    if args.regime is None and len(labels) > 1:
        raise ConfigError(f"{args.config} has {len(labels)} regimes: name one with --regime "
                          f"({'; '.join(labels)})")
    label = args.regime if args.regime is not None else (labels[0] if labels else None)
    if label is not None and label not in labels:
        raise ConfigError(f"--regime {label!r} is not a regime of {args.config} ({'; '.join(labels)})")
    return _train_config(args, _regime_workload(spec, label, str(args.config))[1])


def _regime_workload(spec, label: str | None, source: str):
    """(every run of the regime, the configuration its workload is ranked with: its MTL cell,
    tuned knobs included, at the first seed)."""
    from mt2st.spec import expand_seeds

    configs = expand_seeds(spec.base, spec.regime_cells(label), spec.seeds, source)
    return configs, next((c for c in configs if c.strategy == "mtl"), configs[0])


def _judge_selection(args: argparse.Namespace) -> int:
    """Rank every regime of a sweep TOML and score the rankings against its store."""
    from pathlib import Path

    from mt2st.errors import ConfigError
    from mt2st.report.selection import judge, write_selection_report
    from mt2st.results import ResultsStore
    from mt2st.select import render, select
    from mt2st.spec import SweepSpec

    if not args.config:
        raise ConfigError("select --judge needs --config SWEEP.toml (the sweep that measured the store)")
    spec = SweepSpec.from_toml(args.config)
    store = ResultsStore(args.judge)
    if not store.runs.is_dir():
        raise ConfigError(f"select --judge {args.judge}: no runs/ folder (run `mt2st reproduce "
                          f"--config {args.config} --out {args.judge}` first)")
    rows = store.load()
    workloads = {}
    for label in spec.labels or [None]:
        configs, config = _regime_workload(spec, label, str(args.config))
        chosen = select(config, data_dir=args.data_dir, steps=args.steps, aux_steps=args.aux_steps,
                        sample=args.sample, seeds=args.seeds, top=args.top)
        print(f"== {label}\n{render(chosen)}\n")
        workloads[label or "workload"] = (configs, chosen)
    tune = spec.tune
    at = "".join(f", {k} = {v}" for k, v in tune.at.items()) if tune else ""
    tuning = {label: (f"tuned (seeds {tune.seeds}{at})" if label in tune.regimes else
                      f"{tune.transfer[label]}'s tuned values" if label in tune.transfer else
                      "untuned: the sweep file's values")
              for label in spec.labels} if tune and spec.tuned else {}
    tables = judge(rows, workloads, tuning)
    if tables["scores"].empty:
        raise ConfigError(f"{args.judge}: the store holds no run of {args.config}'s regimes")
    command = f"mt2st select --config {args.config} --judge {args.judge}"
    md = write_selection_report(tables, Path(args.judge), f"mt2st select judged ({args.config})",
                                command)
    print(f"report: {md}")
    return 0


def _cmd_select(args: argparse.Namespace) -> int:
    import json

    from mt2st.select import render, select

    if args.judge:
        return _judge_selection(args)
    config = _select_config(args)
    if args.json:
        _check_output_file(args.json, "select --json")
    chosen = select(config, data_dir=args.data_dir, steps=args.steps, aux_steps=args.aux_steps,
                    sample=args.sample, seeds=args.seeds, top=args.top)
    print(render(chosen))
    if args.json:
        from mt2st.results import write_text_atomic

        write_text_atomic(args.json, json.dumps({
            "config": chosen.config.to_dict(), "candidates": chosen.table.to_dict("records"),
            "seconds": chosen.seconds, "sweep_seconds_estimate": chosen.sweep_seconds,
            "would_run": chosen.top}, indent=2, default=str))
    return 0


def _find_sweep_config(args: argparse.Namespace):
    """--config PATH, else reproduce/quick.toml (--quick) or reproduce/paper.toml, looked up in
    the working directory and then next to the installed package (a source checkout)."""
    from pathlib import Path

    from mt2st.errors import ConfigError

    if args.config:
        return Path(args.config)
    name = "quick.toml" if args.quick else "paper.toml"
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        cand = base / "reproduce" / name
        if cand.is_file():
            return cand
    raise ConfigError(f"reproduce/{name} not found in {Path.cwd()} or the source checkout; "
                      f"pass --config PATH")


def _cmd_reproduce(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from mt2st.results import write_text_atomic
    from mt2st.sweep import SweepSpec, core_seconds, run_sweep, timing_summary

    path = _find_sweep_config(args)
    spec = SweepSpec.from_toml(path)
    out = _check_output_folder(args.out or Path("results") / spec.name, "reproduce --out")
    n = len(spec.configs())
    print(f"sweep {spec.name} ({path}): {n} runs into {out / 'runs'}"
          + (f"; expected time: {spec.estimate}" if spec.estimate else ""))
    if args.prune:
        from mt2st.results import ResultsStore

        moved = ResultsStore(out).prune({c.run_id for c in spec.configs()})
        if moved:
            print(f"{len(moved)} records of runs no longer in the sweep moved to {out / 'stale'}")
    result = run_sweep(spec, out, jobs=args.jobs, executor=args.executor,
                       scheduler=args.scheduler, data_dir=args.data_dir, progress=not args.quiet)
    for note in result.moved_aside:
        print(f"  invalid record moved aside and run again: {note}")
    print(f"{result.skipped} runs already in the store, {len(result.ran)} ran, "
          f"{len(result.failed)} failed")
    for f in result.failed:
        print(f"  failed {f['run_id']}: {f['error']}")
    t0, cpu0 = time.perf_counter(), core_seconds()
    code = _report(out, out / "report", spec.report, title=f"MT2ST reproduction: {spec.name}")
    cpu1 = core_seconds()
    timing = timing_summary(result, out, time.perf_counter() - t0,
                            None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
    write_text_atomic(out / "timing.json", json.dumps(timing, indent=2) + "\n")
    print(_timing_line(timing))
    if result.failed:
        print(f"error: {len(result.failed)} of {result.total} runs failed (their errors are in "
              f"{out / 'failures'}); the report above leaves them out. Run the same command "
              f"again to retry them.", file=sys.stderr)
        return 1
    return code


def _timing_line(t: dict) -> str:
    """One line of where the job's time went (the numbers of timing.json)."""
    line = f"time: sweep {t['sweep_seconds']:.1f} s"
    if t["runs_trained"] and t["sweep_core_seconds"]:
        core = t["sweep_core_seconds"]
        line += (f" ({core:.0f} core-seconds: training {100 * t['training_cpu_seconds'] / core:.0f} %,"
                 f" evaluation {100 * t['evaluation_seconds'] / core:.0f} %,"
                 f" the rest start-up, data and records)")
    return line + f"; report {t['report_seconds']:.1f} s"


def _cmd_tune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mt2st.report.tuning import write_tuning_report
    from mt2st.sweep import SweepSpec
    from mt2st.tune import run_tuning

    path = Path(args.config)
    spec = SweepSpec.from_toml(path, tuned=False)  # the tuned file may not exist yet
    out = Path(args.out or Path("results") / f"{spec.name}-tuning")
    chosen = Path(args.chosen) if args.chosen else (spec.tuned_path or out / "tuned.toml")
    command = f"mt2st tune --config {path} --out {out}" + (f" --chosen {args.chosen}"
                                                            if args.chosen else "")
    print(f"tuning {spec.name} ({path}): regimes {', '.join(spec.tune.regimes) if spec.tune else '-'}"
          f" on seeds {spec.tune.seeds if spec.tune else '-'}, into {out / 'runs'}")
    result = run_tuning(spec, out, chosen, command, jobs=args.jobs, data_dir=args.data_dir,
                        progress=not args.quiet)
    print(f"{result.ran} runs ran, {len(result.failed)} failed; chosen knobs: {result.chosen_path}")
    for f in result.failed:
        print(f"  failed {f['run_id']}: {f['error']}")
    report = write_tuning_report(result.scores, spec, out, command)
    print(f"report: {report}")
    return 1 if result.failed else 0


def _report(results, out, options: dict, title: str) -> int:
    if options.get("seed_sets"):  # a known-answer controls sweep: its own report
        from mt2st.report.controls import write_controls_report

        info = write_controls_report(results, out, options["seed_sets"],
                                     positive_dataset=options.get("positive_dataset") or "synthetic",
                                     levels=options.get("ladder"), title=title)
        print(f"report: {info['report']} and {info['html']}")
        for name, ok in info["passed"].items():
            print(f"control {name}: {'passed' if ok else 'FAILED'}")
        return 0 if all(info["passed"].values()) else 1
    from mt2st.report.render import build_report

    info = build_report(results, out, title=title, init=options.get("init"),
                        setting=options.get("setting") or "S3",
                        overlay_authors=options.get("overlay_authors", True),
                        target=options.get("target") or "stl:0.99", levels=options.get("ladder"),
                        extra_notes=options.get("extra_notes"), svg=bool(options.get("svg")))
    print(f"report: {info['report']} and {info['html']} ({len(info['figures'])} figure files)")
    for check in info["checks"]:
        print("claim check: " + check["sentence"].replace("**", ""))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mt2st.errors import ConfigError

    results = Path(args.results)
    if not (results / "runs").is_dir():  # before the report folder is made
        raise ConfigError(f"report {results}: no results there (expected a folder holding runs/; "
                          f"run a sweep first)")
    out = _check_output_folder(args.out or results / "report", "report --out")
    options = {"init": args.init, "setting": args.setting, "target": args.target,
               "ladder": args.ladder}
    saved = out / "options.json"  # a report written before: its options, unless overridden
    before = json.loads(saved.read_text()) if saved.is_file() else {}
    before["ladder"] = before.pop("levels", None)
    options = {k: v if v is not None else before.get(k) for k, v in options.items()}
    options["overlay_authors"] = before.get("overlay_authors", True)
    options["extra_notes"] = args.note if args.note is not None else before.get("extra_notes")
    options["svg"] = args.svg or before.get("svg", False)
    for key in ("seed_sets", "positive_dataset"):  # a controls report stays one
        if before.get(key):
            options[key] = before[key]
    title = args.title or before.get("title") or f"MT2ST report: {results.name}"
    return _report(results, out, options, title=title)


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig key (unset flags keep the config file's or default value)."""
    import dataclasses

    from mt2st.config import CORPUS_OPTIONS, NUMERIC_FIELDS, TrainConfig, field_help
    from mt2st.schedules import STRATEGIES

    helps = field_help()  # each field's own comment in mt2st/config.py: one place
    helps["strategy"] = ("schedules " + ", ".join(n for n, c in STRATEGIES.items() if c.in_place_tasks)
                         + "; gradient weightings "
                         + ", ".join(n for n, c in STRATEGIES.items() if not c.in_place_tasks))
    for f in dataclasses.fields(TrainConfig):
        if f.name == "dataset_options":
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):  # --flag and --no-flag
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                           help=helps.get(f.name, "") + f" (default {str(default).lower()})")
            continue
        if f.name in CORPUS_OPTIONS:  # a comma list of corpus parts
            p.add_argument(flag, type=_corpus_list, default=None,
                           help=helps.get(f.name, "") + f"; a comma list (default "
                                f"{','.join(default) or 'none'})")
            continue
        kind = NUMERIC_FIELDS.get(f.name, str)
        if f.name == "gamma0":
            kind = str
        p.add_argument(flag, type=kind, default=None,
                       help=helps.get(f.name, "") + f" (default {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mt2st", description=__doc__)
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the datasets (default: $MT2ST_DATA_DIR, then cache)")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="list and inspect datasets")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("list", help="known datasets and where each was found")
    p.set_defaults(func=_cmd_data_list)
    p = data_sub.add_parser("fetch", help="download and verify datasets into the cache now "
                                          "(default: all but imdb, 80 MB)")
    p.add_argument("names", nargs="*", help="datasets (see data list)")
    p.set_defaults(func=_cmd_data_fetch)
    p = data_sub.add_parser("info", help="sizes, label balance, vocabulary, OOV rates")
    p.add_argument("name", help="sst2, mr, imdb, synthetic, fasttext:PATH or tsv:PATH")
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subsample", type=int, default=None,
                   help="N examples of the whole dataset, stratified, split by --fractions")
    p.add_argument("--fractions", type=float, nargs=3, metavar=("TRAIN", "VAL", "TEST"),
                   help="re-split (default with --subsample: 0.75 0 0.25, validation = test)")
    p.add_argument("--train-size", type=int, default=None,
                   help="N training examples, stratified; validation and test unchanged")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_data_info)

    p = sub.add_parser("embed", help="pretrain word vectors with the negative-sampling kernels")
    p.add_argument("--corpus", default="sst2,mr,wikitext2",
                   help="comma-separated parts: sst2, mr, wikitext2, file:PATH")
    p.add_argument("--method", choices=METHODS, default="sg")
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
    p.add_argument("--backend", default="numba", choices=("numba", "torch"))
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (torch backend)")
    p.add_argument("--kernel", default="auto",
                   choices=tuple(dict.fromkeys(k for ks in KERNELS.values() for k in ks)),
                   help="numba: pairs (gensim's rule; auto) or hogbatch (sg, shared noise "
                        "words); torch: batched torch ops or the Triton skip-gram kernel "
                        "(auto: triton for sg on CUDA when installed)")
    p.add_argument("--out", help="write vectors here (word2vec text format)")
    p.add_argument("--evaluate", action="store_true", help="word similarity and analogy scores")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_embed)

    p = sub.add_parser("train", help="one training run; writes its record as Parquet")
    p.add_argument("--config", help="TOML file with the run's keys (under [train] or top level)")
    p.add_argument("--out", default="runs", help="folder for the record (default runs/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_train_flags(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("select", help="rank every candidate auxiliary set for a workload by cheap "
                                      "predictors, before training (seconds, not a sweep)")
    p.add_argument("--config", help="a sweep TOML (with --regime) or a run TOML")
    p.add_argument("--regime", default=None, help="the sweep's regime label whose workload to rank for")
    p.add_argument("--steps", type=int, default=20,
                   help="primary steps over which alignment and affinity are averaged (default 20)")
    p.add_argument("--aux-steps", type=int, default=100,
                   help="auxiliary-only steps before LogME reads the table (default 100)")
    p.add_argument("--sample", type=int, default=2000,
                   help="training sentences whose features LogME reads (default 2000)")
    p.add_argument("--seeds", type=int, default=5,
                   help="seeds per candidate of the sweep the ranking replaces (default 5)")
    p.add_argument("--top", type=int, default=3, help="candidates it would run besides none")
    p.add_argument("--json", default=None, help="also write the ranking as JSON to this file")
    p.add_argument("--judge", default=None, metavar="STORE",
                   help="rank every regime of the --config sweep and score the rankings against "
                        "the candidates measured in STORE (regret@1/@3, NDCG, Kendall tau; report "
                        "written there)")
    _add_train_flags(p)
    p.set_defaults(func=_cmd_select)

    p = sub.add_parser("reproduce", help="run a sweep (resumable) and write the report")
    p.add_argument("--quick", action="store_true",
                   help="reproduce/quick.toml, the README's main job (its [sweep] estimate says "
                        "how long)")
    p.add_argument("--config", help="a sweep TOML (default reproduce/paper.toml)")
    p.add_argument("--out", help="results folder (default results/<sweep name>)")
    p.add_argument("--jobs", type=_jobs, default=1,
                   help="local worker processes (at most one per run left to do)")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--scheduler", help="Dask scheduler address for --executor dask")
    p.add_argument("--prune", action="store_true",
                   help="move records of runs the sweep no longer has (a changed or newly tuned "
                        "config) to OUT/stale/, so the report reads only this sweep's runs")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser("tune", help="tune every strategy's knobs on unreported seeds (the "
                                    "sweep TOML's [tune] table) and write the chosen values")
    p.add_argument("--config", required=True, help="a sweep TOML with a [tune] table")
    p.add_argument("--out", help="folder of the tuning runs and report "
                                 "(default results/<sweep name>-tuning)")
    p.add_argument("--chosen", help="file for the chosen values (default: the sweep's "
                                    "[sweep] tuned file, else OUT/tuned.toml)")
    p.add_argument("--jobs", type=_jobs, default=1,
                   help="local worker processes (at most one per run left to do)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("report", help="only write the report from a results folder")
    p.add_argument("results", help="results folder (holding runs/)")
    p.add_argument("--out", help="report folder (default RESULTS/report)")
    p.add_argument("--init", help="init of the claim check and time-to-accuracy figure")
    p.add_argument("--setting", help="setting of Table 2 and the claim check (default S3, or "
                                     "the folder's earlier report's)")
    p.add_argument("--target", help="Table 2's target: a number (0.8) or stl:FRACTION (of STL's "
                                    "median best; default stl:0.99, or the earlier report's)")
    p.add_argument("--ladder", type=float, nargs=3, metavar=("START", "STOP", "STEP"),
                   default=None, help="target levels scanned, as fractions of STL's median best "
                                      "(default 0.90 1.00 0.01)")
    p.add_argument("--title")
    p.add_argument("--note", action="append", default=None,
                   help="a paragraph closing the report (repeatable; default: the earlier "
                        "report's notes)")
    p.add_argument("--svg", action="store_true", default=False,
                   help="write every figure as SVG too, beside its PNG (kept by later reports "
                        "of the folder)")
    p.set_defaults(func=_cmd_report)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or ``kill`` stopping the job): stops as Ctrl-C does."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    parser = build_parser()
    args = parser.parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except MT2STError as exc:
        print(f"mt2st: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        print(f"mt2st: {'terminated' if terminated else 'interrupted'}; finished runs are in the "
              "store, and the same command resumes from there", file=sys.stderr)
        return 143 if terminated else 130  # 128 + the signal's number, as a shell reports it
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
