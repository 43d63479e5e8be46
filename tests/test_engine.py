"""The DP-SGD engine is Opacus: clipping, noise, generators, adaptive clipping and accounting, read from
real Opacus steps and tiny real runs (no mocks)."""
import math

import pytest
import torch
from torch import nn

from explorer import accounting, data, pipeline
from explorer.config import RunConfig
from explorer.errors import ExplorerError
from explorer.models import build
from explorer.train import (AdaptiveClipDPOptimizer, generators, make_private, plan, resolve_device, train)

CASES = [("logreg", (30,), "hooks"), ("mlp", (1, 6, 5), "hooks"), ("mlp", (1, 6, 5), "ghost"),
         ("cnn", (1, 28, 28), "hooks"), ("cnn", (1, 28, 28), "ghost")]


def _private(model_name, shape, mode, x, y, sigma=1.0, clip=0.05, **changes):
    """A real model and Opacus' objects as train() builds them (fixed generators, for the test)."""
    cfg = RunConfig(dataset="mnist-5k", model=model_name, mode="noise", noise_multiplier=sigma, clip_norm=clip,
                    batch_size=max(1, len(y) // 4), grad_sample_mode=mode, **changes)
    model = build(model_name, shape, 10, 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    private = make_private(cfg, model, opt, x, y, sigma, torch.Generator().manual_seed(1),
                           torch.Generator().manual_seed(2), steps_per_epoch=4)
    return cfg, model, private


def _step(private, xb, yb):
    private.optimizer.zero_grad()
    private.criterion(private.module(xb), yb).backward()
    private.optimizer.step()


def _per_example_gradients(model_name, shape, state, x, y):
    """Each example's own loss gradient by plain autograd, one example at a time: the reference."""
    ref = build(model_name, shape, 10, 0)
    ref.load_state_dict(state)
    rows = []
    for i in range(len(y)):
        ref.zero_grad()
        nn.functional.cross_entropy(ref(x[i:i + 1]), y[i:i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in ref.parameters()]))
    return torch.stack(rows)


@pytest.mark.parametrize("model_name,shape,mode", CASES)
def test_every_clipped_per_sample_gradient_has_norm_at_most_C(model_name, shape, mode):
    """Read after a real Opacus step: the per-sample gradients (or, in ghost mode, their norms) Opacus
    formed equal each example's own gradient, the clipped ones have norm ≤ C, and the summed gradient
    the noise is added to is their sum."""
    torch.manual_seed(0)
    x, y = torch.randn(16, *shape), torch.randint(0, 10, (16,))
    clip = 0.05  # small, so that most examples are really clipped
    _, model, private = _private(model_name, shape, mode, x, y, clip=clip)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    reference = _per_example_gradients(model_name, shape, state, x, y)
    norms = reference.norm(dim=1)
    _step(private, x, y)
    params = private.optimizer.params
    if mode == "hooks":
        per_sample = torch.cat([p.grad_sample.reshape(16, -1) for p in params], dim=1)
        torch.testing.assert_close(per_sample, reference, rtol=1e-4, atol=1e-6)
    else:  # ghost clipping never forms per-sample gradients; it keeps their norms
        torch.testing.assert_close(private.module.per_sample_gradient_norms, norms, rtol=1e-4, atol=1e-6)
    factors = torch.clamp(clip / (norms + 1e-6), max=1.0)  # Opacus' clip factor
    clipped = reference * factors[:, None]
    assert (clipped.norm(dim=1) <= clip * (1 + 1e-5)).all()
    assert (norms > clip).sum() >= 8  # the bound was really exercised
    summed = torch.cat([p.summed_grad.reshape(-1) for p in params])
    torch.testing.assert_close(summed, clipped.sum(0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode,clipping", [("hooks", "flat"), ("ghost", "flat"), ("hooks", "adaptive")])
def test_noise_std_is_sigma_C_over_the_expected_batch_and_an_empty_step_adds_it(mode, clipping):
    """One real step of the MLP (50,890 parameters): the gradient Opacus hands the optimizer minus the
    data's part (the clipped sum) over the expected batch size is the noise; its per-coordinate std is
    σ·C/expected batch within 5 % (adaptive clipping: σ_eff·C, with σ_eff from Andrew et al.'s
    Theorem 1). A step whose Poisson batch is empty adds the same noise."""
    ds = data.load("mnist-5k")
    x, y = torch.from_numpy(ds.x_train[:400]), torch.from_numpy(ds.y_train[:400])
    sigma, clip = 1.3, 0.7
    cfg, _, private = _private("mlp", (1, 28, 28), mode, x, y, sigma=sigma, clip=clip, clipping=clipping)
    expected = 100  # 400 rows, 4 steps per epoch
    assert private.optimizer.expected_batch_size == expected
    sigma_eff = sigma
    if clipping == "adaptive":
        count_std = expected / 20
        sigma_eff = (sigma ** -2 - (2 * count_std) ** -2) ** -0.5
        assert private.engine["adaptive"]["gradient_noise_multiplier"] == pytest.approx(sigma_eff)
        assert private.optimizer.noise_multiplier == sigma  # what the accountant is told
    for rows in (slice(0, 100), slice(0, 0)):
        _step(private, x[rows], y[rows])
        params = private.optimizer.params
        grad = torch.cat([p.grad.reshape(-1) for p in params])
        data_part = torch.cat([p.summed_grad.reshape(-1) for p in params]) / expected
        noise = grad - data_part
        if rows.stop == 0:
            assert data_part.abs().max() == 0
        assert noise.std().item() == pytest.approx(sigma_eff * clip / expected, rel=0.05)
        assert abs(noise.mean().item()) < 0.05 * sigma_eff * clip / expected
        clip = private.optimizer.max_grad_norm  # adaptive clipping moves it after each step


def _run(**kwargs):
    base = dict(dataset="breast-cancer", target_epsilon=2.0, epochs=2, attacks=False)
    return pipeline.run(RunConfig(**{**base, **kwargs}))


def _comparable(record):
    return {k: v for k, v in record.items() if k not in ("timing", "created")}


def test_noise_is_secret_by_default_and_reproducible_runs_repeat():
    """Without `reproducible` the noise and sampling generators come from OS entropy: two runs of one
    config differ, even from the same global torch seed. With it, records are identical (timing aside)."""
    ds = data.load("breast-cancer")
    cfg = RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=2)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(train(cfg, ds.x_train, ds.y_train, 2, verify_sigma=False))
    assert runs[0].engine["noise_rng"] == "os-entropy" and runs[0].history != runs[1].history
    c, d = _run(reproducible=True), _run(reproducible=True)
    assert c["key"] != cfg.key and c["config"]["reproducible"] is True
    assert c["privacy"]["engine"]["noise_rng"] == "seeded" and "not private" in c["privacy"]["engine"]["seeded_note"]
    assert _comparable(c) == _comparable(d)
    other = train(RunConfig(**{**c["config"], "seed": 1}), ds.x_train, ds.y_train, 2, verify_sigma=False)
    assert other.history != c["utility"]["history"]


def test_generators_are_not_the_config_seed():
    cfg = RunConfig(dataset="breast-cancer")
    dev = resolve_device("cpu")
    draws = [generators(cfg, dev) for _ in range(2)]
    noise = [torch.randn(8, generator=n) for n, _, _ in draws]
    assert not torch.equal(noise[0], noise[1]) and draws[0][2] == "os-entropy"
    seeded = generators(cfg.replace(reproducible=True), dev)
    again = generators(cfg.replace(reproducible=True), dev)
    first = torch.randn(8, generator=seeded[0])
    assert torch.equal(first, torch.randn(8, generator=again[0])) and seeded[2] == "seeded"
    # distinct from each other and from torch's global stream after models.build's manual_seed(seed)
    assert not torch.equal(first, torch.randn(8, generator=torch.Generator().manual_seed(cfg.seed)))
    assert not torch.equal(torch.rand(8, generator=seeded[1]), torch.rand(8, generator=again[0]))


def test_record_says_how_it_was_trained_and_opacus_accountant_agrees():
    for name in ("prv", "rdp"):
        record = _run(accountant=name)
        p, c = record["privacy"], record["config"]
        engine = p["engine"]
        assert engine["library"] == "opacus" and engine["version"] == record["environment"]["opacus"]
        assert engine["grad_sample_mode"] == c["grad_sample_mode"] == "hooks" and engine["clipping"] == "flat"
        assert engine["secure_rng"] is False and "Mironov" in engine["note"]
        assert any("Secure RNG turned off" in w for w in engine["opacus_warnings"])  # captured, not hidden
        assert record["environment"]["device"] == "cpu" and c["reproducible"] is False
        followed = p["opacus_accountant"]
        n = record["dataset"]["n_train"] + record["utility"]["canaries_in_training"]
        assert followed["name"] == name and followed["steps"] == p["steps"] == plan(RunConfig(**c), n)[1]
        assert followed["history"] == [[p["noise_multiplier"], p["sample_rate"], p["steps"]]]
        assert followed["epsilon"] == p["epsilon"][name] == accounting.epsilon(
            p["noise_multiplier"], p["sample_rate"], p["steps"], p["delta"], name)
        assert p["epsilon"][name] <= 2.0


@pytest.mark.parametrize("accountant", ["prv", "rdp", "pld"])
def test_adaptive_run_stays_within_the_budget_and_moves_its_clip_norm(accountant):
    record = _run(clipping="adaptive", accountant=accountant, epochs=3, target_epsilon=3.0)
    c, p = record["config"], record["privacy"]
    assert c["clipping"] == "adaptive" and c["target_quantile"] == 0.5 and p["engine"]["clipping"] == "adaptive"
    assert p["epsilon"][accountant] <= 3.0
    clips = [e["clip_norm"] for e in record["utility"]["history"]]
    assert len(set(clips)) == 3 and max(abs(v / c["clip_norm"] - 1) for v in clips) > 0.1
    assert p["engine"]["adaptive"]["initial_clip_norm"] == c["clip_norm"]


def test_adaptive_clipping_counts_as_the_theorem_prices_it():
    """The clip update uses the noisy centred count over the expected batch size (Andrew et al. 2021;
    TF Privacy): with 3 examples all unclipped and an expected batch of 10, the unclipped fraction is
    (3 − 3/2)/10 + 1/2 = 0.65, not Opacus' 3/3. Parts of one logical batch add up."""
    from opacus import GradSampleModule

    model = GradSampleModule(nn.Sequential(nn.Linear(4, 2)))
    opt = AdaptiveClipDPOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), noise_multiplier=1e-9,
                                  target_unclipped_quantile=0.5, clipbound_learning_rate=0.2, max_clipbound=1e3,
                                  min_clipbound=1e-4, unclipped_num_std=1e-9, max_grad_norm=100.0,
                                  expected_batch_size=10, generator=torch.Generator().manual_seed(0))
    x, y = torch.randn(3, 4), torch.tensor([0, 1, 0])
    for part, skip in ((slice(0, 1), True), (slice(1, 3), False)):  # BatchMemoryManager's protocol
        opt.signal_skip_step(do_skip=skip)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[part]), y[part]).backward()
        opt.step()
    assert opt.max_grad_norm == pytest.approx(100.0 * math.exp(-0.2 * (0.65 - 0.5)), rel=1e-6)


def test_bad_engine_input_is_one_clear_message():
    with pytest.raises(ExplorerError, match="grad_sample_mode must be one of"):
        RunConfig(grad_sample_mode="fast")
    with pytest.raises(ExplorerError, match="ExpandedWeights"):
        RunConfig(grad_sample_mode="ew")
    with pytest.raises(ExplorerError, match="ghost clipping supports flat clipping only"):
        RunConfig(clipping="adaptive", grad_sample_mode="ghost")
    with pytest.raises(ExplorerError, match="functorch"):
        RunConfig(model="cnn", grad_sample_mode="functorch")
    with pytest.raises(ExplorerError, match="clipping must be one of"):
        RunConfig(clipping="median")
    with pytest.raises(ExplorerError, match="target_quantile"):
        RunConfig(clipping="adaptive", target_quantile=1.5)
    ds = data.load("breast-cancer")
    cfg = RunConfig(dataset="breast-cancer", mode="noise", noise_multiplier=5.0, clipping="adaptive", epochs=1)
    with pytest.raises(ExplorerError, match="adaptive clipping needs σ < 2"):
        train(cfg, ds.x_train, ds.y_train, 2)


def test_config_keys_and_defaults_of_the_new_fields():
    flat = RunConfig(dataset="mnist-5k")
    assert flat.clipping == "flat" and flat.target_quantile is None and flat.reproducible is False
    assert flat.grad_sample_mode == "hooks" and RunConfig(dataset="mnist-5k", model="mlp").grad_sample_mode == "ghost"
    assert RunConfig(dataset="mnist-5k", model="mlp", clipping="adaptive").grad_sample_mode == "hooks"
    assert RunConfig(target_quantile=0.9).key == flat.key  # cleared when the clipping is flat
    assert RunConfig(grad_sample_mode="hooks").key == flat.key  # the default, spelled out
    assert RunConfig(clipping="adaptive").target_quantile == 0.5
    base = RunConfig(mode="non_private")
    assert base.grad_sample_mode is None and base.reproducible is True
    assert RunConfig(mode="non_private", clipping="adaptive", reproducible=False).key == base.key
    assert RunConfig.from_dict(RunConfig(clipping="adaptive", reproducible=True).to_dict()).clipping == "adaptive"
    with pytest.raises(ExplorerError, match="reproducible"):
        RunConfig(reproducible="yes")


def test_warm_up_computes_the_privacy_block_ahead_without_changing_it():
    """pipeline.run has evidence.warm_up compute the record's accounting on an idle core; accounting
    memoises it. The privacy block's figures are the ones computed cold, and a caller changing what it
    got back changes nothing for the next."""
    from explorer.evidence import warm_up

    cfg = RunConfig(dataset="breast-cancer", target_epsilon=2.0, attacks=False)
    n = data.load("breast-cancer").n_train
    q, steps = plan(cfg, n)

    def block():
        sigma = accounting.noise_for_epsilon(2.0, cfg.delta, q, steps, cfg.accountant, verify=True)
        return (sigma, [accounting.epsilon(sigma, q, steps, cfg.delta, name) for name in ("rdp", "pld")],
                accounting.epsilon_by_epoch(sigma, q, steps // cfg.epochs, cfg.epochs, cfg.delta))

    def forget():
        for memo in (accounting._library_epsilon, accounting._twin_epsilon, accounting._curve):
            memo.cache_clear()

    forget()
    cold = block()
    forget()
    warm_up(cfg, n)
    assert accounting._curve.cache_info().currsize == 1 and accounting._library_epsilon.cache_info().currsize >= 2
    warm = block()
    assert warm == cold
    assert warm[2][-1]["prv"] == accounting.epsilon_so_far(warm[0], q, steps, cfg.delta, "prv")  # the history's ε
    warm[2][0]["rdp"] = -1.0
    assert block() == cold
