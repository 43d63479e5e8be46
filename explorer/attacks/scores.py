"""Per-example statistics of a trained model that the attacks threshold."""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


def log_probs(model, x: np.ndarray) -> np.ndarray:
    from ..train import predict_logits  # torch loads only when a model is scored, not for the UI

    return log_softmax(predict_logits(model, x).astype(np.float64), axis=1)


def true_class_prob(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.exp(log_probs(model, x)[np.arange(len(y)), y])


def loss(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -log_probs(model, x)[np.arange(len(y)), y]


def logit_confidence(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log p_y − log Σ_{j≠y} p_j, computed stably from log-probabilities."""
    lp = log_probs(model, x)
    own = lp[np.arange(len(y)), y]
    others = lp.copy()
    others[np.arange(len(y)), y] = -np.inf
    rest = np.logaddexp.reduce(others, axis=1)
    return own - rest
