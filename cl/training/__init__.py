"""Training: the Lightning module, the continual loop and its batches, the base stage, checkpoints, optimizers."""
