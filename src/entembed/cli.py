"""The command line: parses arguments, calls the Python API, prints. Nothing is computed only here.

User errors (bad files, unknown keys, invalid options) print one line and exit with code 2.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .errors import EntembedError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Learn embeddings of discrete things from a supervised task, then query them.")
train_app = typer.Typer(no_args_is_help=True, help="Train a model and save it as a folder.")
app.add_typer(train_app, name="train")


def user_errors(command: Callable) -> Callable:
    """Turn entembed's input errors (and unknown keys) into one line on stderr and exit code 2."""
    flags = _flags(command)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (EntembedError, KeyError, FileNotFoundError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            name, _, rest = message.partition(" ")
            typer.echo(f"error: {flags[name] + ' ' + rest if name in flags else message}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _flags(command: Callable) -> dict[str, str]:
    """Each option's Python name -> its long flag ("min_count" -> "--min-count"), so that a message opening
    with a setting's name ("min_count must be ...") names the flag the user typed instead."""
    flags = {}
    for name, parameter in inspect.signature(command).parameters.items():
        long = [d for d in getattr(parameter.default, "param_decls", None) or () if d.startswith("--")]
        if long:
            flags[name] = long[0]
    return flags


def report_training(model, output: Path) -> None:
    """One line after training: epochs, the task, and the loss and validation metrics of the saved weights."""
    history = model.history
    restored = getattr(model.train_settings, "patience", None) is not None and history.best_epoch
    saved = history.epochs[history.best_epoch - 1] if restored else history.epochs[-1]
    metrics = ", ".join(f"{k[4:].replace('_', '-')} {v:.4f}" for k, v in saved.items() if k.startswith("val_"))
    head = getattr(model, "head", None)
    task = f" ({head.task})" if head is not None else ""
    typer.echo(f"trained {len(history.epochs)} epochs{task}: loss {saved['loss']:.4f}"
               f"{'; validation ' + metrics if metrics else ''}; saved {output}")


# Options shared by every `train` command.
EpochsOpt = typer.Option(None, "--epochs", help="Passes over the data (default: 10, more on small data).")
DimOpt = typer.Option(50, "--dim", help="Embedding size.")
SeedOpt = typer.Option(0, "--seed", help="Random seed; the same seed gives the same vectors.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bar or epoch lines.")
OptimizerOpt = typer.Option("adagrad", "--optimizer", help="sgd, adagrad, rmsprop or adam.")
LrOpt = typer.Option(None, "--lr", help="Learning rate (default: measured per optimizer).")
BatchOpt = typer.Option(None, "--batch-size", help="Samples per step, negatives included (default: sized to data).")
ValidationOpt = typer.Option(0.0, "--validation", help="Share of pairs held out; AUC is reported each epoch.")
PatienceOpt = typer.Option(None, "--patience", help="Stop after N epochs without validation improvement.")
ScoreOpt = typer.Option("dot", "--score", help="dot or cosine.")
LossOpt = typer.Option("logistic", "--loss", help="logistic (1/0), mse (1/-1, the reference) or bpr.")
NegativesOpt = typer.Option(2, "--negatives", help="Negative samples per positive pair.")
SamplingOpt = typer.Option("uniform", "--sampling", help="uniform or popularity (count ** 0.75).")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads for training (default: all cores).")


def _pair_setup(*, epochs, dim, seed, quiet, optimizer, lr, batch_size, validation, patience, score, loss,
                negatives, sampling, threads, shared: bool = False):
    """TrainSettings and PairConfig from the CLI options, checked before any data is read."""
    from .models.pair import PairConfig
    from .train import TrainSettings

    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                             validation=validation, patience=patience, quiet=quiet, threads=threads)
    return settings, PairConfig(dim=dim, score=score, loss=loss, negatives=negatives, sampling=sampling, shared=shared)


def _train_pairs_and_save(pairs, output: Path, settings, config, attachments: dict[str, str] | None = None) -> None:
    from .models.pair import PairModel
    from .storage import save_model
    from .train import Trainer

    model = PairModel.for_pairs(pairs, config, seed=settings.seed)
    Trainer(settings).fit(model, pairs)
    save_model(model, output, settings=settings, attachments=attachments)
    report_training(model, output)


@train_app.command("pairs")
@user_errors
def train_pairs(file: Path = typer.Argument(..., help="CSV, TSV, Parquet or NDJSON file of pairs."),
                left: str = typer.Option(..., "--left", help="Column of left keys."),
                right: str = typer.Option(..., "--right", help="Column of right keys."),
                weight: Optional[str] = typer.Option(None, "--weight", help="Optional column of pair weights."),
                output: Path = typer.Option(Path("model"), "-o", "--output", help="Model folder to write."),
                min_count: int = typer.Option(1, "--min-count", help="Drop keys seen fewer times."),
                sum_duplicates: bool = typer.Option(False, "--sum-duplicates", help="Sum repeated pairs into a weight."),
                shared: bool = typer.Option(False, "--shared", help="One table for both columns."),
                epochs: Optional[int] = EpochsOpt, dim: int = DimOpt, seed: int = SeedOpt, quiet: bool = QuietOpt,
                optimizer: str = OptimizerOpt, lr: Optional[float] = LrOpt, batch_size: Optional[int] = BatchOpt,
                validation: float = ValidationOpt, patience: Optional[int] = PatienceOpt, score: str = ScoreOpt,
                loss: str = LossOpt, negatives: int = NegativesOpt, sampling: str = SamplingOpt,
                threads: Optional[int] = ThreadsOpt) -> None:
    """Learn left and right embeddings from (left, right) pairs in FILE."""
    from .data.pairs import read_pairs

    settings, config = _pair_setup(epochs=epochs, dim=dim, seed=seed, quiet=quiet, optimizer=optimizer, lr=lr,
                                   batch_size=batch_size, validation=validation, patience=patience, score=score,
                                   loss=loss, negatives=negatives, sampling=sampling, threads=threads,
                                   shared=shared)
    pairs = read_pairs(file, left=left, right=right, weight=weight, min_count=min_count,
                       duplicates="sum" if sum_duplicates else "drop", shared_vocab=shared)
    if not quiet:
        typer.echo(f"read {pairs!r}")
    _train_pairs_and_save(pairs, output, settings, config)


@train_app.command("books")
@user_errors
def train_books(file: Path = typer.Argument(..., help="Wikipedia books NDJSON (one JSON array a line)."),
                output: Path = typer.Option(Path("books-model"), "-o", "--output", help="Model folder to write."),
                min_count: int = typer.Option(4, "--min-count", help="Keep links that at least this many books have."),
                epochs: Optional[int] = EpochsOpt, dim: int = DimOpt, seed: int = SeedOpt, quiet: bool = QuietOpt,
                optimizer: str = OptimizerOpt, lr: Optional[float] = LrOpt, batch_size: Optional[int] = BatchOpt,
                validation: float = ValidationOpt, patience: Optional[int] = PatienceOpt, score: str = ScoreOpt,
                loss: str = LossOpt, negatives: int = NegativesOpt, sampling: str = SamplingOpt,
                threads: Optional[int] = ThreadsOpt) -> None:
    """Learn book and link embeddings from the Wikipedia books format, preprocessed as the reference did."""
    from .data.books import read_books

    settings, config = _pair_setup(epochs=epochs, dim=dim, seed=seed, quiet=quiet, optimizer=optimizer, lr=lr,
                                   batch_size=batch_size, validation=validation, patience=patience, score=score,
                                   loss=loss, negatives=negatives, sampling=sampling, threads=threads)
    books = read_books(file, min_count=min_count)
    typer.echo(f"read {books.summary()}")
    _train_pairs_and_save(books.pairs, output, settings, config,
                          attachments={"books-info.csv": books.info.to_csv(index=False)})


def format_neighbours(table: str, key: str, neighbours: list[tuple[str, float]], metric: str) -> str:
    """The source's layout: 'Books closest to War and Peace.' then one 'Book: title  Similarity: 0.79' a line."""
    noun = table[:-1] if table.endswith("s") and len(table) > 1 else table
    label = "Distance" if metric == "euclidean" else "Similarity"
    width = max([len(k) for k, _ in neighbours] + [len(key)])
    lines = [f"{noun.capitalize()}s closest to {key}.", ""]
    lines += [f"{noun.capitalize()}: {k:<{width}}  {label}: {s:.2f}" for k, s in neighbours]
    return "\n".join(lines)


@app.command("neighbors")
@user_errors
def neighbors(model_dir: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
              key: str = typer.Argument(..., help="The key to find neighbours of."),
              k: int = typer.Option(10, "-k", help="How many neighbours."),
              table: Optional[str] = typer.Option(None, "--table", help="Table to search (default: the first)."),
              metric: str = typer.Option("cosine", "--metric", help="cosine, dot or euclidean."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """Print the K nearest neighbours of KEY in a trained model."""
    from .storage import load

    model = load(model_dir)
    tables = model.tables
    name = table or next(iter(tables))
    if name not in tables:
        raise EntembedError(f"{model_dir}: no table {name!r}; the tables are {', '.join(map(repr, tables))}.")
    found = tables[name].most_similar(key, topn=k, metric=metric)
    if as_json:
        typer.echo(json.dumps({"table": name, "key": key, "metric": metric,
                               "neighbors": [{"key": n, "score": s} for n, s in found]}, ensure_ascii=False))
    else:
        typer.echo(format_neighbours(name, key, found, metric))


@app.command("demo")
@user_errors
def demo(name: str = typer.Argument("books", help="Which demo: books (default) or tokens."),
         output: Optional[Path] = typer.Option(None, "-o", "--output", help="Model folder to write."),
         quiet: bool = QuietOpt) -> None:
    """Run a built-in demo on generated data with a known answer (nothing to download)."""
    from .demo import run_demo

    run_demo(name, output=output, quiet=quiet)


wiki_app = typer.Typer(no_args_is_help=True, help="Build entity data sets from MediaWiki XML dumps.")
app.add_typer(wiki_app, name="wiki")


@wiki_app.command("extract")
@user_errors
def wiki_extract(dumps: list[Path] = typer.Argument(..., metavar="DUMP...", help="MediaWiki XML dump, plain or "
                                                    ".bz2; or every part of a multi-part dump."),
                 output: Path = typer.Option(..., "-o", "--output", help="NDJSON file to write (the books layout)."),
                 template: str = typer.Option("Infobox book", "--template", help="The infobox template to look for."),
                 alias: list[str] = typer.Option([], "--alias", help="Another name of the template (repeatable)."),
                 processes: Optional[int] = typer.Option(None, "--processes", "-j",
                                                         help="Worker processes (default: every core)."),
                 quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar.")) -> None:
    """Write every article of the dump(s) that uses the infobox TEMPLATE to OUTPUT, one JSON array a line."""
    from .data.wikidump import extract_infobox_pages

    stats = extract_infobox_pages(dumps, template, output, aliases=alias, processes=processes, quiet=quiet)
    typer.echo(f"wrote {stats.matches:,} pages using {template!r} of {stats.pages:,} read "
               f"({stats.pages_per_second:,.0f} pages/s) to {output}")


def _names(option: str, value: str) -> list[str]:
    """A comma-separated list of column names (empty string: none)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _widths(value: str) -> tuple[int, ...]:
    """--hidden "64,32" as layer widths; "" means no hidden layer."""
    try:
        widths = tuple(int(part) for part in _names("--hidden", value))
    except ValueError:
        raise EntembedError(f"--hidden must be comma-separated layer widths such as 64,32. Got {value!r} instead.") from None
    return widths


def _pair(option: str, value: str, convert: Callable[[str], Any], example: str) -> tuple[Any, Any] | None:
    """An option given as two comma-separated values (e.g. --target-range "0.5,5.5"); "" means not set."""
    if not value:
        return None
    try:
        first, second = (convert(part) for part in value.split(","))
    except ValueError:
        kind = "numbers" if convert is float else "integers"
        raise EntembedError(f"{option} must be two {kind} such as {example}. Got {value!r} instead.") from None
    return first, second


@train_app.command("table")
@user_errors
def train_table_command(
        file: Path = typer.Argument(..., help="CSV, TSV, Parquet or NDJSON table."),
        target: str = typer.Option(..., "--target", help="Column to predict."),
        categorical: str = typer.Option("", "--categorical", help="Comma-separated categorical columns (one table each)."),
        numeric: str = typer.Option("", "--numeric", help="Comma-separated numeric columns (standardised)."),
        task: Optional[str] = typer.Option(None, "--task", help="regression, binary or multiclass (default: inferred)."),
        output: Path = typer.Option(Path("table-model"), "-o", "--output", help="Model folder to write."),
        hidden: str = typer.Option("64,32", "--hidden", help="Hidden layer widths, comma-separated."),
        dropout: float = typer.Option(0.0, "--dropout", help="Dropout after each hidden layer."),
        embedding_dropout: float = typer.Option(0.0, "--embedding-dropout", help="Dropout on the embeddings."),
        biases: bool = typer.Option(False, "--biases", help="Also learn a bias per category, added to the output."),
        target_range: str = typer.Option("", "--target-range", metavar="LOW,HIGH",
                                         help="Regression: squash predictions into (LOW, HIGH), e.g. 0.5,5.5."),
        dim: Optional[int] = typer.Option(None, "--dim", help="Embedding size (default: min(600, 1.6 n^0.56))."),
        min_count: int = typer.Option(1, "--min-count", help="Rarer categories share the reserved row."),
        validation: float = typer.Option(0.1, "--validation", help="Share of rows held out; metrics each epoch."),
        patience: Optional[int] = PatienceOpt, epochs: Optional[int] = EpochsOpt, seed: int = SeedOpt,
        quiet: bool = QuietOpt, lr: Optional[float] = LrOpt, batch_size: Optional[int] = BatchOpt,
        optimizer: str = typer.Option("adam", "--optimizer", help="sgd, adagrad, rmsprop or adam."),
        threads: Optional[int] = ThreadsOpt) -> None:
    """Learn entity embeddings of the categorical columns of FILE by predicting --target."""
    from .models.tabular import TableConfig, train_table
    from .storage import save_model

    config = TableConfig(dim=dim, hidden=_widths(hidden), dropout=dropout, embedding_dropout=embedding_dropout,
                         biases=biases, target_range=_pair("--target-range", target_range, float, "0.5,5.5"))
    model = train_table(file, target=target, categorical=_names("--categorical", categorical),
                        numeric=_names("--numeric", numeric), task=task, config=config, min_count=min_count,
                        epochs=epochs, seed=seed, quiet=quiet, lr=lr, batch_size=batch_size, optimizer=optimizer,
                        validation=validation, patience=patience, threads=threads)
    save_model(model, output)
    report_training(model, output)


@app.command("predict")
@user_errors
def predict(model_dir: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
            file: Path = typer.Argument(..., help="CSV, TSV, Parquet or NDJSON rows to predict."),
            output: Path = typer.Option(..., "-o", "--output", help="CSV to write: the rows plus predictions.")) -> None:
    """Predict FILE's rows with a trained model: a `prediction` column, plus `proba_<class>` for classifiers."""
    import os

    from .data.pairs import read_table
    from .errors import InputError
    from .storage import load

    model = load(model_dir)
    if not callable(getattr(model, "predict", None)):
        raise EntembedError(f"{model_dir}: a {model.kind!r} model does not predict; train a table or text model.")
    frame = read_table(file)
    result = frame.copy()
    result["prediction"] = model.predict(frame)
    try:
        proba = model.predict_proba(frame) if callable(getattr(model, "predict_proba", None)) else None
    except InputError:  # regression
        proba = None
    if proba is not None:
        classes = getattr(model, "classes", None) or list(range(proba.shape[1]))
        for j, label in enumerate(classes):
            result[f"proba_{label}"] = proba[:, j]
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        result.to_csv(temporary, index=False)
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    typer.echo(f"predicted {len(result):,} rows; wrote {output}")


# -- bags of tokens: text and interaction histories (issue 4) ----------------------------------------------
PoolingOpt = typer.Option("mean", "--pooling", help="How a bag's vectors are pooled: mean, sum or sqrtn.")
HiddenOpt = typer.Option(0, "--hidden", help="Size of a ReLU layer after pooling (0: none).")


@train_app.command("text")
@user_errors
def train_text_command(
        file: Path = typer.Argument(..., help="CSV, TSV, Parquet or NDJSON file with a text and a label column."),
        text: str = typer.Option(..., "--text", help="Column of texts."),
        label: str = typer.Option(..., "--label", help="Column of labels (or numbers, for regression)."),
        output: Path = typer.Option(Path("text-model"), "-o", "--output", help="Model folder to write."),
        task: Optional[str] = typer.Option(None, "--task", help="regression, binary or multiclass (default: inferred)."),
        min_count: int = typer.Option(1, "--min-count", help="Keep words seen at least this often."),
        max_size: Optional[int] = typer.Option(None, "--max-size", help="Keep at most this many words."),
        ngrams: int = typer.Option(1, "--ngrams", help="2 adds word bigrams as keys, 3 also trigrams."),
        ngram_min_count: Optional[int] = typer.Option(None, "--ngram-min-count",
                                                      help="Keep n-grams seen this often (default: --min-count)."),
        char_ngrams: str = typer.Option("", "--char-ngrams", metavar="MIN,MAX",
                                        help="Also fastText subwords: character n-grams of these lengths, e.g. 3,6."),
        nb_weights: bool = typer.Option(False, "--nb-weights",
                                        help="Binary labels: weight each token by its naive Bayes log-count ratio."),
        dropout: float = typer.Option(0.0, "--dropout", help="Dropout on the pooled vector (and the hidden layer)."),
        pooling: str = PoolingOpt, hidden: int = HiddenOpt,
        epochs: Optional[int] = EpochsOpt, dim: int = DimOpt, seed: int = SeedOpt, quiet: bool = QuietOpt,
        optimizer: str = OptimizerOpt, lr: Optional[float] = LrOpt, batch_size: Optional[int] = BatchOpt,
        validation: float = typer.Option(0.0, "--validation", help="Share of rows held out; metrics each epoch."),
        patience: Optional[int] = PatienceOpt, threads: Optional[int] = ThreadsOpt) -> None:
    """Learn word embeddings from the texts in FILE by predicting their label."""
    from .data.pairs import read_table
    from .data.text import TextEncoder
    from .models.bag import BagConfig, train_text
    from .storage import save_model
    from .train import TrainSettings

    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                             validation=validation, patience=patience, quiet=quiet, threads=threads)
    encoder = TextEncoder(min_count=min_count, max_size=max_size, ngrams=ngrams, ngram_min_count=ngram_min_count,
                          char_ngrams=_pair("--char-ngrams", char_ngrams, int, "3,6"))
    config = BagConfig(dim=dim, pooling=pooling, hidden=hidden, dropout=dropout, nb_weights=nb_weights)
    frame = read_table(file, columns=[text, label])
    model = train_text(frame, text=text, label=label, task=task, encoder=encoder, config=config, settings=settings)
    save_model(model, output, settings=settings)
    report_training(model, output)


@train_app.command("sequence")
@user_errors
def train_sequence_command(
        file: Path = typer.Argument(..., help="CSV, TSV, Parquet or NDJSON interaction log."),
        user: str = typer.Option(..., "--user", help="Column of users."),
        item: str = typer.Option(..., "--item", help="Column of items."),
        time: str = typer.Option(..., "--time", help="Column of times (numbers or dates)."),
        history: int = typer.Option(5, "--history", help="Predict the next item from this many last items."),
        output: Path = typer.Option(Path("sequence-model"), "-o", "--output", help="Model folder to write."),
        min_count: int = typer.Option(1, "--min-count", help="Drop items seen fewer times."),
        softmax: str = typer.Option("full", "--softmax", help="full, or sampled for large catalogues."),
        negatives: int = typer.Option(1000, "--negatives", help="Sampled softmax: items drawn per batch."),
        tied: bool = typer.Option(True, "--tied/--untied", help="Score items with the input table, or a second one."),
        pooling: str = PoolingOpt, hidden: int = HiddenOpt,
        epochs: Optional[int] = EpochsOpt, dim: int = typer.Option(64, "--dim", help="Embedding size."),
        seed: int = SeedOpt, quiet: bool = QuietOpt,
        optimizer: str = typer.Option("adam", "--optimizer", help="sgd, adagrad, rmsprop or adam."),
        lr: Optional[float] = LrOpt, batch_size: Optional[int] = BatchOpt,
        validation: float = typer.Option(0.0, "--validation",
                                         help="Share of users whose last item is held out; HR@10 each epoch."),
        patience: Optional[int] = PatienceOpt, threads: Optional[int] = ThreadsOpt) -> None:
    """Learn item embeddings from each user's history in FILE by predicting the next item."""
    from .data.sequences import read_interactions
    from .models.bag import NextItemConfig, train_next_item
    from .storage import save_model
    from .train import TrainSettings

    settings = TrainSettings(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                             validation=validation, patience=patience, quiet=quiet, threads=threads)
    config = NextItemConfig(dim=dim, pooling=pooling, hidden=hidden, history=history, softmax=softmax,
                            negatives=negatives, tied=tied)
    interactions = read_interactions(file, user=user, item=item, time=time, min_count=min_count)
    if not quiet:
        typer.echo(f"read {interactions!r}")
    model = train_next_item(interactions, config=config, settings=settings)
    save_model(model, output, settings=settings)
    report_training(model, output)


@app.command("serve")
@user_errors
def serve(models: list[Path] = typer.Argument(..., metavar="MODEL...", help="Model folders, each served under "
                                                                            "its folder's name."),
          host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
          port: int = typer.Option(8000, "--port", help="TCP port."),
          metadata: Optional[Path] = typer.Option(None, "--metadata", help="CSV, TSV or Parquet file: keys in the "
                                                  "first column, the others colour the map."),
          workers: int = typer.Option(1, "--workers", help="Worker processes (each loads the models once)."),
          map_method: str = typer.Option("auto", "--map", help="The explorer's 2-D map: auto (a map cached in the "
                                         "folder, else umap if installed, else pca), umap, tsne, pca or none."),
          threads: int = typer.Option(1, "--threads", help="CPU threads per worker for one query (default 1: "
                                      "concurrent queries run side by side instead)."),
          quiet: bool = QuietOpt) -> None:
    """Serve models over HTTP: the API under /v1 (described at /openapi.json) and the explorer page at /."""
    from .serve.server import run

    run(models, host=host, port=port, metadata=metadata, workers=workers, map_method=map_method, threads=threads,
        quiet=quiet)


TableOpt = typer.Option(None, "--table", help="Table to use (default: the first).")
MethodOpt = typer.Option("umap", "--method", help="umap, tsne or pca (2-D maps are cached in MODEL/maps/).")
MapMetricOpt = typer.Option("cosine", "--metric", help="cosine or euclidean.")
MetadataOpt = typer.Option(None, "--metadata", help="CSV, TSV or Parquet keyed by its first column "
                                                    "(default: the metadata saved in the model folder).")
KeyColumnOpt = typer.Option(None, "--key-column", help="The metadata column holding the keys (default: the first).")
PerplexityOpt = typer.Option(None, "--perplexity", help="t-SNE perplexity (default 30; needs 3x as many keys).")
NeighborsOpt = typer.Option(None, "--n-neighbors", help="UMAP's n_neighbors (default 15).")


def _map_params(method: str, perplexity: Optional[float], n_neighbors: Optional[int]) -> dict[str, Any]:
    """The method's settings given on the command line; one meant for another method is refused."""
    given = {"perplexity": perplexity, "n_neighbors": n_neighbors}
    owner = {"perplexity": "tsne", "n_neighbors": "umap"}
    for name, value in given.items():
        if value is not None and owner[name] != method:
            raise EntembedError(f"--{name.replace('_', '-')} is a setting of --method {owner[name]}; "
                                f"the method is {method}.")
    return {name: value for name, value in given.items() if value is not None}


@app.command("plot")
@user_errors
def plot(model_dir: Path = typer.Argument(..., metavar="MODEL", help="Model folder, or a word2vec / Parquet vectors "
                                                                    "file."),
         output: Path = typer.Option(..., "-o", "--output", help="Picture to write: .png, .svg or .pdf."),
         table: Optional[str] = TableOpt, method: str = MethodOpt, metric: str = MapMetricOpt,
         color_by: Optional[str] = typer.Option(None, "--color-by", help="Metadata column to colour by."),
         metadata: Optional[Path] = MetadataOpt, key_column: Optional[str] = KeyColumnOpt,
         top: int = typer.Option(10, "--top", help="Colour the N most common values; the rest are 'other'."),
         neighbors: list[str] = typer.Option([], "--neighbors", help="A key to highlight with its nearest keys, "
                                                                     "found in the full space (repeatable)."),
         k: int = typer.Option(10, "-k", help="How many neighbours to highlight."),
         labels: int = typer.Option(0, "--labels", help="Name the N most connected keys (largest counts)."),
         label: list[str] = typer.Option([], "--label", help="Name this key on the map (repeatable)."),
         history: bool = typer.Option(False, "--history", help="Draw the training curves (history.json) instead."),
         perplexity: Optional[float] = PerplexityOpt, n_neighbors: Optional[int] = NeighborsOpt,
         seed: int = SeedOpt, quiet: bool = QuietOpt) -> None:
    """Draw a 2-D map of a table (or, with --history, the training curves) to a PNG/SVG/PDF picture."""
    from .viz.views import draw_history, draw_map

    if history:
        written = draw_history(model_dir, output)
    else:
        written = draw_map(model_dir, output, table=table, method=method, colour_by=color_by, metadata=metadata,
                           key_column=key_column, neighbours=neighbors, k=k, labels=labels, label_keys=label,
                           top=top, metric=metric, seed=seed, quiet=quiet,
                           **_map_params(method, perplexity, n_neighbors))
    typer.echo(f"wrote {written}")


@app.command("map")
@user_errors
def html_map(model_dir: Path = typer.Argument(..., metavar="MODEL", help="Model folder, or a word2vec / Parquet "
                                                                        "vectors file."),
             output: Path = typer.Option(..., "-o", "--output", help="HTML file to write (works offline)."),
             table: Optional[str] = TableOpt, method: str = MethodOpt, metric: str = MapMetricOpt,
             color_by: Optional[str] = typer.Option(None, "--color-by", help="Metadata column coloured first."),
             metadata: Optional[Path] = MetadataOpt, key_column: Optional[str] = KeyColumnOpt,
             k: int = typer.Option(10, "-k", help="Neighbours stored per key for the search box."),
             perplexity: Optional[float] = PerplexityOpt, n_neighbors: Optional[int] = NeighborsOpt,
             seed: int = SeedOpt, quiet: bool = QuietOpt) -> None:
    """Write an interactive map: hover for metadata, colour by a column, search a key to see its neighbours."""
    from .viz.html import write_html_map

    written = write_html_map(model_dir, output, table=table, method=method, metadata=metadata,
                             key_column=key_column, colour_by=color_by, k=k, metric=metric, seed=seed, quiet=quiet,
                             **_map_params(method, perplexity, n_neighbors))
    typer.echo(f"wrote {written}")


@app.command("export")
@user_errors
def export(model_dir: Path = typer.Argument(..., metavar="MODEL", help="Model folder, or a word2vec / Parquet "
                                                                      "vectors file."),
           fmt: str = typer.Option(..., "--format", help="tensorboard, projector, word2vec, word2vec-binary or "
                                                         "parquet."),
           output: Path = typer.Option(..., "-o", "--output", help="File (word2vec, parquet) or new folder "
                                                                   "(tensorboard, projector) to write."),
           table: Optional[str] = TableOpt, metadata: Optional[Path] = MetadataOpt,
           key_column: Optional[str] = KeyColumnOpt) -> None:
    """Export a table's vectors (and metadata) for TensorBoard's projector, gensim / word2vec tools or Parquet.

    word2vec files separate a key from its numbers with a space, so whitespace inside a key is written as
    '_' (as gensim's Phrases joins multi-word keys); keys that would then collide are refused.
    """
    from .export import check_output, export_table, open_table
    from .viz.views import table_metadata

    check_output(fmt, output)
    name, embeddings = open_table(model_dir, table)
    meta = table_metadata(model_dir, embeddings, metadata, key_column=key_column)
    written = export_table(embeddings, fmt, output, meta, tag=name)
    typer.echo(f"wrote {len(embeddings):,} x {embeddings.dim} vectors of {name!r} as {fmt} to {written}")


def main() -> None:
    """Entry point of the `entembed` script and `python -m entembed`."""
    app(prog_name="entembed")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
