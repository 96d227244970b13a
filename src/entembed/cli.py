"""The command line: parses arguments, calls the Python API, prints. Nothing is computed only here.

User errors (bad files, unknown keys, invalid options) print one line and exit with code 2.
"""

from __future__ import annotations

import functools
import inspect
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from .errors import EntembedError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Learn embeddings of discrete things from a supervised task, then query them.")
train_app = typer.Typer(no_args_is_help=True, help="Train a model and save it as a folder.")
app.add_typer(train_app, name="train")


def user_errors(command: Callable) -> Callable:
    """Turn entembed's errors (bad input, unknown keys, damaged folders) into one line on stderr and exit
    code 2; an error about a setting names the flag the user typed (``--min-count must be ...``)."""
    flags = _flags(command)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (EntembedError, FileNotFoundError) as exc:
            flag = flags.get(exc.param) if isinstance(exc, InputError) else None
            typer.echo(f"error: {exc.renamed(flag) if flag else exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _flags(command: Callable) -> dict[str, str]:
    """Each option's Python name -> its long flag ("min_count" -> "--min-count")."""
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
OptimizerOpt = typer.Option(None, "--optimizer", help="row_adagrad (pairs), sgd, adagrad, rmsprop or adam (default: the model's).")
LrOpt = typer.Option(None, "--lr", help="Learning rate (default: measured per optimizer).")
BatchOpt = typer.Option(None, "--batch-size", help="Samples per step, negatives included (default: sized to data).")
ValidationOpt = typer.Option(0.0, "--validation", help="Share of pairs held out; AUC is reported each epoch.")
PatienceOpt = typer.Option(None, "--patience", help="Stop after N epochs without validation improvement.")
ScoreOpt = typer.Option("dot", "--score", help="dot or cosine.")
LossOpt = typer.Option("logistic", "--loss", help="logistic (1/0), mse (1/-1, the reference) or bpr.")
NegativesOpt = typer.Option(2, "--negatives", help="Negative samples per positive pair.")
SamplingOpt = typer.Option("uniform", "--sampling", help="uniform or popularity (count ** 0.75).")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads for training (default: all cores).")


def _settings(model: type, **options: Any):
    """TrainSettings from the CLI options, with the optimizer checked against ``model``'s before data is read."""
    from .train import TrainSettings

    settings = TrainSettings(**options)
    settings.optimizer_for(model)
    return settings


def _pair_setup(*, dim, score, loss, negatives, sampling, shared: bool = False, l2: float = 0.0,
                preset: str | None = None, device: str | None = None, **options):
    """TrainSettings and PairConfig from the CLI options, checked before any data is read. A ``preset``
    gives the values of the settings left at their defaults."""
    from .models.pair import PRESETS, PairConfig, PairModel

    settings = _settings(PairModel, **options)
    given = dict(dim=dim, score=score, loss=loss, negatives=negatives, sampling=sampling, shared=shared, l2=l2,
                 device=device)
    if preset is None:
        return settings, PairConfig(**given)
    defaults = PairConfig()
    chosen = {k: v for k, v in given.items() if v != getattr(defaults, k) or k not in PRESETS.get(preset, {})}
    return settings, PairConfig.preset(preset, **chosen)


def _train_pairs_and_save(pairs, output: Path, settings, config, attachments: dict[str, str] | None = None,
                          on_checkpoint=None, resume=None) -> None:
    from .api import train_pairs
    from .storage import save_model

    model = train_pairs(pairs, config=config, settings=settings, on_checkpoint=on_checkpoint, resume=resume)
    save_model(model, output, attachments=attachments)
    report_training(model, output)


def _run_checkpoints(file: Path, output: Path, run: Optional[Path], settings, config, options: dict):
    """(checkpoint writer, state to resume from) of a `train pairs` run, each None when not asked for; a
    checkpoint of another run, or a new run into an unfinished one's folder, is refused before any reading."""
    from .checkpoints import RunCheckpoint, check_no_unfinished_run, data_identity, read_checkpoint, run_identity
    from .storage import CHECKPOINT_FOLDER

    if run is None:
        check_no_unfinished_run(output)
        if settings.checkpoint_every is None:
            return None, None
    identity = run_identity("pair", config, settings, data_identity(file, **options))
    state = read_checkpoint(run, identity) if run is not None else None
    if state is not None and not settings.quiet:
        typer.echo(f"resuming the run in {run} at epoch {state.epoch}, step {state.step}")
    writer = RunCheckpoint(output / CHECKPOINT_FOLDER, identity) if settings.checkpoint_every else None
    return writer, state


def _train_pairs_distributed(pairs, output: Path, settings, config, sync_every: int, timeout: float) -> None:
    from .distributed import launched, train_pairs_distributed
    from .storage import save_model

    model = train_pairs_distributed(pairs, config=config, settings=settings, sync_every=sync_every, timeout=timeout)
    if launched()[0] == 0:  # process 0 writes the folder
        save_model(model, output)
        report_training(model, output)


@train_app.command("pairs")
@user_errors
def train_pairs(file: Path = typer.Argument(..., help="CSV, TSV, Parquet or NDJSON file of pairs."),
                left: str = typer.Option(..., "--left", help="Column of left keys."),
                right: str = typer.Option(..., "--right", help="Column of right keys."),
                weight: Optional[str] = typer.Option(None, "--weight", help="Optional column of pair weights."),
                output: Optional[Path] = typer.Option(None, "-o", "--output",
                                                      help="Model folder to write (default: model, or the "
                                                           "--resume folder, replaced once the new one is saved)."),
                resume: Optional[Path] = typer.Option(None, "--resume", metavar="FOLDER",
                                                      help="An unfinished run's folder (a checkpoint/ inside, see "
                                                           "--checkpoint-every): continue that run exactly; give "
                                                           "FILE and the options it was started with. A finished "
                                                           "pair model: train it further on FILE: new keys are "
                                                           "added, old vectors and optimizer state kept; its dim, "
                                                           "score, loss and sampling are used."),
                checkpoint_every: Optional[str] = typer.Option(None, "--checkpoint-every", metavar="N",
                                                               help="Save the run's state to OUTPUT/checkpoint/ "
                                                                    "every N steps ('N epochs': every N epochs), "
                                                                    "so that --resume OUTPUT continues it after a "
                                                                    "kill; gone once the model is saved."),
                min_count: int = typer.Option(1, "--min-count", help="Drop keys seen fewer times."),
                sum_duplicates: bool = typer.Option(False, "--sum-duplicates", help="Sum repeated pairs into a weight."),
                shared: bool = typer.Option(False, "--shared", help="One table for both columns."),
                epochs: Optional[int] = EpochsOpt, dim: int = DimOpt, seed: int = SeedOpt, quiet: bool = QuietOpt,
                optimizer: str = OptimizerOpt, lr: Optional[float] = LrOpt, batch_size: Optional[int] = BatchOpt,
                validation: float = ValidationOpt, patience: Optional[int] = PatienceOpt, score: str = ScoreOpt,
                loss: str = LossOpt, negatives: int = NegativesOpt, sampling: str = SamplingOpt,
                threads: Optional[int] = ThreadsOpt,
                l2: float = typer.Option(0.0, "--l2", help="Weight decay of the rows each step touches (0: off)."),
                preset: Optional[str] = typer.Option(None, "--preset", help="Named settings for options left at "
                                                     "their defaults: recommend (user -> item pairs)."),
                sync_every: int = typer.Option(1, "--sync-every", help="Under torchrun: steps between the "
                                               "processes' syncs (1: as one process; more: fewer bytes sent)."),
                timeout: float = typer.Option(300.0, "--timeout", help="Under torchrun: seconds to wait for the "
                                              "other processes before stopping with an error."),
                device: Optional[str] = typer.Option(None, "--device", help="cuda or cuda:N: train on that GPU "
                                                     "with torch (default: the CPU's compiled kernel).")) -> None:
    """Learn left and right embeddings from (left, right) pairs in FILE (Parquet is read in chunks). Started
    by torchrun with several processes, each trains its share of the pairs and process 0 saves the model."""
    from .checkpoints import find_checkpoint
    from .data.parquet_pairs import read_pairs_parquet
    from .data.pairs import read_pairs
    from .distributed import launched
    from .models.pair_torch import resolve_device
    from .storage import check_replaceable
    from .train import parse_every

    ranked = launched()
    for name, value in (("resume", resume), ("checkpoint_every", checkpoint_every), ("device", device)):
        if ranked is not None and value is not None:
            raise InputError(f"{name} does not run under torchrun yet: use it in one process.", param=name)
    leader = ranked is None or ranked[0] == 0
    every, unit = parse_every(checkpoint_every) if checkpoint_every is not None else (None, "steps")
    settings, config = _pair_setup(epochs=epochs, dim=dim, seed=seed, quiet=quiet, optimizer=optimizer, lr=lr,
                                   batch_size=batch_size, validation=validation, patience=patience, score=score,
                                   loss=loss, negatives=negatives, sampling=sampling, threads=threads,
                                   shared=shared, l2=l2, preset=preset, checkpoint_every=every,
                                   checkpoint_unit=unit, device=device)
    if device is not None:  # a missing GPU is refused before any data is read
        resolve_device(device)
    model, run = None, find_checkpoint(resume) if resume is not None else None
    if resume is not None and run is None:
        from .storage import load

        if every is not None:
            raise EntembedError(f"--checkpoint-every: {resume} holds no unfinished run; training a finished model "
                                "further (--resume MODEL) writes no checkpoints.")
        model = load(resume)
        model.config.device = device  # where this run trains (a saved model names no device)
        shared = getattr(model, "config", None) is not None and bool(getattr(model.config, "shared", False))
    options = dict(left=left, right=right, weight=weight, min_count=min_count,
                   duplicates="sum" if sum_duplicates else "drop", shared_vocab=shared)
    if model is None:
        output = output or (run.parent if run is not None else Path("model"))
        writer, state = _run_checkpoints(file, output, run, settings, config, options)
        check_replaceable(output)  # before the reading and the training, not after
    if file.suffix.lower() in (".parquet", ".pq"):  # read in chunks, with progress: one copy of the pairs
        pairs = read_pairs_parquet(file, progress=not quiet and leader, **options)
    else:
        pairs = read_pairs(file, **options)
    if not quiet and leader:
        typer.echo(f"read {pairs!r}")
    if ranked is not None:
        _train_pairs_distributed(pairs, output or Path("model"), settings, config, sync_every, timeout)
        return
    if model is None:
        _train_pairs_and_save(pairs, output, settings, config, on_checkpoint=writer, resume=state)
        if run is not None and run.exists():  # resumed into another folder: the finished run needs it no more
            shutil.rmtree(run)
        return
    from .foldin import attachments_of, train_more
    from .storage import save_model

    output = output or resume
    grown = train_more(model, pairs, settings)
    save_model(grown, output, attachments=attachments_of(resume))
    report_training(grown, output)


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
    if not quiet:
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
              as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
              links: Optional[str] = typer.Option(None, "--links", metavar="A,B,...",
                                                  help="Comma-separated keys of the other table linked to KEY: "
                                                       "KEY is folded in from them first (in memory, not saved), "
                                                       "so it may be a key the model has never seen."),
              features: Optional[Path] = typer.Option(None, "--features", metavar="FEATURES",
                                                      help="A file of features with a row for KEY: KEY, with no "
                                                           "links, is placed by the side model (entembed side).")
              ) -> None:
    """Print the K nearest neighbours of KEY in a trained model."""
    from .storage import load

    model = load(model_dir)
    tables = model.tables
    name = table or next(iter(tables))
    if name not in tables:
        raise EntembedError(f"{model_dir}: no table {name!r}; the tables are {', '.join(map(repr, tables))}.")
    if links is not None and features is not None:
        raise EntembedError("--links and --features are two ways to place a new KEY; give one.")
    if links is not None:
        from .foldin import fold_in_key

        model, _ = fold_in_key(model, key, _names("--links", links), table=name)
        tables = model.tables
    if features is not None:
        from .foldin import cold_start_key

        model = cold_start_key(model, key, features, table=name)
        tables = model.tables
    found = tables[name].most_similar(key, topn=k, metric=metric)
    if as_json:
        typer.echo(json.dumps({"table": name, "key": key, "metric": metric,
                               "neighbors": [{"key": n, "score": s} for n, s in found]}, ensure_ascii=False))
    else:
        typer.echo(format_neighbours(name, key, found, metric))


@app.command("index")
@user_errors
def index_command(model_dir: Path = typer.Argument(..., metavar="MODEL", help="Model folder."),
                  tables: Optional[list[str]] = typer.Option(None, "--table", help="Table to index (repeat for "
                                                             "several; default: every table)."),
                  connectivity: int = typer.Option(16, "--connectivity", help="Links per node of the HNSW graph "
                                                   "(more: better recall, more memory)."),
                  ef_construction: int = typer.Option(80, "--ef-construction", help="Candidates kept while "
                                                      "building (more: better graph, slower build)."),
                  ef_search: int = typer.Option(256, "--ef-search", help="Candidates kept while searching "
                                                "(more: better recall, slower queries)."),
                  quiet: bool = QuietOpt) -> None:
    """Build an approximate-neighbour index (faiss HNSW) of a model's tables and save it in MODEL/index/.

    neighbors, serve and the Python API (load, most_similar, search) then answer cosine queries from it;
    without an index they search exactly. Training the model again into its folder drops the index."""
    from .storage import build_index

    written = build_index(model_dir, tables or None, progress=not quiet, connectivity=connectivity,
                          ef_construction=ef_construction, ef_search=ef_search)
    for table, folder in written.items():
        typer.echo(f"indexed {table!r}: {folder}")


@app.command("add")
@user_errors
def add(model_dir: Path = typer.Argument(..., metavar="MODEL", help="A pair or next-item model folder."),
        file: Path = typer.Argument(..., help="CSV, TSV, Parquet or NDJSON: pairs naming the new keys (--left, "
                                              "--right), features of new keys (neither), or histories (--user, "
                                              "--item, --time)."),
        left: Optional[str] = typer.Option(None, "--left", help="Column of the model's left-table keys."),
        right: Optional[str] = typer.Option(None, "--right", help="Column of the model's right-table keys."),
        side: str = typer.Option("left", "--side", help="Which column holds the new keys: left or right."),
        existing: str = typer.Option("refuse", "--existing",
                                     help="A key the model already has: refuse (default) or refine its vector."),
        features: Optional[Path] = typer.Option(None, "--features", metavar="FEATURES",
                                                help="A file of features (see entembed side): keys of the pairs "
                                                     "with no known link get their vector from the side model."),
        table: Optional[str] = typer.Option(None, "--table", help="Features only: the table to add keys to "
                                                                   "(default: the left one)."),
        user: Optional[str] = typer.Option(None, "--user", help="Next-item model: column of users."),
        item: Optional[str] = typer.Option(None, "--item", help="Next-item model: column of items."),
        time: Optional[str] = typer.Option(None, "--time", help="Next-item model: column of times."),
        output: Optional[Path] = typer.Option(None, "-o", "--output",
                                              help="Model folder to write (default: MODEL, replaced atomically)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes over the new pairs (default: as trained)."),
        seed: int = SeedOpt) -> None:
    """Add new keys to a trained model without retraining it: fold them in from their pairs in FILE (the other
    table stays frozen), place them from their features by the side model (FILE holds features; no --left or
    --right), or fold new items into a next-item model from the histories in FILE (--user, --item, --time)."""
    from .foldin import add_from_features, add_items_to_folder, add_to_folder

    histories = (user, item, time)
    if any(histories):
        if not all(histories) or left or right or features:
            raise EntembedError("a next-item model's new items come from histories: give --user, --item and --time "
                                "(and no --left, --right or --features).")
        written, added = add_items_to_folder(model_dir, file, user=user, item=item, time=time, output=output,
                                             epochs=epochs, seed=seed)
        typer.echo(f"folded {added:,} new items in from the histories of {file}; saved {written}")
        return
    if left is None and right is None:
        if features is not None:
            raise EntembedError("FILE is the features when --left and --right are not given; --features is for "
                                "keys of a pairs file.")
        written, report = add_from_features(model_dir, file, table=table, output=output)
        typer.echo(f"added {report.from_features:,} new keys to {report.table!r} from their features (side "
                   f"model); saved {written}")
        return
    if left is None or right is None:
        raise EntembedError("give both --left and --right (the columns of the pairs), or neither (FILE holds "
                            "features of new keys).")
    written, report = add_to_folder(model_dir, file, left=left, right=right, side=side, existing=existing,
                                    output=output, epochs=epochs, seed=seed, features=features)
    typer.echo(f"{report.summary()}; saved {written}")


@app.command("side")
@user_errors
def side_command(model_dir: Path = typer.Argument(..., metavar="MODEL", help="A pair model folder."),
                 file: Path = typer.Argument(..., metavar="FEATURES", help="CSV, TSV, Parquet or NDJSON: one row "
                                                                          "of features a key."),
                 key: str = typer.Option(..., "--key", help="Column of FEATURES holding the keys."),
                 categorical: str = typer.Option("", "--categorical", help="Comma-separated categorical feature "
                                                                          "columns (author, genre, ...)."),
                 numeric: str = typer.Option("", "--numeric", help="Comma-separated numeric feature columns."),
                 table: Optional[str] = typer.Option(None, "--table", help="Table whose vectors are learned "
                                                                           "(default: the first)."),
                 vector_loss: str = typer.Option("mse", "--loss", help="mse (squared error of the vectors) or "
                                                                       "cosine (their angle only)."),
                 hidden: str = typer.Option("64", "--hidden", help="Hidden layer widths, comma-separated "
                                                                  "(\"\": a linear model)."),
                 dim: Optional[int] = typer.Option(None, "--dim", help="Embedding size of each feature "
                                                                       "(default: min(600, 1.6 n^0.56))."),
                 validation: float = typer.Option(0.1, "--validation", help="Share of keys held out; RMSE and "
                                                                            "cosine each epoch."),
                 epochs: Optional[int] = EpochsOpt, seed: int = SeedOpt, quiet: bool = QuietOpt,
                 patience: Optional[int] = PatienceOpt, threads: Optional[int] = ThreadsOpt) -> None:
    """Train a side model: a table model from the features of the keys MODEL knows to their trained vectors,
    saved in MODEL/side-<table>/. Keys with no links then get vectors from their features (add, neighbors,
    recommend with --features)."""
    from .coldstart import save_side_model, train_side_model
    from .models.tabular import TableConfig
    from .storage import load

    config = TableConfig(dim=dim, hidden=_widths(hidden), vector_loss=vector_loss)
    model = load(model_dir)
    if model.kind != "pair":
        raise EntembedError(f"{model_dir}: a {model.kind!r} model; a side model places new keys of pair models "
                            "(entembed train pairs / train books).")
    tables = model.tables
    name = table or next(iter(tables))
    if name not in tables:
        raise EntembedError(f"{model_dir}: no table {name!r}; the tables are {', '.join(map(repr, tables))}.")
    side = train_side_model(tables[name], file, key=key, categorical=_names("--categorical", categorical),
                            numeric=_names("--numeric", numeric), config=config, table=name, epochs=epochs,
                            seed=seed, quiet=quiet, validation=validation, patience=patience, threads=threads)
    report_training(side, save_side_model(side, model_dir, table=name, key=key))


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
        optimizer: Optional[str] = OptimizerOpt, threads: Optional[int] = ThreadsOpt) -> None:
    """Learn entity embeddings of the categorical columns of FILE by predicting --target."""
    from .api import train_table
    from .models.tabular import TableConfig, TableModel
    from .storage import save_model

    _settings(TableModel, optimizer=optimizer)
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
    from .api import predict_frame
    from .atomic import atomic_file
    from .storage import load

    result = predict_frame(load(model_dir), file)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(output) as temporary:
        result.to_csv(temporary, index=False)
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
    from .api import train_text
    from .data.text import TextEncoder
    from .models import BagConfig, TextModel
    from .storage import save_model

    settings = _settings(TextModel, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                         validation=validation, patience=patience, quiet=quiet, threads=threads)
    encoder = TextEncoder(min_count=min_count, max_size=max_size, ngrams=ngrams, ngram_min_count=ngram_min_count,
                          char_ngrams=_pair("--char-ngrams", char_ngrams, int, "3,6"))
    config = BagConfig(dim=dim, pooling=pooling, hidden=hidden, dropout=dropout, nb_weights=nb_weights)
    model = train_text(file, text=text, label=label, task=task, encoder=encoder, config=config, settings=settings)
    save_model(model, output)
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
        optimizer: Optional[str] = OptimizerOpt, lr: Optional[float] = LrOpt, batch_size: Optional[int] = BatchOpt,
        validation: float = typer.Option(0.0, "--validation",
                                         help="Share of users whose last item is held out; HR@10 each epoch."),
        patience: Optional[int] = PatienceOpt, threads: Optional[int] = ThreadsOpt) -> None:
    """Learn item embeddings from each user's history in FILE by predicting the next item."""
    from .api import train_next_item
    from .data.sequences import read_interactions
    from .models import NextItemConfig, NextItemModel
    from .storage import save_model

    settings = _settings(NextItemModel, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                         validation=validation, patience=patience, quiet=quiet, threads=threads)
    config = NextItemConfig(dim=dim, pooling=pooling, hidden=hidden, history=history, softmax=softmax,
                            negatives=negatives, tied=tied)
    interactions = read_interactions(file, user=user, item=item, time=time, min_count=min_count)
    if not quiet:
        typer.echo(f"read {interactions!r}")
    model = train_next_item(interactions, config=config, settings=settings)
    save_model(model, output)
    report_training(model, output)


# -- how good is a model (issue 11) ---------------------------------------------------------------------
def _model_args(value: str) -> dict[str, Any]:
    """--model-args "dim=64,negatives=4,epochs=20": numbers, true/false and words."""
    options = {}
    for part in _names("--model-args", value):
        name, sep, text = part.partition("=")
        if not sep or not name.strip():
            raise EntembedError(f"--model-args must be name=value pairs such as dim=64,epochs=20. Got {part!r} in "
                                f"{value!r}.")
        try:
            options[name.strip()] = json.loads(text.strip().lower() if text.strip().lower() in ("true", "false")
                                               else text.strip())
        except json.JSONDecodeError:
            options[name.strip()] = text.strip()
    return options


def _is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").exists()


def _ks(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in _names("-k", value))
    except ValueError:
        raise EntembedError(f"-k must be one or more integers such as 10 or 5,10,20. Got {value!r} instead.") from None


@app.command("evaluate")
@user_errors
def evaluate_command(
        target: Path = typer.Argument(..., metavar="MODEL|DATA", help="A model folder, or a data file with --split."),
        holdout: Optional[Path] = typer.Option(None, "--holdout", help="Pairs or interactions the model did not train on."),
        train_data: Optional[Path] = typer.Option(None, "--train-data", help="The rows the model trained on: filtered "
                                                   "from the full ranking, never sampled; a next-item model's histories."),
        split: Optional[str] = typer.Option(None, "--split", help="DATA: loo (each user's latest item, by time) or random."),
        model: str = typer.Option("pairs", "--model", help="DATA: the model to train, pairs or sequence."),
        model_args: str = typer.Option("", "--model-args", help="DATA: model and training settings, e.g. dim=64,epochs=20."),
        user: Optional[str] = typer.Option(None, "--user", help="Column of users (left keys); default: the model's table name."),
        item: Optional[str] = typer.Option(None, "--item", help="Column of items (right keys); default: the model's table name."),
        time: Optional[str] = typer.Option(None, "--time", help="Column of times (for --split loo and next-item models)."),
        protocol: str = typer.Option("sampled", "--protocol", help="sampled (against --negatives unseen items) or full."),
        negatives: int = typer.Option(99, "--negatives", help="Sampled protocol: unseen items per held-out item."),
        k: str = typer.Option("10", "-k", "--k", help="Cut-offs for HR@k and NDCG@k, e.g. 5,10,20."),
        share: float = typer.Option(0.2, "--share", help="--split random: the share of pairs held out."),
        labels: Optional[Path] = typer.Option(None, "--labels", help="A table of metadata about keys (e.g. genres)."),
        column: Optional[str] = typer.Option(None, "--column", help="--labels: the label column (agreement of neighbours)."),
        value_column: Optional[str] = typer.Option(None, "--value-column",
                                                   help="--labels: a numeric column (rank correlation of distances)."),
        key_column: Optional[str] = typer.Option(None, "--key-column", help="--labels: the key column (default: first)."),
        table: Optional[str] = typer.Option(None, "--table", help="--labels: the table to measure (default: the first)."),
        seed: int = SeedOpt,
        as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """How good is a model: rank held-out items (HR@k, NDCG@k, MRR, AUC beside popularity and chance), and
    measure a table against metadata (--labels)."""
    from .data.files import read_table
    from .data.pairs import read_pairs
    from .data.sequences import read_interactions
    from .protocols import evaluate_holdout, metadata_quality, split_train_evaluate
    from .storage import load

    ks = _ks(k)
    report: dict[str, Any] = {}
    if _is_model_folder(target):
        if split is not None or model_args:
            raise EntembedError(f"--split and --model-args are for a data file; {target} is a model folder "
                                "(give --holdout FILE to evaluate it).")
        trained = load(target)
        if holdout is None and labels is None:
            raise EntembedError(f"evaluate {target}: give --holdout FILE (held-out pairs) or --labels FILE.")
    else:
        if split is None:
            raise EntembedError(f"{target} is not a model folder; to evaluate a data file give --split loo or "
                                "--split random (and --user/--item columns).")
        if not user or not item:
            raise EntembedError("--split needs the columns of users and items: --user COLUMN --item COLUMN.")
        if split == "loo" or model == "sequence":
            if not time:
                raise EntembedError("--split loo holds out each user's latest item: give --time COLUMN.")
            data = read_interactions(target, user=user, item=item, time=time)
        else:
            data = read_pairs(target, left=user, right=item)
        trained, result = split_train_evaluate(data, split=split, model=model, options=_model_args(model_args),
                                             protocol=protocol, negatives=negatives, share=share, seed=seed, ks=ks)
        report["ranking"] = result.to_dict()
    if holdout is not None:
        if trained.kind == "pair":
            user, item = user or trained.config.left_name, item or trained.config.right_name
        elif not (user and item):
            raise EntembedError("--holdout needs --user COLUMN and --item COLUMN for this model.")
        train = None
        if trained.kind == "next-item":
            if train_data is None or not time:
                raise EntembedError("a next-item model ranks from each user's history: give --train-data FILE "
                                    "and --time COLUMN.")
            train = read_interactions(train_data, user=user, item=item, time=time)
        elif train_data is not None:
            train = read_table(train_data)
        result = evaluate_holdout(trained, read_table(holdout), user=user, item=item, train=train, protocol=protocol,
                                  negatives=negatives, seed=seed, ks=ks, sources=(str(holdout), str(train_data)))
        report["ranking"] = result.to_dict()
    if labels is not None:
        if not column and not value_column:
            raise EntembedError("--labels needs --column (labels) or --value-column (numbers).")
        frame = read_table(labels)
        tables = trained.tables
        name = table or next(iter(tables))
        if name not in tables:
            raise EntembedError(f"no table {name!r}; the tables are {', '.join(map(repr, tables))}.")
        key = key_column or str(frame.columns[0])
        report["metadata"] = [metadata_quality(tables[name], frame, key=key, column=c, numeric=numeric, k=ks[-1],
                                               source=str(labels)) | {"table": name}
                              for c, numeric in ((column, False), (value_column, True)) if c]
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    if "ranking" in report:
        typer.echo(result.table())
    for entry in report.get("metadata", []):
        if "spearman" in entry:
            typer.echo(f"{entry['table']}: Spearman of distances with |{entry['column']} difference| "
                       f"{entry['spearman']:.4f} ({entry['labelled']:,} of {entry['keys']:,} keys known)")
        else:
            agreement = next(v for n, v in entry.items() if n.startswith("agreement@"))
            typer.echo(f"{entry['table']}: {entry['column']} agreement of the {ks[-1]} nearest neighbours "
                       f"{agreement:.4f}, chance {entry['chance']:.4f} ({agreement / entry['chance']:.1f}x; "
                       f"{entry['labelled']:,} of {entry['keys']:,} keys labelled)")


@app.command("recommend")
@user_errors
def recommend_command(
        model_dir: Path = typer.Argument(..., metavar="MODEL", help="Model folder (pair or next-item)."),
        user: Optional[str] = typer.Option(None, "--user", help="Pair model: the left key to recommend for."),
        history: Optional[str] = typer.Option(None, "--history", help="Next-item model: items so far, KEY,KEY,..."),
        k: int = typer.Option(10, "-k", "--k", help="How many recommendations."),
        exclude_seen: Optional[Path] = typer.Option(None, "--exclude-seen", help="Pair model: a file of pairs (the "
                                                     "training data) whose items are not recommended again."),
        links: Optional[str] = typer.Option(None, "--links", metavar="A,B,...",
                                            help="Pair model: the items --user is linked to; the user is folded in "
                                                 "from them first (in memory, not saved), so it may be new. They "
                                                 "are not recommended back."),
        time: Optional[str] = typer.Option(None, "--time", metavar="COL", help="Pair model: the --exclude-seen "
                                           "file's time column, which orders the user's items (default: row order) "
                                           "for a model that follows a user's latest items (preset recommend)."),
        features: Optional[Path] = typer.Option(None, "--features", metavar="FEATURES",
                                                help="Pair model: a file of features with a row for --user: a new "
                                                     "user with no links is placed by the side model."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """Recommend items: right keys for a left key (--user), or the next items after a history (--history)."""
    import numpy as np

    from .data.files import read_table
    from .data.sequences import numeric_times
    from .protocols import holdout_pairs, recommend_for_user
    from .storage import load

    model = load(model_dir)
    if (user is None) == (history is None):
        raise EntembedError("give one of --user KEY (pair models) or --history KEY,KEY,... (next-item models).")
    if time is not None and exclude_seen is None:
        raise InputError("time orders the rows of the --exclude-seen file: give --exclude-seen FILE too.",
                         param="time")
    if history is not None:
        if model.kind != "next-item":
            raise EntembedError(f"--history needs a next-item model; {model_dir} is a {model.kind!r} model"
                                + (" (use --user)." if model.kind == "pair" else "."))
        if k < 1 or k > len(model.vocab):
            raise InputError(f"k must be between 1 and the number of items ({len(model.vocab)}). Got {k} instead.",
                             param="k")
        query = {"history": _names("--history", history)}
        found = model.recommend(query["history"], topn=k)
    else:
        seen, recent = None, []
        if exclude_seen is not None and model.kind == "pair":
            frame = read_table(exclude_seen, columns=[time] if time is not None else None)
            if time is not None:
                frame = frame.iloc[np.argsort(numeric_times(frame[time], str(exclude_seen), time), kind="stable")]
            seen, _ = holdout_pairs(model, frame, model.config.left_name, model.config.right_name,
                                    source=str(exclude_seen))
            uid = model.left_vocab.encode([user], unknown="ignore")[0]  # a new user (--links) has no rows here
            recent = [model.right_vocab.keys[i] for i in seen.right[seen.left == uid]]
        query, known = {"user": user}, []
        if features is not None:
            if links is not None or model.kind != "pair":
                raise EntembedError("--features places a new --user from its features: it needs a pair model and "
                                    "no --links.")
            from .foldin import cold_start_key

            model = cold_start_key(model, user, features)
        if links is not None:
            if model.kind != "pair":
                raise EntembedError(f"--links folds a new --user in from its items: it needs a pair model; "
                                    f"{model_dir} is a {model.kind!r} model.")
            from .foldin import fold_in_key

            known = _names("--links", links)
            model, _ = fold_in_key(model, user, known)
            recent = known
        found = recommend_for_user(model, user, k, seen=seen, exclude=known, recent=recent)
    if as_json:
        typer.echo(json.dumps({**query, "k": k, "items": [{"key": n, "score": s} for n, s in found]},
                              ensure_ascii=False))
        return
    width = max([len(n) for n, _ in found] + [4])
    typer.echo("\n".join(f"{rank:>3}. {n:<{width}}  score {s:.4f}" for rank, (n, s) in enumerate(found, 1)))


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
