"""Do the pair model's defaults hold at scale? A planted graph of ~10M pairs, trained with defaults.

Run: .venv/bin/python benchmarks/bench_scale.py [--pairs 10000000]
Prints the graph's size, the default batch size and epochs chosen, seconds and samples/s per epoch, genre@10
after each epoch (5,000 sampled books) and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import resource
import time

from entembed import PairModel, Trainer, planted_books
from entembed.evaluate import chance_agreement, neighbour_agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    n_books, n_links = args.pairs // 20, args.pairs // 18   # the reference's ~21 links a book, ~1.1 links a book
    started = time.perf_counter()
    graph = planted_books(n_books, n_links, args.pairs, seed=0)
    print(f"{graph.pairs!r}: generated in {time.perf_counter() - started:.1f}s; "
          f"random genre@10 {chance_agreement(graph.book_genre):.3f}")
    model = PairModel.for_data(graph.pairs)

    def report(epoch: int, record: dict) -> None:
        agreement = neighbour_agreement(model.tables["books"], graph.book_genre, sample=5000)
        print(f"epoch {epoch}: {record['seconds']:.1f}s, {record['samples_per_second']:,.0f} samples/s, "
              f"genre@10 {agreement:.3f}", flush=True)

    trainer = Trainer(quiet=True, epochs=args.epochs)
    trainer.fit(model, graph.pairs, on_epoch=report)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
