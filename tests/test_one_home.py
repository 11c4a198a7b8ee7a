"""One home for each piece of knowledge: a strategy is one class plus one registry line, and
the configuration checks its parameters through that class when it is read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.schedules import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]

#: a strategy that exists nowhere in mt2st: the class and the registry line are all it gets
NEW_STRATEGY = textwrap.dedent('''
    import json, sys
    import mt2st.schedules as schedules

    class Halve(schedules.Schedule):
        """Half the auxiliary weight, all the time."""
        name, label, color, baselines = "halve", "Halve", "#123456", ("stl", "mtl")

        def factor(self, t):
            return 0.5

    schedules.STRATEGIES["halve"] = Halve  # the one registry line

    from mt2st.cli import main
    from mt2st.report.claims import COMPARISONS
    from mt2st.report.figures import COLORS

    code = main(["reproduce", "--config", sys.argv[1], "--out", sys.argv[2], "--quiet"])
    print(json.dumps({"code": code, "comparisons": COMPARISONS, "color": COLORS.get("halve")}))
''')

TINY_SWEEP = """\
[sweep]
name = "one-home"
seeds = [0, 1]
[base]
dataset = "synthetic"
dataset_options = { n_train = 200, n_validation = 100, n_test = 100, n_corpus = 10 }
init = "random"
setting = "S1"
dim = 8
epochs = 2
eval_every_epochs = 0.5
[grid]
strategy = ["stl", "mtl", "halve"]
[report]
init = "random"
setting = "S1"
"""


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_a_new_strategy_is_one_class_and_one_registry_line(tmp_path):
    """A strategy defined outside mt2st, registered with one line, trains in a sweep and is
    named, coloured and compared with its baselines by the report, with no other edit."""
    script, toml, out = tmp_path / "new_strategy.py", tmp_path / "sweep.toml", tmp_path / "out"
    script.write_text(NEW_STRATEGY)
    toml.write_text(TINY_SWEEP)
    done = subprocess.run([sys.executable, str(script), str(toml), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["color"] == "#123456"
    assert ["halve", "stl"] in result["comparisons"] and ["halve", "mtl"] in result["comparisons"]
    report = (out / "report" / "report.md").read_text()
    assert "Halve vs STL" in report and "Halve vs MTL" in report


def test_outside_the_schedules_almost_nothing_names_a_strategy():
    """Reports, figures, the CLI and config read the registry. What is left names the paper's
    own method (its claims are Switch's), the default and the positive control's pair."""
    names = "|".join(re.escape(n) for n in STRATEGIES if n not in ("stl", "mtl"))
    literal = re.compile(rf"""["']({names})["']""")
    hits = []
    for path in (ROOT / "mt2st").rglob("*.py"):
        rel = path.relative_to(ROOT / "mt2st").as_posix()
        if rel == "schedules.py":
            continue
        hits += [f"{rel}:{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
                 if literal.search(line)]
    assert len(hits) <= 7, "\n".join(hits)


def test_every_strategy_describes_itself():
    for name, cls in STRATEGIES.items():
        assert cls.name == name and cls.label and re.fullmatch(r"#[0-9a-f]{6}", cls.color)
        assert set(cls.baselines) <= {"stl", "mtl"} and cls.baselines
        assert cls.paper_name is None or cls.table2
    colors = [cls.color for cls in STRATEGIES.values()]
    labels = [cls.label for cls in STRATEGIES.values()]
    assert len(set(colors)) == len(colors) and len(set(labels)) == len(labels)


@pytest.mark.parametrize("options, message", [
    ({"strategy": "adaptive-switch", "patience": -1}, "patience >= 1"),
    ({"strategy": "diminish", "eta": 0.0}, "eta > 0"),
    ({"strategy": "diminish", "nu": 0.5}, "nu >= 1"),
    ({"strategy": "diminish-authors", "alpha": 1.5}, "0 < alpha < 1"),
    ({"strategy": "hydalearn", "hydalearn_mode": "sideways"}, "exact or first-order"),
    ({"strategy": "olaux", "olaux_every": 0}, "olaux_every"),
    ({"strategy": "switch", "t_switch": 9.0, "epochs": 5}, r"t_switch must be in \(0, epochs=5\]"),
    ({"strategy": "mtl", "gamma0": {"analogy": -1.0}}, "gamma0 for 'analogy'"),
])
def test_strategy_parameters_are_checked_when_the_configuration_is_read(options, message):
    """Before: patience = -1 passed TrainConfig and failed when the run was built."""
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**options)


def test_a_sweep_file_with_a_bad_strategy_parameter_is_refused_before_any_run(tmp_path):
    from mt2st.sweep import SweepSpec

    toml = tmp_path / "bad.toml"
    toml.write_text('[sweep]\nseeds = [0]\n[base]\ndataset = "synthetic"\ninit = "random"\n'
                    'strategy = "adaptive-switch"\n[grid]\npatience = [-1, 2]\n')
    with pytest.raises(ConfigError, match="patience"):
        SweepSpec.from_toml(toml).configs()


def test_every_flag_help_is_its_fields_own_comment():
    """The CLI's help comes from the comment on each TrainConfig field (one place): every
    field has one, and every train flag's help begins with it."""
    import dataclasses

    from mt2st.cli import build_parser
    from mt2st.config import field_help

    helps = field_help()
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    assert set(helps) == set(fields) and all(helps.values())
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.items()
                 if a[0] == "train")[1]
    by_dest = {a.dest: a.help for a in train._actions}
    for name in fields:
        if name in by_dest and name != "strategy":
            assert by_dest[name].startswith(helps[name]), name
    assert all(s in by_dest["strategy"] for s in STRATEGIES)


def _import_graph() -> dict[str, set[str]]:
    """mt2st module → the mt2st modules it imports anywhere in its file (inside functions
    too: an import moved into a function hides a cycle, it does not remove it)."""
    import ast

    root = ROOT / "mt2st"
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):  # a package's own parent
                    deps.add(t)
        graph[name] = deps
    return graph


def test_no_import_cycle_anywhere_in_mt2st():
    import graphlib

    graph = _import_graph()
    # a package's __init__ that re-exports its modules is not a cycle with them
    for name in graph:
        graph[name] = {d for d in graph[name] if not d.startswith(name + ".")}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_reading_a_configuration_or_a_sweep_file_loads_neither_torch_nor_pandas():
    code = ("import sys, mt2st.config, mt2st.spec; "
            "mt2st.spec.SweepSpec.from_toml('reproduce/regimes.toml').configs(); "
            "print(sorted(m for m in ('torch', 'pandas', 'numba', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_one_markdown_table_writer():
    """Reports, the tuning report, README's headline and the benchmarks' README tables all
    write Markdown tables through ``report.document.md_rows``: no other module spells out a
    table's rule line."""
    writer = ROOT / "mt2st" / "report" / "document.py"
    others = [p.relative_to(ROOT).as_posix()
              for p in sorted([*(ROOT / "mt2st").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])
              if p != writer and "|---|" in p.read_text(encoding="utf-8")]
    assert others == []


def test_a_configuration_is_hashable_as_its_docstring_says():
    """Equal configurations (dict fields included, in any key order) hash alike; the
    dataclass's own hash raised on the dict fields."""
    from mt2st.config import TrainConfig

    a = TrainConfig(gamma0={"similarity": 1.0, "analogy": 0.5}, dataset_options={"train_size": 5})
    b = TrainConfig(gamma0={"analogy": 0.5, "similarity": 1.0}, dataset_options={"train_size": 5})
    assert a == b and hash(a) == hash(b)
    assert len({a, b, TrainConfig()}) == 2
