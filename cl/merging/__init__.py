"""Post-hoc merging of a run's per-task models: methods.py (task arithmetic, TIES, DARE, LiNeS,
Model Breadcrumbs, model soups, SLERP; cumulative task vectors or per-task increments), weights.py
(the per-task weights a run keeps), evaluate.py (merged rows and their metrics, and the validation
score a greedy soup compares candidates with)."""
