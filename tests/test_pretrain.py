"""Public pre-training (explorer/pretrain.py): it changes only the initial weights — steps, σ, q and ε are
those of the same run from scratch —, it never reads the private data, the record says what was used,
and a public table is matched to the private one column by column."""
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import data, pipeline, pretrain, report
from explorer.__main__ import build_parser, config_from_args, main
from explorer.config import RunConfig
from explorer.errors import ExplorerError
from explorer.models import build
from explorer.train import accuracy, train

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tables"))
from synthetic import synthetic_frame  # noqa: E402

TINY = dict(model="logreg", mode="noise", noise_multiplier=1.0, epochs=1, batch_size=128, attacks=False,
            reproducible=True)


def test_digits_look_like_mnist():
    x, y = pretrain.digits()
    assert x.shape == (1797, 1, 28, 28) and x.dtype == np.float32 and set(y) == set(range(10))
    background = (0 - data.MNIST_MEAN) / data.MNIST_STD
    assert np.allclose(x[:, :, :4], background) and np.allclose(x[:, :, :, -4:], background)  # a 20×20 digit, centred
    assert x.max() <= (1 - data.MNIST_MEAN) / data.MNIST_STD + 1e-5


def test_pretraining_changes_only_the_initial_weights():
    ds = data.load("mnist-5k")
    scratch, pre = RunConfig(**TINY), RunConfig(pretrain="digits", **TINY)
    state, info = pretrain.initial_state(pre, ds)
    fresh = build("logreg", ds.input_shape, 10, pre.seed).state_dict()
    assert any(not torch.equal(state[k], fresh[k]) for k in fresh)
    # it never reads the private data: another private training set gives the same weights
    shuffled = data.Dataset(ds.name, ds.x_train[::-1].copy(), ds.y_train[::-1].copy(), ds.x_test, ds.y_test,
                            ds.x_pop, ds.y_pop, 10, "image")
    again, _ = pretrain.initial_state(pre, shuffled)
    assert all(torch.equal(state[k], again[k]) for k in state)
    start = build("logreg", ds.input_shape, 10, pre.seed)
    start.load_state_dict(state)
    assert accuracy(start, ds.x_test, ds.y_test) > 0.3  # digits transfer to MNIST before any private step
    a = train(scratch, ds.x_train, ds.y_train, 10)
    b = train(pre, ds.x_train, ds.y_train, 10, init_state=state)
    assert (a.steps, a.sample_rate, a.noise_multiplier) == (b.steps, b.sample_rate, b.noise_multiplier)
    assert a.accountant.history == b.accountant.history
    pa = pipeline.privacy_block(scratch, a.noise_multiplier, a.sample_rate, a.steps, a.steps, len(ds.y_train))
    pb = pipeline.privacy_block(pre, b.noise_multiplier, b.sample_rate, b.steps, b.steps, len(ds.y_train))
    assert pa["epsilon"] == pb["epsilon"]
    assert "not covered by ε" in info["note"] and info["rows"] == 1797


def test_the_record_says_what_it_was_pretrained_on():
    config = RunConfig(pretrain="digits", **TINY)
    record = pipeline.run(config)
    pre = record["privacy"]["pretrain"]
    assert pre["source"] == "digits" and "the user asserts it is public" in pre["note"]
    facts = report.run_facts(record)
    assert facts["subject"]["technique"] == "DP-SGD + public pre-training"
    assert any(i["id"] == "public_pretraining" for i in facts["not_covered"])
    argv = report.reproduce_command(record).split()[3:]
    assert "--pretrain" in argv and config_from_args(build_parser().parse_args(argv)).key == record["key"]


def test_a_public_table_with_the_same_columns_pretrains_a_table_run(tmp_path):
    from explorer import tables

    frame = synthetic_frame(rows=1500, columns=8, seed=3)
    private = tables.prepare(tables.read_table(frame.iloc[:600]), tables.TableSpec("label"))
    public = frame.iloc[600:].drop(columns=["c1"]).to_csv(index=False).encode()  # one column fewer
    fp = pretrain.fingerprint(public)
    x, y, info = pretrain.public_table(io.BytesIO(public), private.dataset, "label")
    assert info["source"] == f"public-csv:{fp}" and len(y) == 900
    assert 0 < info["features_matched"] < info["features"]  # c1's levels stay 0
    config = RunConfig(dataset="csv", csv_sha256=private.fingerprint, pretrain=f"public-csv:{fp}", model="logreg",
                       target_epsilon=1.0, epochs=2, batch_size=32, attacks=False, reproducible=True)
    record = pipeline.run(config, csv=private, target="label", public_csv=public)
    assert record["privacy"]["pretrain"]["rows"] == 900 and record["utility"]["test_accuracy"] > 0.6
    with pytest.raises(ExplorerError, match="pass the same file"):
        pipeline.run(config, csv=private, target="label", public_csv=public + b"1,2,3,4,5,amber,yes\n")


@pytest.mark.parametrize("argv,says", [
    (["--pretrain", "imagenet"], "unknown pretrain source 'imagenet'"),
    (["--pretrain", "public-csv"], "--public-csv FILE"),
    (["--dataset", "breast-cancer", "--pretrain", "digits"], "digits is for the image datasets"),
])
def test_cli_bad_pretrain_input_exits_2_with_one_line(capsys, argv, says):
    assert main(["run", "--quiet", "--no-attacks", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
