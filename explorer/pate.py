"""PATE: Private Aggregation of Teacher Ensembles (Papernot et al., ICLR 2017; ICLR 2018 for GNMax).

1. Teachers. Each private training record is given to one of T teachers, drawn uniformly and
   independently per record (seeded by the run's seed), and each teacher is trained without privacy
   on its own part. Adding or removing one record changes one teacher's data, hence at most one
   teacher's vote: the vote histogram moves by at most √2 in L2 norm (a vote leaves one class and joins
   another). A teacher left with fewer than 2 rows abstains (then one record changes a histogram by 1).
2. GNMax. For each of Q public, unlabeled records the aggregator releases
   argmax_j (n_j(x) + N(0, σ²)), n_j(x) the teachers voting class j. One answer is a Gaussian
   mechanism of sensitivity √2 (RDP α/σ² at order α), i.e. dp-accounting's GaussianDpEvent(σ/√2) —
   argmax is post-processing — and Q answers compose: SelfComposedDpEvent(GaussianDpEvent(σ/√2), Q).
   This is the data-independent bound of Papernot et al. 2018 (its data-dependent analysis, tighter
   when teachers agree, is not used). ε by each accountant: rdp and pld from dp-accounting, prv from
   Opacus' PRV accountant with sample rate 1 — the same composition.
3. Student. The released model: trained without privacy on the Q public records and their GNMax
   labels (post-processing, no further cost). The teachers saw the private data without noise and are
   never released; the student's ε covers the answered queries.

Public data: for the shipped datasets, Q records of the population split, which the run ASSUMES public
and uses unlabeled (their true labels only measure how often GNMax labelled correctly). Those records
are taken out of the population the attacks see, so no non-member, z record or reference record of
the membership attacks was ever queried.

The GNMax noise comes from numpy's PCG64 generator seeded from OS entropy (kept nowhere), or from the
config seed for `reproducible` runs; not a cryptographically secure RNG.
"""
from __future__ import annotations

import dataclasses
import math
import secrets
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import __version__, accounting
from .config import RunConfig
from .errors import ExplorerError, RunCancelled, is_cancelled

SENSITIVITY = math.sqrt(2.0)  # L2 change of the vote histogram when one record changes one teacher's vote
MIN_ROWS_PER_TEACHER = 5  # on average; fewer and each teacher learns next to nothing
PUBLIC_SEED = (12345, 19)  # which population records are the public queries: the same for every run
NOISE_NOTE = ("GNMax noise from numpy's PCG64 generator, not a cryptographically secure RNG; floating-point "
              "attacks on the Gaussian noise (Mironov 2012) are not mitigated.")
PUBLIC_NOTE = ("the student's training records are taken from the population split, which this run assumes "
               "public and uses unlabeled (their labels only measure GNMax's label accuracy); they are removed "
               "from the population the membership attacks use")
TEACHER_NOTE = ("the teachers are trained without privacy on the private data and are never released; only the "
                "student is, and ε covers it")


# ---------------------------------------------------------------- privacy analysis
def event(sigma: float, queries: int):
    """dp-accounting's event for Q GNMax answers with noise σ on the vote counts (sensitivity √2)."""
    import dp_accounting

    return dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma / SENSITIVITY), int(queries))


def _rdp(sigma, queries, delta):
    from dp_accounting.rdp import rdp_privacy_accountant

    acc = rdp_privacy_accountant.RdpAccountant()
    acc.compose(event(sigma, queries))
    return float(acc.get_epsilon(delta))


def _pld(sigma, queries, delta):
    from dp_accounting.pld import pld_privacy_accountant

    acc = pld_privacy_accountant.PLDAccountant()
    acc.compose(event(sigma, queries))
    return float(acc.get_epsilon(delta))


def _prv(sigma, queries, delta):
    from . import accounting

    with warnings.catch_warnings():  # a Gaussian step at sample rate 1 is the plain Gaussian mechanism
        warnings.simplefilter("ignore")
        return accounting.ACCOUNTANTS["prv"](sigma / SENSITIVITY, 1.0, int(queries), delta)


ACCOUNTANTS = {"rdp": _rdp, "prv": _prv, "pld": _pld}


def _check(sigma, queries, delta, accountant="prv"):
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ExplorerError(f"the GNMax noise σ must be a positive number; got {sigma}")
    if int(queries) != queries or queries < 1:
        raise ExplorerError(f"queries must be a positive integer; got {queries}")
    if not 0 < delta < 1:
        raise ExplorerError(f"delta must be in (0, 1); got {delta}")
    if accountant not in ACCOUNTANTS:
        raise ExplorerError(f"accountant must be one of {', '.join(ACCOUNTANTS)}; got {accountant!r}")


def epsilon(sigma: float, queries: int, delta: float, accountant: str = "prv") -> float:
    """ε of Q GNMax answers at noise σ (data-independent), by the named library accountant."""
    _check(sigma, queries, delta, accountant)
    return ACCOUNTANTS[accountant](float(sigma), int(queries), float(delta))


def epsilons(sigma: float, queries: int, delta: float) -> dict[str, float]:
    return {name: epsilon(sigma, queries, delta, name) for name in ACCOUNTANTS}


def gdp_mu(sigma: float, queries: int) -> float:
    """Q Gaussian answers of sensitivity √2 and noise σ are exactly μ-GDP with μ = √(2Q)/σ (Dong et al.)."""
    return math.sqrt(2.0 * queries) / sigma


def gaussian_epsilon(mu: float, delta: float) -> float:
    """The exact ε(δ) of a μ-GDP (Gaussian) mechanism (Balle & Wang 2018): a fast twin for searching σ
    and drawing curves; the record's ε comes from the library accountants."""
    from scipy.special import log_ndtr, ndtr

    def delta_of(eps):
        return ndtr(-eps / mu + mu / 2) - math.exp(eps + log_ndtr(-eps / mu - mu / 2))

    if delta_of(0.0) <= delta:
        return 0.0
    lo, hi = 0.0, 1.0
    while delta_of(hi) > delta:
        if hi > 1e6:
            return math.inf
        lo, hi = hi, 2 * hi
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if delta_of(mid) > delta else (lo, mid)
    return hi


def _fast(sigma, queries, delta, accountant):
    if accountant == "rdp":  # the library's RDP is a millisecond
        return _rdp(sigma, queries, delta)
    return gaussian_epsilon(gdp_mu(sigma, queries), delta)


def noise_for_epsilon(target_epsilon: float, queries: int, delta: float, accountant: str = "prv",
                      verify: bool = True) -> float:
    """The GNMax σ whose ε over Q answers (by `accountant`) is at most `target_epsilon`: bisection in
    log σ on the exact Gaussian ε (PLD and PRV; the library's own RDP for rdp), then, with `verify`,
    σ raised by 0.2 % steps until the library accountant agrees (PRV pads its estimate by ~1 %)."""
    _check(1.0, queries, delta, accountant)
    if not (math.isfinite(target_epsilon) and target_epsilon > 0):
        raise ExplorerError(f"target ε must be a positive finite number; got {target_epsilon}")
    aim = target_epsilon * (0.99 if accountant == "prv" else 0.999)
    lo, hi = math.log(1e-3), math.log(1e7)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _fast(math.exp(mid), queries, delta, accountant) > aim else (lo, mid)
    sigma = math.exp(hi)
    if verify:
        while epsilon(sigma, queries, delta, accountant) > target_epsilon:
            sigma *= 1.002
    return sigma


def epsilon_by_query(sigma: float, queries: int, delta: float, points: int = 12) -> list[dict]:
    """ε after q answered queries, for drawing: rdp from the library, prv and pld from the exact Gaussian
    ε (PLD is exact for a Gaussian; PRV differs by its ~1 % error padding)."""
    steps = sorted({max(1, round(queries * (i + 1) / points)) for i in range(points)})
    out = []
    for q in steps:
        exact = gaussian_epsilon(gdp_mu(sigma, q), delta)
        out.append({"queries": q, "rdp": _rdp(sigma, q, delta), "prv": exact, "pld": exact})
    return out


# ---------------------------------------------------------------- data
def public_split(config: RunConfig, ds):
    """(x_public, y_public, attack view of ds): the Q population records the student is trained on
    (their labels are kept only to measure GNMax's label accuracy) and `ds` without them, for the
    canaries and the membership attacks."""
    n_pop = len(ds.y_pop)
    if config.queries > n_pop // 2:
        raise ExplorerError(f"PATE asks {config.queries} queries, but {ds.name} has {n_pop} population records and "
                            f"half of them ({n_pop // 2}) at most may serve as public data (the rest stay for the "
                            f"membership attacks): use --queries {n_pop // 2} or fewer")
    # in the permutation's order: the public records of Q queries are the first Q of any larger Q's
    perm = np.random.default_rng(list(PUBLIC_SEED)).permutation(n_pop)
    public, rest = perm[:config.queries], np.sort(perm[config.queries:])
    view = dataclasses.replace(ds, x_pop=ds.x_pop[rest], y_pop=ds.y_pop[rest])
    return ds.x_pop[public], ds.y_pop[public], view


def check_teachers(n: int, teachers: int, rows: str = "private training rows") -> None:
    """One ExplorerError unless the rows leave each teacher MIN_ROWS_PER_TEACHER rows on average."""
    if n < MIN_ROWS_PER_TEACHER * teachers:
        raise ExplorerError(f"{teachers} teachers for {n} {rows} leaves fewer than {MIN_ROWS_PER_TEACHER} rows per "
                            f"teacher: use --teachers {max(2, n // MIN_ROWS_PER_TEACHER)} or fewer")


def assign(n: int, teachers: int, seed: int) -> np.ndarray:
    """Each record's teacher, drawn uniformly and independently per record (module docstring, 1)."""
    check_teachers(n, teachers)
    return np.random.default_rng([seed, 23]).integers(0, teachers, size=n)


# ---------------------------------------------------------------- training
@dataclass
class PateResult:
    model: object  # the student, a CPU torch module: the released model
    history: list[dict]  # the student's training, per epoch
    noise_multiplier: float  # σ of the GNMax noise on the vote counts
    queries: int
    teachers: int
    test_accuracy: float | None
    seconds: float
    info: dict = field(default_factory=dict)  # diagnostics: label accuracy, teachers' sizes and accuracy
    device: str = "cpu"


def _recipe(config: RunConfig, n: int, seed: int) -> RunConfig:
    """A teacher's or the student's non-private recipe: the config's, batch capped at half its rows."""
    return RunConfig(dataset=config.dataset, mode="non_private", model=config.model, epochs=config.epochs,
                     batch_size=min(config.batch_size, max(1, n // 2)), learning_rate=config.learning_rate,
                     momentum=config.momentum, seed=seed, attacks=False, csv_sha256=config.csv_sha256)


def _seed(config: RunConfig, *path: int) -> int:
    return int(np.random.SeedSequence([config.seed, *path]).generate_state(1)[0] % (2**31 - 1))


def noise_generator(config: RunConfig) -> tuple[np.random.Generator, str]:
    if config.reproducible:
        return np.random.default_rng([config.seed, 29]), "seeded"
    return np.random.default_rng(secrets.randbits(128)), "os-entropy"


def votes(models: list, x: np.ndarray, num_classes: int) -> np.ndarray:
    """(Q, classes) histogram of the teachers' votes on x; an abstaining teacher (None) casts none."""
    from .train import predict_logits

    counts = np.zeros((len(x), num_classes), np.int64)
    for m in models:
        if m is not None:
            np.add.at(counts, (np.arange(len(x)), predict_logits(m, x).argmax(axis=1)), 1)
    return counts


def gnmax(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noisy argmax: argmax_j (n_j + N(0, σ²)) for each row of the vote histogram."""
    return (counts + rng.normal(0.0, sigma, size=counts.shape)).argmax(axis=1).astype(np.int64)


def fit(config: RunConfig, x_train, y_train, x_public, num_classes: int, x_test=None, y_test=None, progress=None,
        cancel=None, device: str = "cpu", sigma: float | None = None, noise=None) -> PateResult:
    """Teachers on (x_train, y_train), GNMax labels for x_public, the student on them. σ: calibrated
    for config.target_epsilon over the Q = len(x_public) queries unless given; `noise`: the GNMax
    generator (default: noise_generator(config))."""
    from .train import accuracy, train

    start = time.perf_counter()
    n, T, Q = len(y_train), config.teachers, len(x_public)
    if Q != config.queries:
        raise ExplorerError(f"PATE was given {Q} public records for {config.queries} queries")
    if sigma is None:
        sigma = noise_for_epsilon(config.target_epsilon, Q, config.delta, config.accountant)
    owner = assign(n, T, config.seed)
    units = T + config.epochs
    teachers, sizes = [], []
    for t in range(T):
        if is_cancelled(cancel):
            raise RunCancelled()
        rows = np.flatnonzero(owner == t)
        sizes.append(len(rows))
        if len(rows) < 2:
            teachers.append(None)  # abstains
        else:
            teachers.append(train(_recipe(config, len(rows), _seed(config, 37, t)), x_train[rows], y_train[rows],
                                  num_classes, cancel=cancel, device=device).model)
        if progress:
            progress({"stage": "train", "part": f"teacher {t + 1} of {T}", "epoch": 0, "epochs": config.epochs,
                      "step": t + 1, "steps": units, "loss": None})
    counts = votes(teachers, x_public, num_classes)
    rng, _ = noise_generator(config) if noise is None else (noise, None)
    labels = gnmax(counts, sigma, rng)
    del rng

    def student_progress(event):  # the student's epochs continue the teachers' progress
        if event.get("stage") == "epoch":
            progress({**event, "part": f"student epoch {event['epoch']} of {config.epochs}",
                      "step": T + event["epoch"], "steps": units})

    student = train(_recipe(config, Q, _seed(config, 41)), x_public, labels, num_classes, x_test, y_test,
                    progress=student_progress if progress else None, cancel=cancel, device=device)
    plurality = counts.max(axis=1)
    info = {"teacher_rows": {"min": int(min(sizes)), "median": float(np.median(sizes)), "max": int(max(sizes))},
            "abstaining_teachers": int(sum(m is None for m in teachers)),
            "plurality_share": round(float(plurality.mean() / max(1, T - sum(m is None for m in teachers))), 4),
            "noiseless_labels": counts.argmax(axis=1)}
    if x_test is not None:
        accs = [accuracy(m, x_test, y_test) for m in teachers if m is not None]
        info["teacher_test_accuracy"] = {"mean": round(float(np.mean(accs)), 4), "min": round(float(min(accs)), 4),
                                         "max": round(float(max(accs)), 4)}
    info["labels"] = labels
    return PateResult(model=student.model, history=student.history, noise_multiplier=sigma, queries=Q, teachers=T,
                      test_accuracy=student.test_accuracy, seconds=time.perf_counter() - start, info=info,
                      device=student.device)


def privacy_block(config: RunConfig, result: PateResult, n_train: int, y_public: np.ndarray | None = None,
                  noise_rng: str | None = None) -> dict:
    """The record's privacy block for a PATE run (records.validate checks its layout)."""
    sigma, Q, delta = result.noise_multiplier, result.queries, config.delta
    warning = accounting.delta_warning(delta, n_train)
    if warning:
        warnings.warn(warning, stacklevel=2)
    eps = epsilons(sigma, Q, delta)
    info = result.info
    pate = {"teachers": result.teachers, "queries": Q, "answered": Q, "aggregator": "GNMax",
            "vote_sensitivity_l2": SENSITIVITY, "gaussian_noise_multiplier": sigma / SENSITIVITY,
            "analysis": "data-independent (Papernot et al. 2018, GNMax): Q Gaussian mechanisms of sensitivity √2",
            "events": f"SelfComposedDpEvent(GaussianDpEvent({sigma / SENSITIVITY:.6g}), {Q})",
            "accountants": {"rdp": "dp-accounting RdpAccountant", "pld": "dp-accounting PLDAccountant",
                            "prv": "Opacus PRVAccountant at sample rate 1"},
            "assignment": "each private record to one teacher, uniformly and independently (seeded by the run seed)",
            "teacher_rows": info.get("teacher_rows"), "abstaining_teachers": info.get("abstaining_teachers"),
            "public_data": PUBLIC_NOTE, "teachers_note": TEACHER_NOTE,
            # diagnostics computed from the teachers (private data): for the assessment, not covered by ε
            "diagnostics": {"plurality_share": info.get("plurality_share"),
                            "teacher_test_accuracy": info.get("teacher_test_accuracy")}}
    if y_public is not None:
        pate["diagnostics"]["label_accuracy"] = round(float((info["labels"] == y_public).mean()), 4)
        pate["diagnostics"]["noiseless_label_accuracy"] = round(float((info["noiseless_labels"] == y_public).mean()), 4)
    engine = {"library": "explorer.pate", "version": __version__, "aggregator": "GNMax",
              "grad_sample_mode": None, "clipping": None,
              "noise_rng": noise_rng or ("seeded" if config.reproducible else "os-entropy"), "secure_rng": False,
              "note": NOISE_NOTE,
              "training": "teachers and student trained by torch without privacy (PATE's privacy is the noisy "
                          "aggregation of the teachers' votes, not the training)"}
    if config.reproducible:
        engine["seeded_note"] = ("reproducible: the GNMax noise follows the config seed; not private against anyone "
                                 "who holds the seed")
    return {"technique": "pate", "noise_multiplier": sigma, "sample_rate": None, "steps": None, "delta": delta,
            "poisson_sampling": False, "accountant": config.accountant, "unit": "one example, add/remove",
            "clip_norm": None, "delta_warning": warning, "engine": engine, "opacus_accountant": None,
            "epsilon": eps, "epsilon_reported": eps[config.accountant], "epsilon_by_epoch": [],
            "epsilon_by_query": epsilon_by_query(sigma, Q, delta),
            "epsilon_by_query_method": "rdp: dp-accounting; prv, pld: the exact Gaussian ε (Balle & Wang 2018)",
            "gdp_mu": gdp_mu(sigma, Q), "pate": pate}


def preview(config: RunConfig, n_train: int | None = None) -> dict:
    """What a PATE run of `config` spends, without training: its σ for the target ε over Q queries."""
    sigma = noise_for_epsilon(config.target_epsilon, config.queries, config.delta, config.accountant, verify=False)
    return {"n_train": n_train, "n_source": "record" if n_train else "estimate", "sample_rate": None, "steps": None,
            "queries": config.queries, "teachers": config.teachers, "noise_multiplier": sigma,
            "epsilon": config.target_epsilon,
            "delta_warning": accounting.delta_warning(config.delta, n_train) if n_train else None}
