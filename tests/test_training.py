import numpy as np
import pytest

from entembed import Checkpoint, PairConfig, PairModel, Trainer, TrainSettings, planted_books, read_pairs
from entembed.errors import InputError
from entembed.evaluate import chance_agreement, neighbour_agreement
from entembed.models import pair as pair_module
from entembed.models.pair import default_batch_size


def test_training_pushes_positive_scores_above_negatives_and_recovers_genres(small_graph):
    pairs = small_graph.pairs
    model = PairModel.for_data(pairs)
    history = Trainer(quiet=True, validation=0.1, seed=1).fit(model, pairs)
    aucs = history.column("val_auc")
    assert max(aucs) > 0.88 and aucs[-1] > aucs[0] + 0.05
    agreement = neighbour_agreement(model.tables["books"], small_graph.book_genre)
    assert agreement > 5 * chance_agreement(small_graph.book_genre)


@pytest.mark.parametrize("score,loss,optimizer", [("cosine", "mse", "adam"), ("dot", "bpr", "adagrad"),
                                                  ("cosine", "logistic", "rmsprop"), ("dot", "logistic", "sgd")])
def test_every_loss_score_and_optimizer_learns(small_graph, score, loss, optimizer):
    pairs = small_graph.pairs
    model = PairModel.for_data(pairs, PairConfig(score=score, loss=loss, sampling="popularity"))
    history = Trainer(quiet=True, validation=0.1, optimizer=optimizer, epochs=8).fit(model, pairs)
    assert history.column("val_auc")[-1] > 0.75, history.epochs[-1]


@pytest.mark.parametrize("update,threads", [("hogwild", 1), ("minibatch", None)])
def test_same_seed_same_vectors_and_other_seed_differs(small_graph, update, threads):
    """Hogwild repeats itself on one thread; minibatch updates on any thread count."""
    def train(seed):
        model = PairModel.for_data(small_graph.pairs, PairConfig(update=update), seed=seed)
        Trainer(quiet=True, epochs=2, seed=seed, threads=threads).fit(model, small_graph.pairs)
        return model.tables["books"].vectors

    assert np.array_equal(train(4), train(4))
    assert not np.array_equal(train(4), train(5))


def test_early_stopping_restores_the_best_epoch(small_graph):
    model = PairModel.for_data(small_graph.pairs)
    history = Trainer(quiet=True, validation=0.2, epochs=60, patience=2, lr=2.0, optimizer="adagrad").fit(
        model, small_graph.pairs)
    assert history.stopped_early and len(history.epochs) < 60
    best = history.epochs[history.best_epoch - 1]["val_auc"]
    assert best == max(history.column("val_auc"))


def test_shared_table_and_weights():
    rows = [("a", "b", 1.0), ("b", "c", 1.0), ("c", "d", 1.0), ("d", "a", 1.0), ("e", "f", 1.0),
            ("f", "g", 1.0), ("g", "h", 1.0), ("h", "e", 1.0)]

    def train(weight_of_ab: float) -> PairModel:
        pairs = read_pairs([(a, b, weight_of_ab if (a, b) == ("a", "b") else w) for a, b, w in rows], weight=2,
                           shared_vocab=True)
        model = PairModel.for_data(pairs, PairConfig(shared=True, dim=4))
        Trainer(quiet=True, epochs=5).fit(model, pairs)
        return model

    model = train(1.0)
    assert list(model.tables) == ["left"] and len(model.tables["left"]) == 8
    assert model.left is model.right                       # one table serves both sides
    assert list(model.state_dict()) == ["left"]            # and is saved once
    heavy = train(20.0)
    # a heavier (a, b) pair pulls a and b closer than the same pair with weight 1
    assert heavy.tables["left"].similarity("a", "b", "dot") > model.tables["left"].similarity("a", "b", "dot")


def test_bad_settings_are_refused(small_graph):
    with pytest.raises(InputError, match="dim must be an int >= 1. Got 0 instead."):
        PairConfig(dim=0)
    with pytest.raises(InputError, match="loss must be one of logistic, mse, bpr. Got 'hinge' instead."):
        PairConfig(loss="hinge")
    with pytest.raises(InputError, match="epochs must be an int >= 1. Got -1 instead."):
        TrainSettings(epochs=-1)
    with pytest.raises(InputError, match=r"validation must be a number in \[0, 1\). Got 1.5 instead."):
        TrainSettings(validation=1.5)
    with pytest.raises(InputError, match="optimizer must be one of sgd, adagrad, rmsprop, adam, row_adagrad for a "
                                         "pair model. Got 'lbfgs' instead."):
        Trainer(optimizer="lbfgs", quiet=True).fit(PairModel.for_data(small_graph.pairs), small_graph.pairs)


def test_checkpoints_are_model_folders_and_progress_is_silenced(tmp_path, small_graph, capsys):
    from entembed import load

    model = PairModel.for_data(small_graph.pairs)
    Trainer(quiet=True, epochs=2).fit(model, small_graph.pairs, on_epoch=Checkpoint(model, tmp_path / "ckpt"))
    saved = load(tmp_path / "ckpt")
    assert len(saved.history.epochs) == 2
    np.testing.assert_array_equal(saved.tables["books"].vectors, model.tables["books"].vectors)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_left_keys_without_pairs_get_zero_vectors():
    pairs = read_pairs([("a", "x"), ("b", "y"), ("c", "x"), ("c", "z"), ("d", "y")])
    lonely = entembed_vocab_with_extra(pairs.left_vocab, "nobody")
    pairs = type(pairs)(pairs.left, pairs.right, lonely, pairs.right_vocab)
    model = PairModel.for_data(pairs, PairConfig(dim=4))
    Trainer(quiet=True, epochs=3).fit(model, pairs)
    books = model.tables["left"]
    assert not books["nobody"].any() and books["a"].any()
    assert books.similarity("a", "nobody") == 0.0 and books.most_similar("a", topn=1)[0][0] == "c"


def entembed_vocab_with_extra(vocab, key):
    from entembed import Vocab

    return Vocab(vocab.keys + [key], list(vocab.counts) + [0], name=vocab.name)


def test_fitting_again_keeps_what_was_learned():
    """Defect: a second fit zeroed every left row without a pair in the new data."""
    graph = planted_books(n_books=500, n_links=600, n_pairs=10_000, n_genres=5, seed=2)
    model = PairModel.for_data(graph.pairs, PairConfig(dim=16))
    Trainer(quiet=True, epochs=3).fit(model, graph.pairs)
    learned = model.tables["books"].vectors.copy()
    Trainer(quiet=True, epochs=1).fit(model, graph.pairs.subset(np.arange(100)))
    after = model.tables["books"].vectors
    untouched = np.bincount(graph.pairs.left[:100], minlength=500) == 0
    assert (~after.any(axis=1)).sum() == (~learned.any(axis=1)).sum()          # no learned row wiped
    np.testing.assert_array_equal(after[untouched], learned[untouched])       # rows without pairs kept as they were


def test_for_data_leaves_the_callers_config_alone(small_graph):
    """Defect: for_pairs wrote the table names into the PairConfig passed in."""
    config = PairConfig(dim=8)
    model = PairModel.for_data(small_graph.pairs, config)
    assert (config.left_name, config.right_name) == ("left", "right")
    assert (model.config.left_name, model.config.right_name) == ("books", "links")


def test_minibatch_updates_give_the_same_vectors_whatever_the_thread_count(small_graph):
    def train(threads: int) -> np.ndarray:
        model = PairModel.for_data(small_graph.pairs, PairConfig(dim=16, update="minibatch"))
        Trainer(quiet=True, epochs=2, threads=threads, batch_size=30_000).fit(model, small_graph.pairs)
        return model.tables["books"].vectors

    np.testing.assert_array_equal(train(1), train(2))


def test_hogwild_on_one_thread_repeats_and_learns_as_well_as_minibatch(small_graph):
    def train(update: str) -> np.ndarray:
        model = PairModel.for_data(small_graph.pairs, PairConfig(dim=16, update=update))
        Trainer(quiet=True, epochs=3, threads=1).fit(model, small_graph.pairs)
        return model.tables["books"]

    first, again, minibatch = train("hogwild"), train("hogwild"), train("minibatch")
    np.testing.assert_array_equal(first.vectors, again.vectors)
    hogwild_score = neighbour_agreement(first, small_graph.book_genre)
    assert hogwild_score > 0.9 and hogwild_score >= neighbour_agreement(minibatch, small_graph.book_genre) - 0.03


def test_training_negatives_never_see_validation_positives(small_graph):
    """Defect: the training negatives excluded the validation positives (a leak from the held-out pairs)."""
    pairs = small_graph.pairs
    model = PairModel.for_data(pairs)
    train, val = model.hold_out(pairs, np.arange(0, len(pairs), 10))
    task = model.training_task(train, val, optimizer="adagrad", lr=0.2, rng=np.random.default_rng(0))
    assert len(task.sampler.indices) == len(train)   # the sampler knows the training positives only
    known = set(zip(pairs.left.tolist(), pairs.right.tolist()))
    val_negatives = task._val_right[len(val):]
    assert not any((l, r) in known for l, r in zip(val.left.tolist(), val_negatives.tolist()))


def test_tables_are_read_only_views_built_once(small_graph):
    model = PairModel.for_data(small_graph.pairs, PairConfig(dim=8))
    Trainer(quiet=True, epochs=1).fit(model, small_graph.pairs)
    tables = model.tables
    assert model.tables is tables and tables["books"] is model.tables["books"]
    books = tables["books"].vectors
    assert not books.flags.writeable and np.shares_memory(books, model.left.data.numpy())
    Trainer(quiet=True, epochs=1).fit(model, small_graph.pairs)
    assert model.tables is not tables   # a fit changes the weights: the views are built anew


def test_tables_asked_for_during_training_answer_from_that_epochs_vectors(small_graph):
    model = PairModel.for_data(small_graph.pairs, PairConfig(dim=8))
    seen = []

    def check(epoch: int, record: dict) -> None:
        books = model.tables["books"]
        ids, _ = books.search([0], k=3)
        unit = books.vectors / np.linalg.norm(books.vectors, axis=1, keepdims=True)
        scores = unit @ unit[0]
        scores[0] = -np.inf
        seen.append((ids[0].tolist(), np.argsort(-scores, kind="stable")[:3].tolist(), books.vectors.copy()))

    Trainer(quiet=True, epochs=3).fit(model, small_graph.pairs, on_epoch=check)
    for found, expected, _ in seen:
        assert found == expected       # the index was built from this epoch's vectors, not the first's
    assert not np.array_equal(seen[0][2], seen[2][2])
    first = model.tables["books"]
    Trainer(quiet=True, epochs=1).fit(model, small_graph.pairs)
    assert not np.array_equal(first.vectors, model.tables["books"].vectors)   # a kept Embeddings is a snapshot


def test_the_saved_settings_name_the_optimizer_and_learning_rate_used(small_graph):
    model = PairModel.for_data(small_graph.pairs, PairConfig(dim=4))
    Trainer(quiet=True, epochs=1).fit(model, small_graph.pairs)
    settings = model.train_settings
    assert (settings.optimizer, settings.lr) == ("row_adagrad", PairModel.DEFAULT_LR["row_adagrad"])


def test_hogwild_takes_larger_steps_but_the_same_default_epochs(small_graph):
    """Hogwild's step is only a unit of work (about 50 an epoch); the default epochs are still counted in
    minibatch-sized steps, so they do not change; a batch size the user gives counts its own steps."""
    pairs = small_graph.pairs  # 30,000 pairs: minibatch steps of 256 positives (118 an epoch), Hogwild of 1,024
    assert default_batch_size(30_000, 2) == 256 * 3 and default_batch_size(30_000, 2, "hogwild") == 1024 * 3
    assert default_batch_size(772_800, 2, "hogwild") == 15_456 * 3            # 50 steps at the reference size
    assert default_batch_size(50_000_000, 2, "hogwild") == 65_536 * 3
    epochs = {}
    for update, batch_size in (("hogwild", None), ("minibatch", None), ("hogwild", 1024 * 3)):
        model = PairModel.for_data(pairs, PairConfig(dim=8, update=update))
        epochs[update, batch_size] = len(Trainer(quiet=True, batch_size=batch_size).fit(model, pairs).epochs)
    assert epochs["hogwild", None] == epochs["minibatch", None] == 10
    assert epochs["hogwild", 1024 * 3] == 34                                  # ceil(1,000 / 30 steps)


def test_hogwild_weight_decay_counts_minibatch_sized_slices(small_graph, monkeypatch):
    """l2 shrinks a touched row once a minibatch-sized step: a Hogwild step four times larger decays a row
    touched in each quarter four times, a row touched in one quarter once."""
    pairs = small_graph.pairs
    model = PairModel.for_data(pairs, PairConfig(dim=4, l2=0.1))
    task = model.training_task(pairs, None, optimizer="sgd", lr=0.5, rng=np.random.default_rng(0))
    monkeypatch.setattr(pair_module.kernel, "hogwild_step", lambda *args: None)  # the decay alone
    for table in task.tables:
        table[:] = 1.0
    per = task.minibatch_batch_size // 3                                     # 256 positives
    left, right = np.full(4 * per, 5, np.int32), np.full(4 * per, 7, np.int32)
    left[[0, per, 2 * per, 3 * per]], left[1] = 0, 1
    task.step((left, right, np.full((4 * per, 2), 9, np.int32), np.zeros(0, np.float32)))
    shrink = 1 - 0.5 * 0.1
    np.testing.assert_allclose(task.tables[0][[0, 1, 5, 3], 0], [shrink**4, shrink, shrink**4, 1.0], rtol=1e-6)
    np.testing.assert_allclose(task.tables[1][[7, 9, 8], 0], [shrink**4, shrink**4, 1.0], rtol=1e-6)
