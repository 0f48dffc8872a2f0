"""Avalanche benchmarks as classification tasks, plus built-in offline benchmarks.

`benchmark_tasks` turns any Avalanche benchmark (a user's own or a built-in one) into one
ClassTask per experience. The built-ins build Avalanche benchmarks from data generated or
shipped locally, with no download: class-incremental and permuted MNIST-1D (the `mnist1d`
package) and sklearn's 8x8 digits. Avalanche is imported inside the builders: its import is slow.
"""
from __future__ import annotations

import functools
import random
from typing import Any, Callable, Sequence

import numpy as np
import torch

from cl.streams.classes import ClassTask, Sample
from cl.streams.task import TaskDataError

N_CLASSES = 10  # MNIST-1D and digits both have the classes 0..9


def _keep_random_state(build: Callable) -> Callable:
    """Restore python's, numpy's and torch's global random state after `build`: building a
    stream must not change a run's random draws (`make_dataset` reseeds them, and some imports
    draw from them)."""

    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
        try:
            return build(*args, **kwargs)
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.random.set_rng_state(states[2])

    return wrapper


def benchmark_tasks(benchmark: Any) -> list[ClassTask]:
    """One ClassTask per experience of an Avalanche benchmark, in stream order (`exp0`, ...).

    Train examples come from the train stream, eval examples from the test experience at the
    same index; a task's classes are its train experience's classes.
    """
    train_stream, test_stream = list(benchmark.train_stream), list(benchmark.test_stream)
    if len(train_stream) != len(test_stream):
        raise TaskDataError(
            f"the benchmark's train stream has {len(train_stream)} experiences but its test stream "
            f"has {len(test_stream)}: each train experience needs a test experience"
        )
    tasks = []
    for i, (train_exp, test_exp) in enumerate(zip(train_stream, test_stream)):
        train = _samples(train_exp.dataset)
        classes = getattr(train_exp, "classes_in_this_experience", None)
        if classes is None:  # e.g. `benchmark_from_datasets` without a classes timeline
            classes = {y for _, y in train}
        tasks.append(ClassTask(f"exp{i}", train, _samples(test_exp.dataset), sorted(int(c) for c in classes)))
    return tasks


def _samples(dataset: Any) -> list[Sample]:
    """(x, y) pairs from an Avalanche dataset whose items are (x, y, task label, ...)."""
    return [(torch.as_tensor(item[0], dtype=torch.float32), int(item[1])) for item in dataset]


@_keep_random_state
def split_mnist1d(
    n_experiences: int = 5, num_samples: int = 5000, seed: int = 0, fixed_class_order: Sequence[int] | None = None
):
    """Class-incremental MNIST-1D: the 10 classes split evenly over the experiences, in an order
    shuffled by `seed` (or `fixed_class_order`), no task labels. x has shape [40].

    The data itself is MNIST-1D's own generation (its default seed, 80/20 train/test split) of
    `num_samples` examples; `seed` only orders the classes.
    """
    order = _class_order(n_experiences, seed, fixed_class_order)
    return _split(*_mnist1d(num_samples), n_experiences, order)


@_keep_random_state
def permuted_mnist1d(n_experiences: int = 5, num_samples: int = 5000, seed: int = 0):
    """Permuted MNIST-1D: every experience holds all 10 classes; experience 0 is the plain data
    and experience k > 0 shuffles the 40 input positions by a fixed permutation drawn from `seed`.
    """
    _check_at_least_one(n_experiences)
    return _permuted(*_mnist1d(num_samples), n_experiences, seed)


@_keep_random_state
def split_digits(
    n_experiences: int = 5, seed: int = 0, fixed_class_order: Sequence[int] | None = None, test_share: float = 0.25
):
    """Class-incremental sklearn digits: 8x8 images in [0, 1] of shape [1, 8, 8], a stratified
    train/test split by `seed`, the 10 classes split evenly over the experiences in an order
    shuffled by `seed` (or `fixed_class_order`)."""
    order = _class_order(n_experiences, seed, fixed_class_order)
    return _split(*_digits(seed, test_share), n_experiences, order)


@_keep_random_state
def permuted_digits(n_experiences: int = 5, seed: int = 0, test_share: float = 0.25):
    """Permuted sklearn digits: the split of `split_digits`, every experience with all 10 classes;
    experience 0 is the plain images and experience k > 0 shuffles the 64 pixels by a fixed
    permutation drawn from `seed`."""
    _check_at_least_one(n_experiences)
    return _permuted(*_digits(seed, test_share), n_experiences, seed)


def _mnist1d(num_samples: int) -> tuple[torch.Tensor, ...]:
    return _tensors(*_mnist1d_arrays(num_samples))


@functools.lru_cache(maxsize=4)
def _mnist1d_arrays(num_samples: int) -> tuple[np.ndarray, ...]:
    """MNIST-1D generated in memory, never downloaded or written to disk. Cached: generating
    takes about a second."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    data = make_dataset(args)  # reseeds numpy's and python's global RNGs: see `_keep_random_state`
    return data["x"], data["y"], data["x_test"], data["y_test"]


def _digits(seed: int, test_share: float) -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = x.reshape(-1, 1, 8, 8) / 16.0
    x, x_test, y, y_test = train_test_split(x, y, test_size=test_share, stratify=y, random_state=seed)
    return _tensors(x, y, x_test, y_test)


def _tensors(x, y, x_test, y_test) -> tuple[torch.Tensor, ...]:
    """Inputs as float32 and labels as int64 tensors (copies, so cached arrays stay untouched)."""
    x, x_test = (torch.tensor(a, dtype=torch.float32) for a in (x, x_test))
    y, y_test = (torch.tensor(a, dtype=torch.long) for a in (y, y_test))
    return x, y, x_test, y_test


def _class_order(n_experiences: int, seed: int, fixed_class_order: Sequence[int] | None) -> list[int]:
    choices = [n for n in range(1, N_CLASSES + 1) if N_CLASSES % n == 0]
    if n_experiences not in choices:
        valid = ", ".join(map(str, choices[:-1])) + f" or {choices[-1]}"
        raise ValueError(f"n_experiences must divide the {N_CLASSES} classes: {valid} (got {n_experiences})")
    if fixed_class_order is None:
        return np.random.default_rng(seed).permutation(N_CLASSES).tolist()
    if sorted(fixed_class_order) != list(range(N_CLASSES)):
        raise ValueError(f"fixed_class_order must order the classes 0..{N_CLASSES - 1}, got {fixed_class_order}")
    return [int(c) for c in fixed_class_order]


def _check_at_least_one(n_experiences: int) -> None:
    if n_experiences < 1:
        raise ValueError(f"n_experiences must be at least 1 (got {n_experiences})")


def _split(x, y, x_test, y_test, n_experiences: int, class_order: list[int]):
    from avalanche.benchmarks import nc_benchmark
    from torch.utils.data import TensorDataset

    # A fixed order (no Avalanche `seed`) keeps Avalanche from reseeding torch's global RNG.
    return nc_benchmark(
        TensorDataset(x, y), TensorDataset(x_test, y_test), n_experiences,
        task_labels=False, shuffle=False, fixed_class_order=class_order,
    )


def _permuted(x, y, x_test, y_test, n_experiences: int, seed: int):
    from avalanche.benchmarks import tensors_benchmark

    rng = np.random.default_rng(seed)
    n = x[0].numel()
    perms = [torch.arange(n)] + [torch.as_tensor(rng.permutation(n)) for _ in range(n_experiences - 1)]

    def permuted(inputs: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        return inputs.flatten(1)[:, perm].reshape(inputs.shape)

    return tensors_benchmark(
        train_tensors=[(permuted(x, p), y) for p in perms],
        test_tensors=[(permuted(x_test, p), y_test) for p in perms],
        task_labels=[0] * n_experiences,
    )
