"""Command line: python -m explorer {run,sweep,study,reconstruct,epsilon,bench} …

Bad input exits with status 2 and one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from .errors import ExplorerError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too by default)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _delta(text):
    value = _positive(float)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"δ must be in (0, 1), got {text}")
    return value


DEVICES = ("auto", "cpu", "cuda")


def build_parser() -> argparse.ArgumentParser:
    from .config import ACCOUNTANT_NAMES, CLIPPING, DATASETS, MODEL_NAMES, TECHNIQUES

    p = _Parser(prog="python -m explorer", description="DP privacy-utility explorer")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="train one configuration and write its RunRecord")
    r.add_argument("--dataset", default="mnist-5k", choices=DATASETS)
    budget = r.add_mutually_exclusive_group()
    budget.add_argument("--epsilon", type=_positive(float), help="target ε (σ is calibrated)")
    budget.add_argument("--noise-multiplier", type=_positive(float), help="σ (ε is computed)")
    budget.add_argument("--non-private", action="store_true", help="same loop, no DP")
    r.add_argument("--clip-norm", type=_positive(float))
    r.add_argument("--delta", type=_delta, default=1e-5)
    r.add_argument("--model", choices=MODEL_NAMES)
    r.add_argument("--epochs", type=_positive(int))
    r.add_argument("--batch-size", type=_positive(int))
    r.add_argument("--lr", "--learning-rate", dest="learning_rate", type=_positive(float))
    r.add_argument("--momentum", type=float)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--accountant", choices=ACCOUNTANT_NAMES, default="prv")
    r.add_argument("--clipping", choices=CLIPPING, default="flat",
                   help="adaptive: the clip norm follows a quantile of the gradient norms (Opacus' AdaClip)")
    r.add_argument("--target-quantile", type=float,
                   help="adaptive clipping's target fraction of unclipped examples (default 0.5)")
    r.add_argument("--grad-sample-mode", help="Opacus' per-sample gradient mode: hooks, functorch or ghost "
                                              "(default: the fastest measured for the model)")
    r.add_argument("--reproducible", action="store_true",
                   help="seed the noise and sampling from --seed: for demonstrations, not private "
                        "against anyone who holds the seed")
    r.add_argument("--technique", choices=TECHNIQUES, default="dp-sgd",
                   help="dp-sgd (Opacus), or pate: teachers on disjoint parts of the data, a student labelled by "
                        "their noisy votes (GNMax) on public unlabeled data (docs/techniques.md)")
    r.add_argument("--pretrain", metavar="SOURCE",
                   help="pre-train without privacy on public data first (costs no ε): digits (images) or "
                        "public-csv (tables, with --public-csv)")
    r.add_argument("--public-csv", help="a public table with your table's columns, for --pretrain public-csv")
    r.add_argument("--teachers", type=int, help="PATE: number of teachers (default: the dataset's)")
    r.add_argument("--queries", type=int, help="PATE: public records the student gets labelled (answered queries)")
    r.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA when available")
    r.add_argument("--data-dir", help="folder with MNIST/Adult files (else EXPLORER_DATA_DIR, else download)")
    r.add_argument("--csv", help="your CSV file (with --dataset csv)")
    r.add_argument("--target", help="target column of --csv")
    r.add_argument("--canaries", type=int, help="canaries for the audit (each in training w.p. ½)")
    r.add_argument("--reference-models", type=int, default=2, help="reference models for RMIA (0: skip)")
    r.add_argument("--no-attacks", action="store_true", help="skip audit, membership inference, inversion")
    r.add_argument("--output", "-o", help="write the RunRecord JSON here")
    r.add_argument("--store", help="also put the record into this store folder (e.g. cached_runs/)")
    r.add_argument("--quiet", action="store_true", help="no progress lines")

    w = sub.add_parser("sweep", help="run every configuration of a grid file into a store (resumable)")
    w.add_argument("grid")
    w.add_argument("--store", default="cached_runs")
    w.add_argument("--workers", type=_positive(int), default=None, help="parallel runs (default: the cores)")
    w.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: a process pool; ray: one Ray task per configuration")
    w.add_argument("--address", help="Ray cluster address (default: start a local Ray runtime on 127.0.0.1)")
    w.add_argument("--data-dir")
    w.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA when available")

    _add_study(sub)
    _add_reconstruct(sub)

    b = sub.add_parser("bench", help="measure the performance figures and print them as JSON")
    b.add_argument("--only", action="append", help="one figure by name (repeatable)")

    e = sub.add_parser("epsilon", help="ε for a σ, or σ for a target ε, by each accountant")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--noise-multiplier", type=_positive(float))
    which.add_argument("--target-epsilon", type=_positive(float))
    e.add_argument("--sample-rate", type=_positive(float), required=True)
    e.add_argument("--steps", type=_positive(int), required=True)
    e.add_argument("--delta", type=_delta, default=1e-5)
    e.add_argument("--accountant", choices=ACCOUNTANT_NAMES, action="append",
                   help="repeat to choose; default all three")
    e.add_argument("--json", action="store_true")
    return p


def _add_study(sub):
    from .study import DEFAULT_EPSILONS, MAX_STUDY_ROWS

    s = sub.add_parser("study", help="budget study on your CSV: runs over ε × seeds, evidence, then the decision")
    s.add_argument("--csv", required=True, help="your CSV file")
    s.add_argument("--target", required=True, help="the column to predict")
    s.add_argument("--epsilons", default=",".join(f"{e:g}" for e in DEFAULT_EPSILONS),
                   help="budgets to study, comma-separated (default %(default)s)")
    s.add_argument("--seeds", type=_positive(int), default=2, help="trainings per budget (default 2)")
    s.add_argument("--exclude", action="append", default=[], metavar="COLUMN", help="leave a column out (repeatable)")
    s.add_argument("--type", action="append", default=[], metavar="COLUMN=TYPE",
                   help="override a column's type: numeric, categorical or excluded (repeatable)")
    s.add_argument("--subsample", action="store_true",
                   help=f"allow a random subsample of {MAX_STUDY_ROWS:,} rows when the table has more")
    s.add_argument("--delta", type=_delta, help="δ (default: 1/(10·n) rounded down to a power of ten)")
    s.add_argument("--reference-models", type=int, default=2, help="RMIA reference models (at least 2)")
    s.add_argument("--public-csv", help="a table you declare public, with your table's columns: every DP run is "
                                        "pre-trained on it first (costs no ε; the study discloses it)")
    floor = s.add_mutually_exclusive_group()
    floor.add_argument("--floor", type=float, help="accuracy floor, e.g. 0.85")
    floor.add_argument("--within-points", type=float, help="floor: at most this many points below the non-private model")
    s.add_argument("--prior", type=float, help="risk ceiling: the attacker's prior that a person is in the data …")
    s.add_argument("--max-posterior", type=float, help="… and the most they may come to believe")
    s.add_argument("--fpr", type=float, help="risk ceiling: a false-positive rate …")
    s.add_argument("--max-tpr", type=float, help="… and the most TPR a membership test may reach there")
    s.add_argument("--output", "-o", required=True, help="write the study JSON (aggregates only) here")
    s.add_argument("--quiet", action="store_true", help="no progress lines")


def _add_reconstruct(sub):
    s = sub.add_parser("reconstruct", help="informed-adversary reconstruction study beside its DP bound (mnist-5k)")
    s.add_argument("--dataset", default="mnist-5k", choices=["mnist-5k"])
    budget = s.add_mutually_exclusive_group(required=True)
    budget.add_argument("--epsilon", type=_positive(float), help="train each target's model with DP-SGD at this ε")
    budget.add_argument("--non-private", action="store_true", help="train to the optimum, no DP")
    s.add_argument("--targets", type=_positive(int), default=20, help="independent trials (default 20)")
    s.add_argument("--candidates", type=_positive(int), default=10, help="known candidates per trial; κ = 1/this")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--reproducible", action="store_true",
                   help="seed DP noise and sampling from --seed (a demonstration, not private against the seed's holder)")
    s.add_argument("--data-dir")
    s.add_argument("--output", "-o", required=True, help="write the study JSON here")
    s.add_argument("--quiet", action="store_true")


def cmd_reconstruct(args) -> int:
    from .attacks import reconstruction
    from .fileio import write_json_atomic

    def progress(event):
        if not args.quiet:
            print(f"  target {event['target']}/{event['targets']}: {'found' if event['success'] else 'missed'}",
                  file=sys.stderr, flush=True)

    result = reconstruction.study(None if args.non_private else args.epsilon, targets=args.targets,
                                  candidates=args.candidates, seed=args.seed, reproducible=args.reproducible,
                                  progress=progress, dataset=args.dataset, data_dir=args.data_dir)
    bound = "no bound (no privacy)" if result["bound"] is None else f"ReRo bound {result['bound']:.3f}"
    lo, hi = result["interval"]
    print(f"success {result['successes']}/{result['targets']} = {result['success_rate']:.2f} "
          f"(95 % interval {lo:.2f}-{hi:.2f}), blind guess κ = {result['kappa']:.2f}, {bound}")
    print(result["statement"])
    write_json_atomic(args.output, result)
    print(f"study written to {args.output}")
    return 0


def config_from_args(args, table_fingerprint: str | None = None, public_fingerprint: str | None = None):
    """The RunConfig a `run` command line describes (also used to check report reproduce commands).
    `public_fingerprint`: of the --public-csv file, for --pretrain public-csv."""
    from .config import RunConfig

    mode = "non_private" if args.non_private else "noise" if args.noise_multiplier else "epsilon"
    pretrain = args.pretrain
    if args.public_csv and pretrain is None:
        pretrain = "public-csv"
    if pretrain == "public-csv":
        if not args.public_csv:
            raise ExplorerError("--pretrain public-csv needs --public-csv FILE, the public table")
        pretrain = f"public-csv:{public_fingerprint}" if public_fingerprint else pretrain
    elif args.public_csv:
        raise ExplorerError(f"--public-csv is for --pretrain public-csv, not --pretrain {pretrain}")
    return RunConfig(
        dataset=args.dataset, mode=mode, target_epsilon=args.epsilon if args.epsilon is not None else 3.0,
        noise_multiplier=args.noise_multiplier, clip_norm=args.clip_norm, delta=args.delta,
        model=args.model, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, momentum=args.momentum, seed=args.seed, accountant=args.accountant,
        attacks=not args.no_attacks, canaries=args.canaries, reference_models=args.reference_models,
        csv_sha256=table_fingerprint,
        reproducible=args.reproducible, clipping=args.clipping, target_quantile=args.target_quantile,
        grad_sample_mode=args.grad_sample_mode, technique=args.technique, pretrain=pretrain,
        teachers=args.teachers, queries=args.queries)


def cmd_run(args) -> int:
    from . import pipeline
    from .records import Store, write_json_atomic

    table = None
    if args.dataset == "csv":
        from . import tables

        if not args.csv or not args.target:
            raise ExplorerError("--dataset csv needs --csv FILE and --target COLUMN")
        # the key folds in the target and the table options, so two targets never share a record
        table = tables.prepare(tables.read_table(args.csv), tables.TableSpec(args.target))
    public = None
    if args.public_csv:
        from .pretrain import fingerprint
        from .tables import read_bytes

        public = read_bytes(args.public_csv)
    config = config_from_args(args, table.fingerprint if table else None,
                              fingerprint(public) if public is not None else None)

    def progress(event):
        if not args.quiet and event.get("stage") == "epoch":
            eps = f" ε={event['epsilon']:.2f}" if event.get("epsilon") else ""
            clip = f" C={event['clip_norm']:.3g}" if event.get("clip_norm") is not None else ""
            loss = "-" if event["train_loss"] is None else f"{event['train_loss']:.3f}"
            print(f"  epoch {event['epoch']}/{event['epochs']} loss={loss} "
                  f"test acc={event['test_accuracy']:.3f}{eps}{clip}", file=sys.stderr, flush=True)

    record = pipeline.run(config, progress=progress, data_dir=args.data_dir, csv=table, target=args.target,
                          device=args.device, public_csv=public)
    print(summary(record))
    if args.output:
        write_json_atomic(args.output, record)
        print(f"record written to {args.output}")
    if args.store:
        path = Store(args.store).put(record)
        print(f"record stored as {path}")
    return 0


def summary(record: dict) -> str:
    c, p, u, t = record["config"], record["privacy"], record["utility"], record["timing"]
    lines = [f"{c['dataset']} · {c['model']} · seed {c['seed']} · key {record['key']}",
             f"  test accuracy {u['test_accuracy']:.4f} (train {u['train_accuracy']:.4f})"]
    if p["epsilon"] is None:
        lines.append("  no privacy (non-private baseline): ε = ∞")
    elif c.get("technique") == "pate":
        e, pate = p["epsilon"], p["pate"]
        lines.append(f"  PATE: {pate['teachers']} teachers, {pate['answered']} public queries answered by GNMax with "
                     f"σ = {p['noise_multiplier']:.2f} on the vote counts, δ = {p['delta']:g}")
        lines.append(f"  ε: PRV {e['prv']:.3f} · RDP {e['rdp']:.3f} · PLD {e['pld']:.3f} "
                     f"(reported: {p['accountant'].upper()}; data-independent GNMax bound), GDP μ = {p['gdp_mu']:.3f}")
        d = pate.get("diagnostics") or {}
        if d.get("label_accuracy") is not None:
            lines.append(f"  the student's labels: {d['label_accuracy']:.1%} correct (teachers' plurality without noise "
                         f"{d['noiseless_label_accuracy']:.1%}); the teachers are never released")
    else:
        e = p["epsilon"]
        clip = (f"adaptive clipping from C = {c['clip_norm']} towards the {c['target_quantile']:g} quantile"
                if c.get("clipping") == "adaptive" else f"clip C = {c['clip_norm']}")
        lines.append(f"  σ = {p['noise_multiplier']:.4f}, {clip}, q = {p['sample_rate']:.5f}, "
                     f"{p['steps']} steps, δ = {p['delta']:g}")
        lines.append(f"  ε: PRV {e['prv']:.3f} · RDP {e['rdp']:.3f} · PLD {e['pld']:.3f} "
                     f"(reported: {p['accountant'].upper()}), GDP μ = {p['gdp_mu']:.3f}")
    a = record["attacks"]
    for name, label in (("audit", "canary audit"), ("mia", "RMIA"), ("loss_attack", "LOSS attack")):
        block = a.get(name)
        if block:  # each block's own plain-language reading, never a bare figure
            auc = f"AUC {block['auc']:.3f}; " if block.get("auc") is not None else ""
            lines.append(f"  {label}: {auc}{block.get('statement', '')}")
    inv = a.get("inversion")
    if inv:
        lines.append(f"  inversion: {inv.get('statement') or inv.get('shows', 'class prototypes')}")
    if p.get("pretrain"):
        lines.append(f"  {p['pretrain']['note']} ({p['pretrain']['rows']} rows)")
    engine = p.get("engine")
    if engine and engine.get("library") == "explorer.pate":
        rng = ("GNMax noise seeded from --seed (reproducible: not private against anyone who holds the seed)"
               if engine["noise_rng"] == "seeded" else "GNMax noise seeded from OS entropy, not stored")
        lines.append(f"  teachers and student trained without privacy by torch on {record['environment'].get('device', 'cpu')}; {rng}")
    elif engine:
        rng = ("noise seeded from --seed (reproducible: not private against anyone who holds the seed)"
               if engine["noise_rng"] == "seeded" else "noise seeded from OS entropy, not stored")
        lines.append(f"  trained by Opacus {engine['version']} ({engine['grad_sample_mode']}, {engine['clipping']} "
                     f"clipping) on {record['environment'].get('device', 'cpu')}; {rng}")
    if p.get("delta_warning"):
        lines.append(f"  warning: {p['delta_warning']}")
    lines.append(f"  time: train {t['train_s']:.1f} s, then attacks {t['attacks_s']:.1f} s (accounting "
                 f"{t['accounting_s']:.1f} s beside them), total {t['total_s']:.1f} s")
    return "\n".join(lines)


def cmd_study(args) -> int:
    import time

    from . import study, tables
    from .decision import Ceiling, Floor

    try:
        epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    except ValueError:
        raise ExplorerError(f"--epsilons must be numbers separated by commas, e.g. 0.5,1,2,4,8; got {args.epsilons!r}") from None
    types = {}
    for item in args.type:
        column, sep, kind = item.rpartition("=")
        if not sep or not column:
            raise ExplorerError(f"--type takes COLUMN=TYPE (numeric, categorical or excluded); got {item!r}")
        types[column] = kind
    floor = (Floor.absolute(args.floor) if args.floor is not None else
             Floor.within_points(args.within_points) if args.within_points is not None else None)
    ceiling = None
    if (args.prior is None) != (args.max_posterior is None) or (args.fpr is None) != (args.max_tpr is None):
        raise ExplorerError("a risk ceiling needs --prior with --max-posterior, or --fpr with --max-tpr")
    if args.prior is not None and args.fpr is not None:
        raise ExplorerError("give one risk ceiling: --prior/--max-posterior or --fpr/--max-tpr")
    if args.prior is not None:
        ceiling = Ceiling.posterior(args.prior, args.max_posterior)
    elif args.fpr is not None:
        ceiling = Ceiling.tpr(args.fpr, args.max_tpr)
    if ceiling is not None and floor is None:
        raise ExplorerError("a risk ceiling is weighed against an accuracy floor: add --floor or --within-points")
    table = tables.read_table(args.csv)
    spec = tables.TableSpec(args.target, tuple(args.exclude), tuple(types.items()), args.subsample)
    last = [0.0]

    def progress(e):
        if args.quiet or time.monotonic() - last[0] < 5 and e.get("phase") != "done":
            return
        last[0] = time.monotonic()
        eta = f", about {e['eta_s']:.0f} s left" if e.get("eta_s") is not None else ""
        print(f"  {100 * e['fraction']:3.0f} % {e['label']}{eta}", file=sys.stderr, flush=True)

    result = study.run_study(table, spec, epsilons=epsilons, seeds=args.seeds, delta=args.delta,
                             reference_models=args.reference_models, progress=progress, public=args.public_csv)
    if floor is not None:
        result = study.attach_decision(result, floor, ceiling)
    print(study.describe(result))
    study.save_study(result, args.output)
    print(f"study written to {args.output} (aggregates only: no row or cell of the table)")
    return 0


def cmd_sweep(args) -> int:
    from .sweep import sweep

    done = sweep(args.grid, args.store, args.workers, args.data_dir, backend=args.backend, address=args.address,
                 device=args.device)
    print(f"{len(done)} record(s) written to {args.store}")
    return 0


def cmd_bench(args) -> int:
    from . import bench

    unknown = set(args.only or []) - set(bench.FIGURES)
    if unknown:
        raise ExplorerError(f"unknown figure(s) {', '.join(sorted(unknown))}; choose from {', '.join(bench.FIGURES)}")
    bench.main(args.only)
    return 0


def cmd_epsilon(args) -> int:
    from . import accounting

    names = args.accountant or list(accounting.ACCOUNTANTS)
    if args.noise_multiplier is not None:
        out = {n: accounting.epsilon(args.noise_multiplier, args.sample_rate, args.steps, args.delta, n)
               for n in names}
        label = "ε"
    else:
        out = {n: accounting.noise_for_epsilon(args.target_epsilon, args.delta, args.sample_rate,
                                               args.steps, n, verify=True) for n in names}
        label = "σ"
    if args.json:
        print(json.dumps(out))
    else:
        for n, v in out.items():
            print(f"{n.upper():4s} {label} = {v:.4f}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"run": cmd_run, "epsilon": cmd_epsilon, "sweep": cmd_sweep, "study": cmd_study,
                "reconstruct": cmd_reconstruct, "bench": cmd_bench}[args.command](args)
    except ExplorerError as e:
        sys.stderr.write(f"python -m explorer: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; nothing was written\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
