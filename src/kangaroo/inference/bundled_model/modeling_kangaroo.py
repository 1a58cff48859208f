"""Loads the installed kangaroo package's KangarooForCausalLM (pip install kangaroo); written by kangaroo."""

from kangaroo.model.modeling import KangarooForCausalLM

__all__ = ["KangarooForCausalLM"]
