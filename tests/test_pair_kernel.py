"""The compiled step checked against a slow autograd reference of the same loss and optimizer."""

import numba
import numpy as np
import pytest
import torch

from entembed.models import pair_kernel as kernel


def reference_grads(L, R, left, right, negatives, loss, cosine, weight=None):
    Lt = torch.tensor(L, dtype=torch.float64, requires_grad=True)
    Rt = torch.tensor(R, dtype=torch.float64, requires_grad=True)
    n, k = negatives.shape
    lrows = torch.tensor(np.repeat(left, 1 + k), dtype=torch.int64)
    rrows = torch.tensor(np.concatenate([right[:, None], negatives], 1).ravel(), dtype=torch.int64)
    u, v = Lt[lrows], Rt[rrows]
    s = torch.nn.functional.cosine_similarity(u, v, dim=1) if cosine else (u * v).sum(1)
    s = s.view(n, 1 + k)
    w = torch.ones(n, dtype=torch.float64) if weight is None else torch.tensor(weight, dtype=torch.float64)
    if loss == "bpr":
        total = (torch.nn.functional.softplus(-(s[:, :1] - s[:, 1:])).sum(1) * w).sum()
    else:
        neg = -1.0 if loss == "mse" else 0.0
        labels = torch.full_like(s, neg)
        labels[:, 0] = 1.0
        per = (s - labels) ** 2 if loss == "mse" else torch.nn.functional.softplus(s) - labels * s
        weights = torch.ones_like(per)
        weights[:, 0] = w
        total = (per * weights).sum()
    total.backward()
    return float(total.detach()), Lt.grad.numpy(), Rt.grad.numpy()


@pytest.mark.parametrize("loss", ["logistic", "mse", "bpr"])
@pytest.mark.parametrize("cosine", [False, True])
def test_gradients_match_autograd(loss, cosine):
    rng = np.random.default_rng(0)
    L = rng.normal(size=(6, 4)).astype(np.float32)
    R = rng.normal(size=(7, 4)).astype(np.float32)
    left = np.array([0, 1, 1, 5], np.int32)
    right = np.array([2, 3, 3, 6], np.int32)
    negatives = rng.integers(0, 7, (4, 2)).astype(np.int32)
    weight = np.array([1.0, 2.0, 0.5, 1.0], np.float32)
    m = 4 * 3
    grad_l, grad_r = np.empty((m, 4), np.float32), np.empty((m, 4), np.float32)
    rows_l, rows_r, losses = np.empty(m, np.int32), np.empty(m, np.int32), np.empty(4)
    kernel.pair_gradients(L, R, left, right, negatives, weight, kernel.LOSS_CODES[loss], cosine,
                          -1.0 if loss == "mse" else 0.0, grad_l, grad_r, rows_l, rows_r, losses)
    total, ref_l, ref_r = reference_grads(L, R, left, right, negatives, loss, cosine, weight)
    dense_l, dense_r = np.zeros_like(L, dtype=np.float64), np.zeros_like(R, dtype=np.float64)
    np.add.at(dense_l, rows_l, grad_l)
    np.add.at(dense_r, rows_r, grad_r)
    assert losses.sum() == pytest.approx(total, rel=1e-4)
    np.testing.assert_allclose(dense_l, ref_l, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dense_r, ref_r, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "rmsprop", "adam"])
def test_row_updates_match_torch_optimizers_on_summed_gradients(optimizer):
    rng = np.random.default_rng(1)
    W = rng.normal(size=(5, 3)).astype(np.float32)
    rows = np.array([1, 3, 1, 1, 4], np.int32)
    grads = rng.normal(size=(5, 3)).astype(np.float32)
    lr = 0.1
    state = kernel.optimizer_state(optimizer, W.shape)
    hyper = np.array([1e-8, 0.99 if optimizer == "rmsprop" else 0.9, 0.999])
    accum, touched = np.zeros_like(W), np.zeros(5, np.uint8)
    ours = W.copy()
    for _ in range(2):  # two steps so optimizer state matters
        kernel.apply_row_gradients(ours, rows, grads, kernel.OPTIMIZERS[optimizer], lr, hyper, state["state1"],
                                   state["state2"], state["row_steps"], accum, touched,
                                   np.empty(2 * len(rows), np.int32))
    assert not accum.any() and not touched.any()
    param = torch.nn.Parameter(torch.tensor(W))
    torch_opt = {"sgd": lambda p: torch.optim.SGD(p, lr=lr),
                 "adagrad": lambda p: torch.optim.Adagrad(p, lr=lr, initial_accumulator_value=0.1, eps=1e-8),
                 "rmsprop": lambda p: torch.optim.RMSprop(p, lr=lr, alpha=0.99, eps=1e-8),
                 "adam": lambda p: torch.optim.Adam(p, lr=lr, eps=1e-8)}[optimizer]([param])
    summed = torch.zeros_like(param).index_add_(0, torch.tensor(rows, dtype=torch.int64), torch.tensor(grads))
    for _ in range(2):
        torch_opt.zero_grad()
        param.grad = summed.clone()
        torch_opt.step()
    touched_rows = np.unique(rows)
    np.testing.assert_allclose(ours[touched_rows], param.detach().numpy()[touched_rows], rtol=1e-5, atol=1e-6)
    untouched = np.setdiff1d(np.arange(5), touched_rows)
    assert np.array_equal(ours[untouched], W[untouched])  # lazy: rows outside the batch never move


def test_row_adagrad_is_adagrad_on_one_accumulator_a_row():
    """Row-wise Adagrad (PyTorch-BigGraph's): a row's accumulator grows by its summed gradient's mean square."""
    W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    rows, grads = np.array([2, 0, 2], np.int32), np.array([[1.0, -1.0], [3.0, 4.0], [2.0, 0.0]], np.float32)
    state = kernel.optimizer_state("row_adagrad", W.shape)
    assert state["state1"].shape == (3, 1) and (state["state1"] == np.float32(0.1)).all()
    ours = W.copy()
    for _ in range(2):
        kernel.apply_row_gradients(ours, rows, grads, kernel.OPTIMIZERS["row_adagrad"], 0.5,
                                   kernel.optimizer_hyper("row_adagrad"), state["state1"], state["state2"],
                                   state["row_steps"], np.zeros_like(W), np.zeros(3, np.uint8),
                                   np.empty(2 * len(rows), np.int32))
    # row 0: g = (3, 4), mean square 12.5; row 2: g = (3, -1), mean square 5; row 1 untouched
    expected = W.astype(np.float64)
    for row, g, mean_square in ((0, np.array([3.0, 4.0]), 12.5), (2, np.array([3.0, -1.0]), 5.0)):
        for step in (1, 2):
            expected[row] -= 0.5 * g / (np.sqrt(0.1 + step * mean_square) + 1e-8)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    np.testing.assert_allclose(state["state1"][:, 0], [25.1, 0.1, 10.1], rtol=1e-6)


@pytest.mark.parametrize("loss", ["logistic", "bpr"])
def test_huge_scores_give_finite_saturated_gradients(loss):
    """Defect: compiled with fastmath (no inf assumed) while exp overflowed for large scores."""
    L = np.full((2, 4), 3e15, np.float32)
    R = np.concatenate([np.full((1, 4), 3e15), np.full((1, 4), -3e15)]).astype(np.float32)
    left, right, negatives = np.array([0, 1], np.int32), np.array([1, 0], np.int32), np.array([[0], [1]], np.int32)
    grad_l, grad_r = np.empty((4, 4), np.float32), np.empty((4, 4), np.float32)
    rows_l, rows_r, losses = np.empty(4, np.int32), np.empty(4, np.int32), np.empty(2)
    kernel.pair_gradients(L, R, left, right, negatives, np.zeros(0, np.float32), kernel.LOSS_CODES[loss], False,
                          0.0, grad_l, grad_r, rows_l, rows_r, losses)
    assert np.isfinite(losses).all() and np.isfinite(grad_l).all() and np.isfinite(grad_r).all()
    # left 0 scores -3.6e31 with its positive (right 1) and +3.6e31 with its negative (right 0): the sigmoid
    # saturates at exactly 0 or 1, so d/ds is -1 for the positive and +1 for the negative
    if loss == "logistic":
        np.testing.assert_array_equal(grad_l[0], -R[1])
        np.testing.assert_array_equal(grad_l[1], R[0])
        assert losses[0] == pytest.approx(7.2e31, rel=1e-3)   # softplus(3.6e31) twice


@pytest.mark.parametrize("compiled", [kernel.pair_gradients, kernel.apply_row_gradients, kernel.hogwild_step])
def test_the_kernels_keep_inf_and_nan_semantics(compiled):
    """fastmath=True lets LLVM assume no inf or NaN ever occurs: undefined results once exp overflows."""
    flags = compiled.targetoptions["fastmath"]
    assert flags is not True and isinstance(flags, set) and flags.isdisjoint({"nnan", "ninf", "fast"})


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "adam", "row_adagrad"])
@pytest.mark.parametrize("loss,cosine", [("logistic", False), ("mse", True), ("bpr", False), ("logistic", True),
                                         ("mse", False)])
def test_hogwild_step_equals_the_minibatch_step_when_no_row_repeats(optimizer, loss, cosine):
    """With every left and right row touched once, updating per positive (hogwild) and summing over the batch
    first (minibatch) are the same computation: the two kernels must agree, tables and optimizer state; so
    must Hogwild's one-pass path for the dot score (SGD, row-wise Adagrad) and its general one (``shared``)."""
    rng = np.random.default_rng(3)
    L = rng.normal(size=(8, 5)).astype(np.float32)
    R = rng.normal(size=(12, 5)).astype(np.float32)
    left = np.array([0, 3, 6, 7], np.int32)
    rights = rng.permutation(12).astype(np.int32)
    right, negatives = rights[:4].copy(), rights[4:12].reshape(4, 2).copy()
    weight = np.array([1.0, 2.0, 0.5, 1.0], np.float32)
    code, hyper, label_neg = kernel.OPTIMIZERS[optimizer], kernel.optimizer_hyper(optimizer), kernel.negative_label(loss)
    states = [kernel.optimizer_state(optimizer, t.shape) for t in (L, R, L, R)]
    hog_l, hog_r, losses = L.copy(), R.copy(), np.empty(4)
    kernel.hogwild_step(hog_l, hog_r, left, right, negatives, weight, kernel.LOSS_CODES[loss], cosine, label_neg,
                        code, 0.1, hyper, *states[0].values(), *states[1].values(), losses, 1, False)
    general = [kernel.optimizer_state(optimizer, t.shape) for t in (L, R)]
    general_l, general_r = L.copy(), R.copy()
    kernel.hogwild_step(general_l, general_r, left, right, negatives, weight, kernel.LOSS_CODES[loss], cosine,
                        label_neg, code, 0.1, hyper, *general[0].values(), *general[1].values(), np.empty(4), 1, True)
    np.testing.assert_allclose(hog_l, general_l, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(hog_r, general_r, rtol=1e-5, atol=1e-7)
    grad_l, grad_r = np.empty((12, 5), np.float32), np.empty((12, 5), np.float32)
    rows_l, rows_r, mb_losses = np.empty(12, np.int32), np.empty(12, np.int32), np.empty(4)
    mb_l, mb_r = L.copy(), R.copy()
    kernel.pair_gradients(mb_l, mb_r, left, right, negatives, weight, kernel.LOSS_CODES[loss], cosine, label_neg,
                          grad_l, grad_r, rows_l, rows_r, mb_losses)
    for table, rows, grads, state in ((mb_l, rows_l, grad_l, states[2]), (mb_r, rows_r, grad_r, states[3])):
        kernel.apply_row_gradients(table, rows, grads, code, 0.1, hyper, *state.values(), np.zeros_like(table),
                                   np.zeros(len(table), np.uint8), np.empty(len(rows), np.int32))
    np.testing.assert_allclose(losses, mb_losses, rtol=1e-5)
    np.testing.assert_allclose(hog_l, mb_l, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hog_r, mb_r, rtol=1e-4, atol=1e-6)
    for hogwild_state, minibatch_state in ((states[0], states[2]), (states[1], states[3])):
        for part in hogwild_state:
            np.testing.assert_allclose(hogwild_state[part], minibatch_state[part], rtol=1e-4, atol=1e-7)
    assert not np.allclose(hog_l, L)   # the step moved the rows


@pytest.mark.parametrize("order_dtype", [np.int32, np.int64])
def test_take_pairs_is_numpys_gather(order_dtype):
    rng = np.random.default_rng(0)
    left, right = rng.integers(0, 50, 1000).astype(np.int32), rng.integers(0, 70, 1000).astype(np.int32)
    order = rng.permutation(1000).astype(order_dtype)
    taken_left, taken_right = kernel.take_pairs(left, right, order)
    np.testing.assert_array_equal(taken_left, left[order])
    np.testing.assert_array_equal(taken_right, right[order])


@pytest.mark.parametrize("n", [0, 1, 5, 4096, 100_003])
def test_epoch_order_is_a_permutation_the_same_whatever_the_threads(n):
    threads = numba.get_num_threads()
    order = kernel.epoch_order(n, 11)
    numba.set_num_threads(1)
    try:
        alone = kernel.epoch_order(n, 11)
    finally:
        numba.set_num_threads(threads)
    assert order.dtype == np.int32 and np.array_equal(np.sort(order), np.arange(n))
    assert np.array_equal(order, alone)
    if n > 1:
        assert not np.array_equal(order, kernel.epoch_order(n, 12))


@pytest.mark.parametrize("n", [8, 4 * kernel.SHUFFLE_BUCKET])  # one bucket; four buckets
def test_epoch_order_puts_each_position_anywhere_alike(n):
    """Over many seeds, where position 0 lands and which position comes first are uniform over the quarters
    of the order (chi-square with 3 degrees of freedom, below its 0.1% critical value 16.3)."""
    seeds = 2000
    orders = np.array([kernel.epoch_order(n, seed) for seed in range(seeds)])
    landed = np.argmax(orders == 0, axis=1) * 4 // n
    first = orders[:, 0] * 4 // n
    for quarters in (landed, first):
        counts = np.bincount(quarters, minlength=4)
        assert ((counts - seeds / 4) ** 2 / (seeds / 4)).sum() < 16.3, counts
