"""Loaders and generators: everything that turns files or parameters into Vocab-encoded integer arrays."""

from .books import Books, read_books
from .pairs import Pairs, read_pairs
from .synthetic import PlantedGraph, planted_books

__all__ = ["Books", "Pairs", "PlantedGraph", "planted_books", "read_books", "read_pairs"]
