"""Training: records to batches (packing), optimisers and schedules, checkpoints, the loop, distributed."""
