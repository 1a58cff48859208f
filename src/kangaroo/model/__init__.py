"""The Kangaroo model: vision encoder, temporal position embedding, patchify, projector, LLM."""
