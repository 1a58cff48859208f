"""Inference: multi-round chat over a video with feature and KV-cache reuse, and feature caches."""
