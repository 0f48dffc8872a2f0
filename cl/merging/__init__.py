"""Post-hoc merging of a run's per-task models: methods.py (task arithmetic, TIES, DARE, LiNeS),
weights.py (the per-task weights a run keeps), evaluate.py (merged rows and their metrics)."""
