"""RMIA as published (offline): a chosen on the reference models, z disjoint from the evaluated records."""
import numpy as np

from explorer import accounting, data, evidence
from explorer.attacks import mia
from explorer.config import RunConfig
from explorer.train import train


def _references(cfg, ds, pool_rows, k, size):
    """k reference models on random halves (`size` rows) of the given training rows."""
    trained_on = np.zeros((k, len(pool_rows)), bool)
    models = []
    for j in range(k):
        half = np.random.default_rng(j).permutation(len(pool_rows))[:size]
        trained_on[j, half] = True
        models.append(train(cfg.replace(seed=j + 1), ds.x_train[pool_rows[half]], ds.y_train[pool_rows[half]],
                            ds.num_classes).model)
    return mia.References(models, ds.x_train[pool_rows], ds.y_train[pool_rows], pool_rows,
                          np.zeros(0, int), trained_on)


def test_the_split_gives_disjoint_roles_and_a_touches_no_evaluated_record():
    ds = data.load("mnist-5k")
    cfg = RunConfig(dataset="mnist-5k", model="logreg", mode="non_private", epochs=2, canaries=0,
                    reference_models=3)
    sp = evidence.membership_split(cfg, ds, None)
    assert len(sp.member_index) == len(sp.nonmember_index) == len(sp.z_index) == 333
    assert len(np.union1d(sp.member_index, sp.ref_train_index)) == ds.n_train
    assert len(np.unique(np.r_[sp.nonmember_index, sp.z_index, sp.ref_pop_index])) == len(ds.y_pop)
    refs = evidence.reference_models(cfg, ds, None)
    assert refs.trained_on.shape == (3, len(sp.ref_train_index) + len(sp.ref_pop_index))
    assert np.array_equal(refs.train_rows, sp.ref_train_index) and np.array_equal(refs.pop_rows, sp.ref_pop_index)
    a, aucs, used = mia.choose_a(refs, ds.x_pop[sp.z_index], ds.y_pop[sp.z_index])
    assert a in mia.A_GRID and len(aucs) == len(mia.A_GRID) and len(used) > 100
    train_rows, pop_rows = refs.rows(used)
    assert not np.intersect1d(train_rows, sp.member_index).size  # no evaluated member …
    assert not np.intersect1d(pop_rows, sp.nonmember_index).size  # … no evaluated non-member …
    assert not np.intersect1d(pop_rows, sp.z_index).size  # … and the z population only as z
    assert not refs.trained_on[1:, used].any()  # the proxy's records are OUT for its references
    # pool row i is the dataset row `rows` names: the pool holds exactly those records
    nt = len(refs.train_rows)
    assert np.array_equal(refs.pool_x[:nt], ds.x_train[refs.train_rows])
    assert np.array_equal(refs.pool_x[nt:], ds.x_pop[refs.pop_rows])


def test_rmia_finds_members_of_an_overfit_model():
    ds = data.load("mnist-5k")
    idx = np.random.default_rng(0).permutation(ds.n_train)
    tr, pool = idx[:300], idx[300:]
    cfg = RunConfig(dataset="mnist-5k", mode="non_private", model="mlp", epochs=60, batch_size=32,
                    learning_rate=0.3, momentum=0.0, attacks=False)
    target = train(cfg, ds.x_train[tr], ds.y_train[tr], 10).model
    refs = _references(cfg, ds, pool, 3, 300)  # never trained on the target's members (offline)
    pop = np.random.default_rng(1).permutation(len(ds.y_pop))  # the splits are stored class by class
    non, z = pop[:300], pop[300:600]
    block = mia.rmia(target, refs, ds.x_train[tr], ds.y_train[tr], ds.x_pop[non], ds.y_pop[non],
                     ds.x_pop[z], ds.y_pop[z])
    assert block["auc"] >= 0.7, block["auc"]
    assert block["gamma"] == 1.0 and block["reference_models"] == 3 and block["z_population"] == 300
    assert set(block["tpr_at_fpr"]) == {"0.0", "0.001", "0.01", "0.1"}
    loss = mia.loss_attack(target, ds.x_train[tr], ds.y_train[tr], ds.x_pop[non], ds.y_pop[non])
    assert loss["auc"] >= 0.6 and block["auc"] > loss["auc"]  # RMIA is the stronger attack here


def test_dp_attack_stays_under_the_theoretical_bound():
    """At ε = 0.5 the ROC of any attack must lie under the (ε, δ) trade-off curve, up to sampling error
    in both rates (≈ 3 standard errors each, floored at 3 records' worth)."""
    ds = data.load("mnist-5k")
    idx = np.random.default_rng(0).permutation(ds.n_train)
    tr, pool, z = idx[:1000], idx[1000:2500], idx[2500:]  # z: OUT for the target and every reference
    cfg = RunConfig(dataset="mnist-5k", target_epsilon=0.5, model="mlp", epochs=5, batch_size=100,
                    learning_rate=1.0, attacks=False)
    target = train(cfg, ds.x_train[tr], ds.y_train[tr], 10).model
    refs = _references(cfg, ds, pool, 2, 750)
    block = mia.rmia(target, refs, ds.x_train[tr], ds.y_train[tr], ds.x_pop, ds.y_pop, ds.x_train[z], ds.y_train[z])
    n = 1000
    fpr, tpr = np.array(block["roc"]["fpr"]), np.array(block["roc"]["tpr"])

    def slack(p):
        return 3 * np.sqrt(np.maximum(p * (1 - p), 3 / n) / n)

    bound = accounting.tradeoff_tpr(np.minimum(fpr + slack(fpr), 1.0), 0.5, 1e-5)
    assert np.all(tpr <= bound + slack(bound)), np.max(tpr - bound - slack(bound))
    assert block["auc"] < 0.6
