"""Trainer (asv): peak memory of a training epoch, and time-to-accuracy per strategy with the
validation accuracy reached, so quality regressions are tracked like speed regressions."""

from __future__ import annotations

from .common import FAST, Benchmark, OneShot, data_available


def _config(strategy: str, epochs: int):
    from mt2st.config import TrainConfig

    if data_available():
        return TrainConfig(dataset="sst2", model="bow", init="random", strategy=strategy,
                           setting="S0" if strategy == "stl" else "S3", epochs=epochs,
                           batch_size=256, lr=0.003, target=0.78, t_switch=1, eta=1.0, seed=0)
    return TrainConfig(dataset="synthetic", model="bow", init="random", strategy=strategy,
                       setting="S0" if strategy == "stl" else "S3", epochs=epochs, lr=0.02,
                       target=0.75, t_switch=1, eta=1.0, seed=0)


class TrainerMemory(Benchmark):

    def peakmem_trainer_epoch(self):
        from mt2st.trainer import train

        train(_config("mtl", 1), progress=False)


class TimeToAccuracy(OneShot):
    """A fixed small SST-2 configuration (bag-of-embeddings, random init, S3)."""

    params = ["stl", "mtl", "diminish", "switch"]
    param_names = ["strategy"]
    timeout = 900

    def setup_cache(self):
        from mt2st.trainer import train

        out = {}
        for strategy in self.params:
            record = train(_config(strategy, 2 if FAST else 4), progress=False)
            out[strategy] = (record.meta["time_to_target_s"], float(record.rows["val_acc"].iloc[-1]))
        return out

    def track_seconds_to_target(self, results, strategy):
        seconds = results[strategy][0]
        return seconds if seconds != float("inf") else float("nan")

    track_seconds_to_target.unit = "seconds"

    def track_final_val_acc(self, results, strategy):
        return results[strategy][1]

    track_final_val_acc.unit = "accuracy"
