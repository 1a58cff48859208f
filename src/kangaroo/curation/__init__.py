"""Data curation (the paper's section III): scene cuts, text / face / motion filters, category
balance, captioning and caption refinement, as generator steps run by a local or Ray executor
(see docs/curation.md). Importing this package imports no OpenCV, OCR, Ray or torch."""

from .pipeline import Pipeline, PipelineError, load_pipeline, parse_pipeline

__all__ = ["Pipeline", "PipelineError", "load_pipeline", "parse_pipeline"]
