"""PRD curves against the thesis: Theorem 1's properties, Lemma 1 by linear programming, Sec. 5.3.4, Fig. 5.2."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from sklearn.metrics import fbeta_score

from prd_metric.prd import compute_prd, max_f_beta_pair, slopes


def _random_dist(rng, k, zeros=0):
    d = rng.random(k)
    d[rng.choice(k, zeros, replace=False)] = 0
    return d / d.sum()


def _attainable(alpha, beta, p, q):
    """Lemma 1 (Eq. 5.6) as a feasibility LP: is there a distribution mu with beta*mu <= P and alpha*mu <= Q?"""
    k = len(p)
    res = linprog(
        np.zeros(k),
        A_ub=np.vstack([beta * np.eye(k), alpha * np.eye(k)]),
        b_ub=np.concatenate([p, q]),
        A_eq=np.ones((1, k)),
        b_eq=[1.0],
        bounds=[(0, None)] * k,
    )
    return res.status == 0


@pytest.mark.parametrize("seed", range(3))
def test_curve_is_the_boundary_of_definition_1(seed):
    # Theorem 2 against Lemma 1 solved independently: points on the curve are attainable, points past it are not.
    rng = np.random.default_rng(seed)
    p, q = _random_dist(rng, 6, zeros=1), _random_dist(rng, 6, zeros=1)
    precision, recall = compute_prd(eval_dist=q, ref_dist=p, num_angles=21)
    for a, b in zip(precision[1:-1], recall[1:-1], strict=True):
        assert _attainable(a * (1 - 1e-7), b * (1 - 1e-7), p, q)
        assert not _attainable(min(1, a * 1.01), min(1, b * 1.01), p, q)


def test_equality_theorem_1_i():
    rng = np.random.default_rng(0)
    p = _random_dist(rng, 20)
    precision, recall = compute_prd(eval_dist=p, ref_dist=p)
    assert np.minimum(precision, recall).max() == pytest.approx(1.0, abs=1e-9)
    q = _random_dist(rng, 20)
    precision, recall = compute_prd(eval_dist=q, ref_dist=p)
    assert np.minimum(precision, recall).max() < 0.99


def test_disjoint_supports_theorem_1_ii():
    p = np.array([0.5, 0.5, 0, 0])
    q = np.array([0, 0, 0.3, 0.7])
    precision, recall = compute_prd(eval_dist=q, ref_dist=p)
    assert precision.max() == 0 and recall.max() == 0


@pytest.mark.parametrize("seed", range(5))
def test_max_precision_and_recall_theorem_1_iii_iv(seed):
    rng = np.random.default_rng(seed)
    p, q = _random_dist(rng, 10, zeros=3), _random_dist(rng, 10, zeros=3)
    precision, recall = compute_prd(eval_dist=q, ref_dist=p)
    assert precision.max() == pytest.approx(q[p > 0].sum(), abs=1e-6)  # Q(supp P)
    assert recall.max() == pytest.approx(p[q > 0].sum(), abs=1e-6)  # P(supp Q)


def test_duality_theorem_1_vi():
    # (alpha, beta) in PRD(Q, P) <=> (beta, alpha) in PRD(P, Q); the angle grid is symmetric, so exactly reversed.
    rng = np.random.default_rng(1)
    p, q = _random_dist(rng, 15, zeros=2), _random_dist(rng, 15, zeros=2)
    prec_qp, rec_qp = compute_prd(eval_dist=q, ref_dist=p)
    prec_pq, rec_pq = compute_prd(eval_dist=p, ref_dist=q)
    np.testing.assert_allclose(prec_qp, rec_pq[::-1], atol=1e-9)
    np.testing.assert_allclose(rec_qp, prec_pq[::-1], atol=1e-9)


def test_lambda_one_is_one_minus_total_variation():
    # Sec. 5.3.4: alpha(1) = beta(1) = 1 - delta(P, Q).
    rng = np.random.default_rng(2)
    p, q = _random_dist(rng, 12), _random_dist(rng, 12)
    precision, recall = compute_prd(eval_dist=q, ref_dist=p, num_angles=1001)
    assert slopes(1001)[500].item() == pytest.approx(1.0)
    tv = 0.5 * np.abs(p - q).sum()
    assert precision[500] == pytest.approx(1 - tv, abs=1e-9)
    assert recall[500] == pytest.approx(1 - tv, abs=1e-9)


@pytest.mark.parametrize(
    ("q", "p", "max_precision", "max_recall"),
    [
        ([0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25], 1.0, 0.5),  # (a) Q captures one of two modes
        ([0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0], 0.5, 1.0),  # (b) Q adds a mode P does not have
        ([0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25], 1.0, 1.0),  # (c) Q = P
        ([0, 0, 0.5, 0.5], [0.5, 0.5, 0, 0], 0.0, 0.0),  # (d) disjoint supports
    ],
)
def test_toy_cases_of_figure_5_2(q, p, max_precision, max_recall):
    precision, recall = compute_prd(eval_dist=q, ref_dist=p)
    assert precision.max() == pytest.approx(max_precision, abs=1e-6)
    assert recall.max() == pytest.approx(max_recall, abs=1e-6)


def test_torch_inputs_stay_torch():
    p = torch.tensor([0.2, 0.3, 0.5])
    precision, recall = compute_prd(eval_dist=p, ref_dist=p, num_angles=5)
    assert torch.is_tensor(precision) and precision.shape == (5,)
    assert recall.dtype == torch.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eval_dist": [0.5, 0.5], "ref_dist": [1 / 3] * 3}, "same length"),
        ({"eval_dist": [1.5, -0.5], "ref_dist": [0.5, 0.5]}, "negative"),
        ({"eval_dist": [0.5, 0.6], "ref_dist": [0.5, 0.5]}, "sum to 1"),
        ({"eval_dist": [0.5, 0.5], "ref_dist": [0.5, 0.5], "num_angles": 2}, "num_angles"),
        ({"eval_dist": [0.5, 0.5], "ref_dist": [0.5, 0.5], "num_angles": 10**6 + 1}, "num_angles"),
        ({"eval_dist": [0.5, np.nan], "ref_dist": [0.5, 0.5]}, "NaN"),
        ({"eval_dist": [[0.5, 0.5]], "ref_dist": [0.5, 0.5]}, "1-D"),
    ],
)
def test_bad_histograms(kwargs, match):
    with pytest.raises(ValueError, match=match):
        compute_prd(**kwargs)


def test_arguments_are_keyword_only():
    # The published README example passed the two sets in the wrong order; here the order cannot be wrong.
    with pytest.raises(TypeError):
        compute_prd([0.5, 0.5], [0.5, 0.5])


def test_f_beta_matches_scikit_learn():
    # Precision 1 and recall 1/2: 1 TP, 0 FP, 1 FN.
    y_true, y_pred = [1, 1, 0], [1, 0, 0]
    f8, f1_8 = max_f_beta_pair(np.array([1.0]), np.array([0.5]), beta=8)
    assert f8 == pytest.approx(fbeta_score(y_true, y_pred, beta=8))
    assert f1_8 == pytest.approx(fbeta_score(y_true, y_pred, beta=1 / 8))
    assert f1_8 > f8  # F_1/8 weighs precision, which is the larger here


def test_f_beta_pair_takes_the_maximum_and_survives_zeros():
    precision = np.array([0.0, 0.9, 0.5, 0.0])
    recall = np.array([0.0, 0.2, 0.6, 0.0])
    f8, f1_8 = max_f_beta_pair(precision, recall)
    manual = [(1 + b * b) * p * r / (b * b * p + r) if p + r else 0.0 for b in (8, 1 / 8) for p, r in [(0.9, 0.2)]]
    manual2 = [(1 + b * b) * 0.5 * 0.6 / (b * b * 0.5 + 0.6) for b in (8, 1 / 8)]
    assert f8 == pytest.approx(max(manual[0], manual2[0]), rel=1e-6)
    assert f1_8 == pytest.approx(max(manual[1], manual2[1]), rel=1e-6)
    assert max_f_beta_pair(np.zeros(5), np.zeros(5)) == (0.0, 0.0)
    with pytest.raises(ValueError, match="beta"):
        max_f_beta_pair(precision, recall, beta=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        max_f_beta_pair(np.array([1.2]), np.array([0.5]))


def test_toy_cases_e_and_f_of_figure_5_2_same_support_noisy_a_and_b():
    # (e): Q = a noisy (a), same support as P; Theorem 2 in closed form: alpha = 0.1 + 0.5 lambda for
    # 0.2 <= lambda <= 1.8, alpha = 1 beyond, so at full precision the recall is 1 / 1.8; (f) is its dual.
    p, q = [0.25, 0.25, 0.25, 0.25], [0.45, 0.45, 0.05, 0.05]
    prec_e, rec_e = compute_prd(eval_dist=q, ref_dist=p, num_angles=100001)
    prec_f, rec_f = compute_prd(eval_dist=p, ref_dist=q, num_angles=100001)
    assert rec_e[prec_e >= 1 - 1e-12].max() == pytest.approx(1 / 1.8, abs=1e-3)  # high precision, low recall
    assert prec_f[rec_f >= 1 - 1e-12].max() == pytest.approx(1 / 1.8, abs=1e-3)  # low precision, high recall
    assert prec_e.max() == pytest.approx(1) and rec_e.max() == pytest.approx(1)  # same support: both reach 1
    f8_e, f1_8_e = max_f_beta_pair(prec_e, rec_e, beta=8)
    f8_f, f1_8_f = max_f_beta_pair(prec_f, rec_f, beta=8)
    assert f1_8_e > f8_e and f8_f > f1_8_f  # the summary tells (e) from (f), as Fig. 5.3 does
    assert (f8_e, f1_8_e) == pytest.approx((f1_8_f, f8_f), abs=1e-6)
