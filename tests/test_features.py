"""ScatterNet features (kymatio) and the linear head trained on them, on real mnist-5k images."""
import numpy as np

from explorer import data, features, pipeline
from explorer.config import RunConfig


def test_scatternet_features_are_per_example_and_cached(tmp_path, monkeypatch):
    ds = data.load("mnist-5k")
    x = ds.x_train[:6]
    f = features.scatternet(x)
    assert f.shape == (6, 81 * 7 * 7) and f.dtype == np.float32 and np.isfinite(f).all()
    # per-example group normalisation: each example's 27 groups have mean 0 and variance ≤ 1 (below 1
    # only where a group's own variance is near the normaliser's ε, in the tiny high-order coefficients)
    groups = f.reshape(6, features.GROUPS, -1)
    assert np.allclose(groups.mean(2), 0, atol=1e-4) and (groups.var(2) <= 1 + 1e-3).all()
    assert np.median(groups.var(2)) > 0.9
    # no example's features depend on another's (a fixed transform costs no privacy)
    assert np.allclose(features.scatternet(x[2:3]), f[2:3], atol=1e-5)

    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    small = data.Dataset("mnist-5k", ds.x_train[:50], ds.y_train[:50], ds.x_test[:20], ds.y_test[:20],
                         ds.x_pop[:20], ds.y_pop[:20], 10, "image")
    first = features.apply("scatternet", small)
    assert first.kind == "features" and first.x_train.shape == (50, 3969)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 3
    again = features.apply("scatternet", small)  # read back from the cache
    assert np.array_equal(again.x_test, first.x_test)


def test_scatternet_head_trains_privately_on_mnist_5k():
    cfg = RunConfig(dataset="mnist-5k", model="scatternet", target_epsilon=2.0, epochs=8, batch_size=512,
                    learning_rate=2.0, clip_norm=0.1, momentum=0.9, canaries=50, reference_models=1)
    record = pipeline.run(cfg)
    assert record["dataset"]["kind"] == "features" and record["dataset"]["input_shape"] == [3969]
    assert record["utility"]["test_accuracy"] > 0.8, record["utility"]["test_accuracy"]
    assert record["privacy"]["epsilon_reported"] <= 2.0
    assert record["attacks"]["audit"]["epsilon_lower_bound"] <= record["privacy"]["epsilon_reported"]
    assert "vectors" not in record["attacks"]["inversion"]  # 3,969-long vectors stay out of the record
