"""The pair model's hot loop, compiled with numba: int32 id batches in, updated tables out.

Row optimizers: SGD, Adagrad, RMSprop, lazy Adam, and row-wise Adagrad (PyTorch-BigGraph's default, the pair
model's): one accumulator per row (the running sum of the mean squared gradient over the row's elements), so a
step reads and writes one float of optimizer state per row instead of ``dim`` of them, and takes one square
root; on the reference-size planted books graph it learns as fast per epoch as Adagrad and its step takes
about 40% less time (at 10M pairs, where every row update waits on memory, the two are about even).

The minibatch step has two parallel phases and is deterministic whatever the number of threads:
1. per positive (in parallel): score it and its negatives, and write each sample's row gradients;
2. per table (in parallel by row ownership, row % threads): sum the gradients of each touched row in
   sample order and apply the optimizer to that row once. Rows not in the batch are never read.
Summing before the update makes a step the exact minibatch gradient of the summed loss, so a link seen
thousands of times in one batch moves by one Adagrad/Adam step, not by thousands of SGD steps.

Fast-math is limited to reassociation, contraction and approximate functions (FASTMATH): infinities and
NaNs keep their IEEE meaning, and the sigmoid and softplus are written so that exp never overflows, so
huge scores give a saturated gradient, not NaN.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange

from ..data.negatives import splitmix64

__all__ = ["OPTIMIZERS", "LOSS_CODES", "pair_gradients", "apply_row_gradients", "hogwild_step", "epoch_order",
           "take_pairs", "optimizer_state", "optimizer_hyper", "negative_label"]

OPTIMIZERS = {"sgd": 0, "adagrad": 1, "rmsprop": 2, "adam": 3, "row_adagrad": 4}
LOSS_CODES = {"logistic": 0, "mse": 1, "bpr": 2}
#: LLVM fast-math flags that keep inf and NaN semantics (numba's fastmath=True also assumes neither occurs).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(inline="always")
def _sigmoid(x):
    """1 / (1 + exp(-x)) without overflow for any finite x."""
    if x >= 0.0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@njit(inline="always")
def _softplus(x):
    """log(1 + exp(x)) without overflow for any finite x."""
    return max(x, 0.0) + np.log1p(np.exp(-abs(x)))


@njit(inline="always")
def _dscores(scores, w, loss_code, label_neg, dscore):
    """dloss/dscore of each sample of a group (positive first, then its negatives) into ``dscore``; returns
    the group's loss. A pair's weight ``w`` scales the terms of its positive."""
    group = scores.shape[0]
    loss = 0.0
    if loss_code == 2:  # BPR: w * softplus(-(s_pos - s_neg)) for each negative
        dscore[0] = 0.0
        for j in range(1, group):
            diff = scores[0] - scores[j]
            sig = w * _sigmoid(-diff)
            loss += w * _softplus(-diff)
            dscore[0] -= sig
            dscore[j] = sig
    else:
        for j in range(group):
            label = 1.0 if j == 0 else label_neg
            scale = w if j == 0 else 1.0
            s = scores[j]
            if loss_code == 1:  # MSE on labels 1 / -1
                loss += scale * (s - label) ** 2
                dscore[j] = scale * 2.0 * (s - label)
            else:               # logistic on labels 1 / 0: one exp gives both sigmoid(s) and softplus(s)
                e = np.exp(-abs(s))
                sig = 1.0 / (1.0 + e) if s >= 0.0 else e / (1.0 + e)
                loss += scale * (max(s, 0.0) + np.log1p(e) - label * s)
                dscore[j] = scale * (sig - label)
    return loss


@njit(inline="always")
def _update_row(W, row, g, opt_code, lr, eps, beta1, beta2, state1, state2, row_steps):
    """Apply the optimizer ``opt_code`` to row ``row`` of ``W`` with the gradient ``g`` (dim,), in float32
    (one loop per optimizer, so that each vectorises)."""
    lr, eps, beta1, beta2 = np.float32(lr), np.float32(eps), np.float32(beta1), np.float32(beta2)
    one = np.float32(1.0)
    dim = W.shape[1]
    if opt_code == 0:
        for d in range(dim):
            W[row, d] -= lr * g[d]
    elif opt_code == 1:
        for d in range(dim):
            state1[row, d] += g[d] * g[d]
            W[row, d] -= lr * g[d] / (np.sqrt(state1[row, d]) + eps)
    elif opt_code == 2:
        for d in range(dim):
            state1[row, d] = beta1 * state1[row, d] + (one - beta1) * g[d] * g[d]
            W[row, d] -= lr * g[d] / (np.sqrt(state1[row, d]) + eps)
    elif opt_code == 4:  # row-wise Adagrad: state1 is (rows, 1)
        total = np.float32(0.0)
        for d in range(dim):
            total += g[d] * g[d]
        state1[row, 0] += total / np.float32(dim)
        scale = lr / (np.sqrt(state1[row, 0]) + eps)
        for d in range(dim):
            W[row, d] -= scale * g[d]
    else:
        row_steps[row] += 1.0
        step_size = lr / (one - beta1 ** row_steps[row])
        correction2 = one - beta2 ** row_steps[row]
        for d in range(dim):
            state1[row, d] = beta1 * state1[row, d] + (one - beta1) * g[d]
            state2[row, d] = beta2 * state2[row, d] + (one - beta2) * g[d] * g[d]
            W[row, d] -= step_size * state1[row, d] / (np.sqrt(state2[row, d] / correction2) + eps)

@njit(parallel=True, cache=True, fastmath=FASTMATH)
def pair_gradients(L, R, left, right, negatives, weight, loss_code, cosine, label_neg, grad_l, grad_r,
                   rows_l, rows_r, losses):
    """Phase 1: scores and per-sample gradients of a batch of positives with their negatives.

    Sample m = i * (1 + k) + j is positive i (j = 0) or its negative j - 1. Writes the rows each sample
    touches (rows_l, rows_r), its gradients (grad_l, grad_r: (M, dim)) and each positive's loss.
    """
    n, k = negatives.shape
    dim = L.shape[1]
    group = 1 + k
    for i in prange(n):
        li = left[i]
        scores = np.empty(group)
        inv_l = 1.0
        inv_r = np.ones(group)
        if cosine:
            norm = 0.0
            for d in range(dim):
                norm += L[li, d] * L[li, d]
            inv_l = 1.0 / max(np.sqrt(norm), 1e-12)
        for j in range(group):
            rj = right[i] if j == 0 else negatives[i, j - 1]
            rows_l[i * group + j] = li
            rows_r[i * group + j] = rj
            s = 0.0
            for d in range(dim):
                s += L[li, d] * R[rj, d]
            if cosine:
                norm = 0.0
                for d in range(dim):
                    norm += R[rj, d] * R[rj, d]
                inv_r[j] = 1.0 / max(np.sqrt(norm), 1e-12)
                s *= inv_l * inv_r[j]
            scores[j] = s
        w = weight[i] if weight.shape[0] > 0 else 1.0
        dscore = np.empty(group)
        loss = _dscores(scores, w, loss_code, label_neg, dscore)
        losses[i] = loss
        for j in range(group):
            m = i * group + j
            rj = rows_r[m]
            g = dscore[j]
            if cosine:
                s = scores[j]
                for d in range(dim):
                    ul = L[li, d] * inv_l
                    vr = R[rj, d] * inv_r[j]
                    grad_l[m, d] = g * (vr - s * ul) * inv_l
                    grad_r[m, d] = g * (ul - s * vr) * inv_r[j]
            else:
                for d in range(dim):
                    grad_l[m, d] = g * R[rj, d]
                    grad_r[m, d] = g * L[li, d]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def apply_row_gradients(W, rows, grads, opt_code, lr, hyper, state1, state2, row_steps, accum, touched, order):
    """Phase 2: sum each touched row's gradients (in sample order) and apply the optimizer once per row.

    Work is split by row ownership (row % parts, parts = len(order) // len(rows), one per thread), so no two
    threads write one row and the result does not depend on scheduling. ``accum`` (rows, dim) and ``touched`` (rows,) are zero on entry and on exit.
    hyper = (eps, beta1 or rho, beta2).
    """
    m_total = rows.shape[0]
    parts = order.shape[0] // max(m_total, 1)
    dim = W.shape[1]
    eps, beta1, beta2 = hyper[0], hyper[1], hyper[2]
    for part in prange(parts):
        count = 0
        base = part * m_total
        for m in range(m_total):
            row = rows[m]
            if row % parts != part:
                continue
            if touched[row] == 0:
                touched[row] = 1
                order[base + count] = row
                count += 1
            for d in range(dim):
                accum[row, d] += grads[m, d]
        for c in range(count):
            row = order[base + c]
            touched[row] = 0
            _update_row(W, row, accum[row], opt_code, lr, eps, beta1, beta2, state1, state2, row_steps)
            accum[row, :] = 0.0


@njit(inline="always")
def _dot_update_rights(L, R, li, positive, negatives, dscore, opt_code, lr, eps, state1, grad_l):
    """The dot score's right rows under SGD or row-wise Adagrad, in one pass a row: row j's gradient is
    ``dscore[j] * L[li]``, whose squared norm is ``dscore[j]**2 * |L[li]|**2``, so the row is read once, its
    old values added to ``grad_l`` (the left row's gradient) and its new ones written, with no gradient
    buffer and two passes fewer (Hogwild's default path; 14% off its step at the reference size)."""
    dim = L.shape[1]
    squared_norm = np.float32(0.0)
    if opt_code == 4:
        for d in range(dim):
            squared_norm += L[li, d] * L[li, d]
    for j in range(dscore.shape[0]):
        rj = positive if j == 0 else negatives[j - 1]
        g = dscore[j]
        scale = lr * g
        if opt_code == 4:
            state1[rj, 0] += g * g * squared_norm / np.float32(dim)
            scale /= np.sqrt(state1[rj, 0]) + eps
        for d in range(dim):
            r = R[rj, d]
            grad_l[d] += g * r
            R[rj, d] = r - scale * L[li, d]


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def hogwild_step(L, R, left, right, negatives, weight, loss_code, cosine, label_neg, opt_code, lr, hyper,
                 l_state1, l_state2, l_steps, r_state1, r_state2, r_steps, losses, parts, shared):
    """Hogwild: each of ``parts`` threads takes a contiguous share of the batch's positives and, per positive, updates its
    left row once (summed over its group) and each right row of the group, at once, without locks.

    One parallel region a batch and no gradient buffers make it about three times as fast as the two phases above,
    but concurrent writes to one row can interleave: the result depends on the thread count and timing
    (bit-for-bit repeatable on one thread only). Writes each positive's loss into ``losses``. The dot score
    under SGD or row-wise Adagrad (the defaults) updates each right row in one pass (``_dot_update_rights``);
    where a negative repeats within a group, its second update then reads the row after its first. ``shared``:
    L and R are one table (a right row may be the left row itself), which that pass does not allow for.
    """
    n, k = negatives.shape
    dim = L.shape[1]
    group = 1 + k
    eps, beta1, beta2 = hyper[0], hyper[1], hyper[2]
    share = (n + parts - 1) // parts
    fused = not cosine and not shared and (opt_code == 0 or opt_code == 4)
    lr32, eps32 = np.float32(lr), np.float32(eps)
    for part in prange(parts):
        scores = np.empty(group, np.float32)  # float32 scores: the loss's exp and log in single precision
        dscore = np.empty(group, np.float32)
        inv_r = np.ones(group)
        grad_l = np.empty(dim, np.float32)
        grad_r = np.empty((group, dim), np.float32)
        for i in range(part * share, min(n, (part + 1) * share)):
            li = left[i]
            inv_l = 1.0
            if cosine:
                norm = 0.0
                for d in range(dim):
                    norm += L[li, d] * L[li, d]
                inv_l = 1.0 / max(np.sqrt(norm), 1e-12)
            for j in range(group):
                rj = right[i] if j == 0 else negatives[i, j - 1]
                s = np.float32(0.0)
                for d in range(dim):
                    s += L[li, d] * R[rj, d]
                if cosine:
                    norm = np.float32(0.0)
                    for d in range(dim):
                        norm += R[rj, d] * R[rj, d]
                    inv_r[j] = 1.0 / max(np.sqrt(norm), 1e-12)
                    s *= inv_l * inv_r[j]
                scores[j] = s
            w = weight[i] if weight.shape[0] > 0 else 1.0
            losses[i] = _dscores(scores, w, loss_code, label_neg, dscore)
            grad_l[:] = 0.0
            if fused:
                _dot_update_rights(L, R, li, right[i], negatives[i], dscore, opt_code, lr32, eps32, r_state1,
                                   grad_l)
                _update_row(L, li, grad_l, opt_code, lr, eps, beta1, beta2, l_state1, l_state2, l_steps)
                continue
            for j in range(group):
                rj = right[i] if j == 0 else negatives[i, j - 1]
                g = np.float32(dscore[j])
                if cosine:
                    s = scores[j]
                    for d in range(dim):
                        ul = L[li, d] * inv_l
                        vr = R[rj, d] * inv_r[j]
                        grad_l[d] += g * (vr - s * ul) * inv_l
                        grad_r[j, d] = g * (ul - s * vr) * inv_r[j]
                else:
                    for d in range(dim):
                        grad_l[d] += g * R[rj, d]
                        grad_r[j, d] = g * L[li, d]
            for j in range(group):
                rj = right[i] if j == 0 else negatives[i, j - 1]
                _update_row(R, rj, grad_r[j], opt_code, lr, eps, beta1, beta2, r_state1, r_state2, r_steps)
            _update_row(L, li, grad_l, opt_code, lr, eps, beta1, beta2, l_state1, l_state2, l_steps)


#: Positions a bucket of ``epoch_order`` holds on average (its Fisher-Yates shuffle stays in the cache).
SHUFFLE_BUCKET = 4096


def epoch_order(n: int, seed: int) -> np.ndarray:
    """A uniformly random permutation of range(n) (int32, or int64 from 2**31 positions), the same for a seed
    whatever the number of threads, drawn on every thread: numpy's shuffle runs on one (2.3 s at 50M)."""
    log_buckets = max(int(np.log2(max(n // SHUFFLE_BUCKET, 1))), 0)
    return _bucket_shuffle(n, np.uint64(seed), log_buckets, 4 * get_num_threads(),
                           np.empty(n, np.int32 if n < 2**31 else np.int64))


@njit(parallel=True, cache=True)
def _bucket_shuffle(n, seed, log_buckets, chunks, out):
    """Each position to a random bucket (a hash of seed and position), the buckets laid out in order by a
    counting sort that keeps positions in order within a bucket (so the chunking, hence the thread count, does
    not matter), then each bucket shuffled by Fisher-Yates from its own stream."""
    buckets = 1 << log_buckets
    size = (n + chunks - 1) // chunks
    shift = np.uint64(64 - log_buckets) if log_buckets else np.uint64(63)
    base = seed * np.uint64(0x9E3779B97F4A7C15)
    counts = np.zeros((chunks, buckets), np.int64)
    for c in prange(chunks):
        for i in range(c * size, min(n, (c + 1) * size)):
            counts[c, (splitmix64(base + np.uint64(i)) >> shift) % np.uint64(buckets)] += 1
    offsets, starts = np.empty((chunks, buckets), np.int64), np.empty(buckets + 1, np.int64)
    total = 0
    for b in range(buckets):
        starts[b] = total
        for c in range(chunks):
            offsets[c, b] = total
            total += counts[c, b]
    starts[buckets] = total
    for c in prange(chunks):
        for i in range(c * size, min(n, (c + 1) * size)):
            b = (splitmix64(base + np.uint64(i)) >> shift) % np.uint64(buckets)
            out[offsets[c, b]] = i
            offsets[c, b] += 1
    for b in prange(buckets):
        state = base ^ (np.uint64(b + 1) * np.uint64(0xD1B54A32D192ED03))
        lo = starts[b]
        for j in range(starts[b + 1] - 1, lo, -1):
            state = splitmix64(state)
            k = lo + np.int64(state % np.uint64(j - lo + 1))
            out[j], out[k] = out[k], out[j]
    return out


@njit(parallel=True, cache=True)
def take_pairs(left, right, order):
    """(left[order], right[order]) on every thread: an epoch's shuffled pairs (numpy's gather runs on one,
    1.6-2 s an epoch at 50M pairs)."""
    n = order.shape[0]
    out_left, out_right = np.empty(n, left.dtype), np.empty(n, right.dtype)
    for i in prange(n):
        out_left[i], out_right[i] = left[order[i]], right[order[i]]
    return out_left, out_right


def optimizer_state(name: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Zeroed per-row state for a table of ``shape`` under optimizer ``name`` (Adagrad and row-wise Adagrad
    start at 0.1, as torch's ``initial_accumulator_value`` in the tests)."""
    state = {"state1": np.zeros((1, 1), np.float32), "state2": np.zeros((1, 1), np.float32),  # unused: apart,
             "row_steps": np.zeros(1, dtype=np.float32)}                                    # as safetensors needs
    if name == "adagrad":
        state["state1"] = np.full(shape, 0.1, dtype=np.float32)
    elif name == "row_adagrad":
        state["state1"] = np.full((shape[0], 1), 0.1, dtype=np.float32)
    elif name == "rmsprop":
        state["state1"] = np.zeros(shape, dtype=np.float32)
    elif name == "adam":
        state.update(state1=np.zeros(shape, np.float32), state2=np.zeros(shape, np.float32),
                     row_steps=np.zeros(shape[0], dtype=np.float32))
    return state


def optimizer_hyper(name: str) -> np.ndarray:
    """``apply_row_gradients``' hyper: (eps, beta1 or rho, beta2) for optimizer ``name``."""
    return np.array([1e-8, 0.99 if name == "rmsprop" else 0.9, 0.999])


def negative_label(loss: str) -> float:
    """The label of a negative sample under ``loss``: -1 for MSE (the reference's 1/-1), else 0."""
    return -1.0 if loss == "mse" else 0.0
