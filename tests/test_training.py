import numpy as np
import pytest

from entembed import PairConfig, PairModel, Trainer, TrainSettings, read_pairs
from entembed.errors import InputError
from entembed.evaluate import chance_agreement, neighbour_agreement


def test_training_pushes_positive_scores_above_negatives_and_recovers_genres(small_graph):
    pairs = small_graph.pairs
    model = PairModel.for_pairs(pairs)
    history = Trainer(quiet=True, validation=0.1, seed=1).fit(model, pairs)
    aucs = history.column("val_auc")
    assert max(aucs) > 0.88 and aucs[-1] > aucs[0] + 0.05
    agreement = neighbour_agreement(model.tables["books"], small_graph.book_genre)
    assert agreement > 5 * chance_agreement(small_graph.book_genre)


@pytest.mark.parametrize("score,loss,optimizer", [("cosine", "mse", "adam"), ("dot", "bpr", "adagrad"),
                                                  ("cosine", "logistic", "rmsprop"), ("dot", "logistic", "sgd")])
def test_every_loss_score_and_optimizer_learns(small_graph, score, loss, optimizer):
    pairs = small_graph.pairs
    model = PairModel.for_pairs(pairs, PairConfig(score=score, loss=loss, sampling="popularity"))
    history = Trainer(quiet=True, validation=0.1, optimizer=optimizer, epochs=8).fit(model, pairs)
    assert history.column("val_auc")[-1] > 0.75, history.epochs[-1]


def test_same_seed_same_vectors_and_other_seed_differs(small_graph):
    def train(seed):
        model = PairModel.for_pairs(small_graph.pairs, seed=seed)
        Trainer(quiet=True, epochs=2, seed=seed).fit(model, small_graph.pairs)
        return model.tables["books"].vectors

    assert np.array_equal(train(4), train(4))
    assert not np.array_equal(train(4), train(5))


def test_early_stopping_restores_the_best_epoch(small_graph):
    model = PairModel.for_pairs(small_graph.pairs)
    history = Trainer(quiet=True, validation=0.2, epochs=60, patience=2, lr=2.0, optimizer="adagrad").fit(
        model, small_graph.pairs)
    assert history.stopped_early and len(history.epochs) < 60
    best = history.epochs[history.best_epoch - 1]["val_auc"]
    assert best == max(history.column("val_auc"))


def test_shared_table_and_weights():
    pairs = read_pairs([("a", "b", 2.0), ("b", "c", 1.0), ("c", "d", 1.0), ("d", "a", 1.0), ("e", "f", 1.0),
                        ("f", "g", 1.0), ("g", "h", 1.0), ("h", "e", 1.0)], weight=2, shared_vocab=True)
    model = PairModel.for_pairs(pairs, PairConfig(shared=True, dim=4))
    Trainer(quiet=True, epochs=5).fit(model, pairs)
    assert list(model.tables) == ["left"] and len(model.tables["left"]) == 8


def test_bad_settings_are_refused(small_graph):
    with pytest.raises(InputError, match="dim must be an int >= 1. Got 0 instead."):
        PairConfig(dim=0)
    with pytest.raises(InputError, match="loss must be one of logistic, mse, bpr. Got 'hinge' instead."):
        PairConfig(loss="hinge")
    with pytest.raises(InputError, match="epochs must be an int >= 1. Got -1 instead."):
        TrainSettings(epochs=-1)
    with pytest.raises(InputError, match=r"validation must be a number in \[0, 1\). Got 1.5 instead."):
        TrainSettings(validation=1.5)
    with pytest.raises(InputError, match="optimizer must be one of sgd, adagrad, rmsprop, adam. Got 'lbfgs'"):
        Trainer(optimizer="lbfgs", quiet=True).fit(PairModel.for_pairs(small_graph.pairs), small_graph.pairs)


def test_checkpoints_are_model_folders_and_progress_is_silenced(tmp_path, small_graph, capsys):
    from entembed import load

    model = PairModel.for_pairs(small_graph.pairs)
    Trainer(quiet=True, epochs=2, checkpoint_dir=str(tmp_path / "ckpt")).fit(model, small_graph.pairs)
    saved = load(tmp_path / "ckpt")
    assert len(saved.history.epochs) == 2
    np.testing.assert_array_equal(saved.tables["books"].vectors, model.tables["books"].vectors)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_left_keys_without_pairs_get_zero_vectors():
    pairs = read_pairs([("a", "x"), ("b", "y"), ("c", "x"), ("c", "z"), ("d", "y")])
    lonely = entembed_vocab_with_extra(pairs.left_vocab, "nobody")
    pairs = type(pairs)(pairs.left, pairs.right, lonely, pairs.right_vocab)
    model = PairModel.for_pairs(pairs, PairConfig(dim=4))
    Trainer(quiet=True, epochs=3).fit(model, pairs)
    books = model.tables["left"]
    assert not books["nobody"].any() and books["a"].any()
    assert books.similarity("a", "nobody") == 0.0 and books.most_similar("a", topn=1)[0][0] == "c"


def entembed_vocab_with_extra(vocab, key):
    from entembed import Vocab

    return Vocab(vocab.keys + [key], list(vocab.counts) + [0], name=vocab.name)
