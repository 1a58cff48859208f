"""Loads the installed kangaroo package's KangarooConfig (pip install kangaroo); written by kangaroo."""

from kangaroo.model.configuration import KangarooConfig

__all__ = ["KangarooConfig"]
