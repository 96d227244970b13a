"""EntityEmbeddingEncoder: scikit-learn's own estimator checks, pipelines, and its errors."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from entembed.errors import InputError
from entembed.sklearn import EntityEmbeddingEncoder


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks run fastest on one thread


# Every check passes; none is skipped or expected to fail (scikit-learn itself skips its array-API check
# when SCIPY_ARRAY_API is not set).
@parametrize_with_checks([EntityEmbeddingEncoder(epochs=2),
                          EntityEmbeddingEncoder(categorical_features=[0], epochs=2, hidden=(4,))])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def frame(n=1_500, seed=0):
    rng = np.random.default_rng(seed)
    shop = rng.integers(0, 12, n)
    effect = np.linspace(-2, 2, 12)[shop]
    data = pd.DataFrame({"shop": [f"s{s}" for s in shop], "day": rng.choice(["mon", "tue"], n),
                         "price": rng.normal(size=n)})
    return data, effect + data["price"] + rng.normal(scale=0.2, size=n)


def test_transform_gives_vectors_and_passes_numbers_through():
    X, y = frame()
    encoder = EntityEmbeddingEncoder(dim=3, epochs=10).fit(X, y)
    assert encoder.categorical_ == ["shop", "day"] and encoder.model_.head.task == "regression"
    out = encoder.transform(X)
    assert out.shape == (len(X), 7) and out.dtype == np.float64
    np.testing.assert_array_equal(out[:, 6], X["price"].to_numpy())
    names = list(encoder.get_feature_names_out())
    assert names == ["shop_0", "shop_1", "shop_2", "day_0", "day_1", "day_2", "price"]
    np.testing.assert_allclose(out[0, :3], encoder.model_.tables["shop"][X["shop"][0]])
    unseen = encoder.transform(X.head(2).assign(shop=["never", None]))
    np.testing.assert_allclose(unseen[0, :3], unseen[1, :3])  # both on the reserved row


def test_task_is_inferred_from_y_or_given():
    X, y = frame(300)
    assert EntityEmbeddingEncoder(epochs=1).fit(X, y > 0).model_.head.task == "binary"
    labels = np.array(["low", "mid", "high"])[np.digitize(y, [-1, 1])]
    assert EntityEmbeddingEncoder(epochs=1).fit(X, labels).model_.head.task == "multiclass"
    assert EntityEmbeddingEncoder(epochs=1, task="regression").fit(X, np.round(y)).model_.head.task == "regression"


def test_pipeline_and_column_transformer():
    X, y = frame()
    pipe = make_pipeline(EntityEmbeddingEncoder(dim=2, epochs=15, random_state=1), LinearRegression()).fit(X, y)
    assert pipe.score(X, y) > 0.9
    columns = ColumnTransformer([("embed", EntityEmbeddingEncoder(dim=2, epochs=5), ["shop", "day"]),
                                 ("scale", StandardScaler(), ["price"])])
    model = make_pipeline(columns, LogisticRegression()).fit(X, y > 0)
    assert model.score(X, y > 0) > 0.8
    assert list(columns.get_feature_names_out()) == ["embed__shop_0", "embed__shop_1", "embed__day_0",
                                                     "embed__day_1", "scale__price"]


def test_errors():
    X, y = frame(100)
    with pytest.raises(NotFittedError):
        EntityEmbeddingEncoder().transform(X)
    with pytest.raises(InputError, match=r"task must be one of regression, binary, multiclass, vector\. Got 'ranking' instead\."):
        EntityEmbeddingEncoder(task="ranking").fit(X, y)
    with pytest.raises(InputError, match=r"target column 'y' has a single value \(1\.0\); expected at least two"):
        EntityEmbeddingEncoder().fit(X, np.ones(len(X)))
    with pytest.raises(InputError, match=r"categorical_features: no column 'city'; X has 3 columns\."):
        EntityEmbeddingEncoder(categorical_features=["city"]).fit(X, y)
    with pytest.raises(InputError, match=r"numeric column 'day' row 1: expected a number, got 'mon'\."):
        EntityEmbeddingEncoder(categorical_features=["shop"]).fit(X, y)


def test_integer_column_labels_are_read_as_names():
    """Defect: a DataFrame with integer column labels raised a raw KeyError."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({0: rng.choice(["a", "b", "c"], 60), 1: rng.normal(size=60)})
    y = (X[0] == "a").astype(float) + X[1]
    encoder = EntityEmbeddingEncoder(dim=2, epochs=2, random_state=0).fit(X, y)
    out = encoder.transform(X)
    assert out.shape == (60, 3)
    np.testing.assert_array_equal(out[:, 2], X[1].to_numpy())
    assert encoder.get_feature_names_out().tolist() == ["0_0", "0_1", "1"]


def test_the_scikit_learn_extra_names_the_version_it_needs_and_no_private_api_is_used():
    """Defect: the extra said scikit-learn>=1.4 but the encoder needs 1.6 (validate_data, __sklearn_tags__)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pyproject = (root / "pyproject.toml").read_text()
    assert re.search(r'sklearn = \["scikit-learn>=1\.6"\]', pyproject)
    assert "scikit-learn>=1.4" not in pyproject
    source = (root / "src" / "entembed" / "sklearn.py").read_text()
    assert not re.search(r"from sklearn[\w.]* import .*\b_\w+", source)
