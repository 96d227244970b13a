"""Loaders and generators: everything that turns files or parameters into Vocab-encoded integer arrays."""

from .books import Books, read_books
from .pairs import Pairs, read_pairs
from .synthetic import PlantedGraph, planted_books
from .synthetic import TokenStudy, token_study
from .tables import TableColumns, TableData, read_tabular

__all__ = ["Books", "Pairs", "PlantedGraph", "planted_books", "read_books", "read_pairs",
           "TableColumns", "TableData", "TokenStudy", "read_tabular", "token_study"]
