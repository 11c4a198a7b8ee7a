"""``mt2st data list`` and ``mt2st data info``."""

import json

from mt2st.cli import main


def test_data_list(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"local copy at {data_dir / 'sst2'}" in out
    assert "imdb" in out and "download from https://ai.stanford.edu/" in out


def test_data_list_on_a_fresh_offline_machine_names_every_source(tmp_path, monkeypatch, capsys):
    """No data folder, an empty HOME and cache, offline: every dataset still names where it
    would come from (SST-2: GLUE's archive and the treebank's trees)."""
    monkeypatch.delenv("MT2ST_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("MT2ST_OFFLINE", "1")
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert ("download from https://dl.fbaipublicfiles.com/glue/data/SST-2.zip and "
            "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip") in out
    assert "local copy" not in out and out.count("download from") == 6  # all but synthetic


def test_data_info_sst2(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "data", "info", "sst2", "--min-count", "5",
                 "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"]["rows"] == 67349
    assert info["splits"]["validation"]["label_counts"] == {"negative": 428, "positive": 444}
    assert info["vocab_size"] > 10000 and info["train_tokens"] > 600000
    assert 0 < info["oov"]["WS-353-ALL"] < 1


def test_data_info_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "data", "info", "mr"]) == 2
    err = capsys.readouterr().err
    assert "mt2st: error: dataset 'mr' not found" in err and "Traceback" not in err


def test_embed_command_writes_vectors(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["the cat sat on the mat", "the dog sat on the log"] * 50))
    out = tmp_path / "vec.txt"
    assert main(["embed", "--corpus", f"file:{corpus}", "--dim", "8", "--epochs", "1",
                 "--min-count", "1", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "raw words/s" in text and "effective words/s" in text
    assert out.read_text().splitlines()[0] == "7 8"  # 7 distinct words x 8 dims


def test_embed_command_torch_backend_and_kernel_errors(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["the cat sat on the mat", "the dog sat on the log"] * 50))
    assert main(["embed", "--corpus", f"file:{corpus}", "--dim", "8", "--epochs", "1",
                 "--min-count", "1", "--backend", "torch", "--quiet"]) == 0
    assert "effective words/s" in capsys.readouterr().out
    assert main(["embed", "--corpus", f"file:{corpus}", "--min-count", "1", "--backend",
                 "torch", "--method", "cbow", "--kernel", "triton", "--quiet"]) == 2
    assert "skip-gram only" in capsys.readouterr().err


def test_embed_bad_argument_is_clear(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n")
    assert main(["embed", "--corpus", f"file:{corpus}", "--dim", "0", "--quiet"]) == 2
    assert "dim must be >= 1" in capsys.readouterr().err
