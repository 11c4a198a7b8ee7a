"""The table's Adam state at the switch, on the case that showed the problem: synthetic data,
100 labels, random init, S1, Adam lr 0.01, 30 epochs, Switch at epoch 10. Best validation
accuracy (mean over seeds) of STL, MTL, Switch with one optimiser state, Switch with a fresh
one at the switch (``table_optimizer_state = "reset_at_switch"``).

    python bench/optimizer_reset.py [--seeds 5]

Prints one JSON object. Accuracy, not time: the machine's load does not change it.
"""

from __future__ import annotations

import argparse
import json

from mt2st.config import TrainConfig
from mt2st.trainer import train

BASE = dict(dataset="synthetic", dataset_options={"n_train": 100}, init="random", setting="S1",
            optimizer="adam", lr=0.01, epochs=30, eval_every_epochs=1.0, batch_size=64)
CELLS = {"stl": dict(strategy="stl"), "mtl": dict(strategy="mtl"),
         "switch, one state": dict(strategy="switch", t_switch=10.0),
         "switch, reset at the switch": dict(strategy="switch", t_switch=10.0,
                                             table_optimizer_state="reset_at_switch")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    out = {}
    for name, kw in CELLS.items():
        best = [float(train(TrainConfig(seed=s, **BASE, **kw), progress=False).rows["val_acc"].max())
                for s in range(args.seeds)]
        out[name] = {"mean_best_val_acc": sum(best) / len(best), "per_seed": best}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
