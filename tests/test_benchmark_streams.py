import random
from collections import Counter

import numpy as np
import pytest
import torch

from cl.streams.benchmarks import (
    benchmark_tasks,
    permuted_digits,
    permuted_mnist1d,
    split_digits,
    split_mnist1d,
)
from cl.streams.task import TaskDataError

N = 1000  # MNIST-1D examples: 100 per class, the first 80% train


def labels(samples):
    return [y for _, y in samples]


def test_split_mnist1d_is_class_incremental():
    tasks = benchmark_tasks(split_mnist1d(n_experiences=5, num_samples=N))
    assert [t.name for t in tasks] == ["exp0", "exp1", "exp2", "exp3", "exp4"]
    assert all(len(t.classes) == 2 for t in tasks)
    assert sorted(c for t in tasks for c in t.classes) == list(range(10))
    for t in tasks:
        assert set(labels(t.train)) == set(t.classes) and set(labels(t.eval)) == set(t.classes)
        x, y = t.train[0]
        assert x.shape == (40,) and x.dtype == torch.float32 and type(y) is int
    assert sum(len(t.train) for t in tasks) == 800 and sum(len(t.eval) for t in tasks) == 200


def test_split_mnist1d_class_order_follows_seed():
    a, b = benchmark_tasks(split_mnist1d(num_samples=N, seed=3)), benchmark_tasks(split_mnist1d(num_samples=N, seed=3))
    assert [t.classes for t in a] == [t.classes for t in b]
    for ta, tb in zip(a, b):
        assert labels(ta.train) == labels(tb.train) and labels(ta.eval) == labels(tb.eval)
        assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(ta.train + ta.eval, tb.train + tb.eval))
    c = benchmark_tasks(split_mnist1d(num_samples=N, seed=4))
    assert [t.classes for t in c] != [t.classes for t in a]
    order = [7, 3, 0, 9, 1, 2, 8, 4, 6, 5]
    fixed = benchmark_tasks(split_mnist1d(num_samples=N, fixed_class_order=order))
    assert [t.classes for t in fixed] == [[3, 7], [0, 9], [1, 2], [4, 8], [5, 6]]


def test_permuted_mnist1d_permutes_the_same_examples():
    tasks = benchmark_tasks(permuted_mnist1d(n_experiences=3, num_samples=N, seed=1))
    assert len(tasks) == 3 and all(t.classes == list(range(10)) for t in tasks)
    x0 = torch.stack([x for x, _ in tasks[0].train + tasks[0].eval])
    perms = []
    for t in tasks:
        assert labels(t.train) == labels(tasks[0].train) and labels(t.eval) == labels(tasks[0].eval)
        xk = torch.stack([x for x, _ in t.train + t.eval])
        assert xk.shape == x0.shape == (N, 40)
        assert torch.equal(xk.sort(dim=1).values, x0.sort(dim=1).values)  # same values per example
        # one permutation, read off the first example, maps every example of task 0 to task k
        perm = x0[0].argsort()[xk[0].argsort().argsort()]
        assert torch.equal(x0[:, perm], xk)
        perms.append(perm)
    assert torch.equal(perms[0], torch.arange(40))  # experience 0 is the plain data
    assert not torch.equal(perms[1], perms[2]) and not torch.equal(perms[1], perms[0])


def test_digits():
    tasks = benchmark_tasks(split_digits(n_experiences=2, seed=0))
    assert [len(t.classes) for t in tasks] == [5, 5]
    samples = [s for t in tasks for s in t.train + t.eval]
    assert len(samples) == 1797
    xs = torch.stack([x for x, _ in samples])
    assert xs.shape == (1797, 1, 8, 8) and xs.dtype == torch.float32
    assert xs.min() == 0.0 and xs.max() == 1.0
    train, test = [s for t in tasks for s in t.train], [s for t in tasks for s in t.eval]
    assert (len(train), len(test)) == (1347, 450)
    per_class, test_per_class = Counter(labels(train + test)), Counter(labels(test))
    assert all(abs(test_per_class[c] - 0.25 * per_class[c]) <= 1 for c in range(10))  # stratified

    permuted = benchmark_tasks(permuted_digits(n_experiences=3, seed=0, test_share=0.5))
    assert [(len(t.train), len(t.eval)) for t in permuted] == [(898, 899)] * 3
    assert all(t.classes == list(range(10)) for t in permuted)
    x0, x2 = (torch.stack([x for x, _ in t.train]) for t in (permuted[0], permuted[2]))
    assert x2.shape == (898, 1, 8, 8) and not torch.equal(x0, x2)
    assert torch.equal(x0.flatten(1).sort(dim=1).values, x2.flatten(1).sort(dim=1).values)


@pytest.mark.parametrize("generator", ["nc_benchmark", "class_incremental_benchmark"])
def test_a_users_own_avalanche_benchmark(generator):
    import avalanche.benchmarks as ab
    from torch.utils.data import TensorDataset

    x = torch.arange(30 * 4, dtype=torch.float64).reshape(30, 2, 2)
    y = torch.arange(3).repeat_interleave(10)  # 3 classes x 10 examples
    train, test = TensorDataset(x, y), TensorDataset(x[::2], y[::2])
    if generator == "nc_benchmark":
        bm = ab.nc_benchmark(train, test, 3, task_labels=False, fixed_class_order=[2, 0, 1])
    else:
        bm = ab.class_incremental_benchmark({"train": train, "test": test}, class_order=[2, 0, 1], num_experiences=3)
    tasks = benchmark_tasks(bm)
    assert [t.classes for t in tasks] == [[2], [0], [1]]
    assert [(len(t.train), len(t.eval)) for t in tasks] == [(10, 5)] * 3
    for t in tasks:
        assert set(labels(t.train + t.eval)) == set(t.classes)
        assert all(x.shape == (2, 2) and x.dtype == torch.float32 for x, _ in t.train)
        # inputs keep their values: example i of the stored data is arange(4i, 4i + 4)
        assert all(int(x[0, 0]) // 40 == y_ and torch.equal(x.flatten() - x[0, 0], torch.arange(4.0)) for x, y_ in t.train)


def test_streams_of_different_lengths_are_refused():
    from avalanche.benchmarks import tensors_benchmark

    data = (torch.randn(20, 3), torch.arange(2).repeat(10))
    bm = tensors_benchmark([data, data], [data], task_labels=[0, 0], complete_test_set_only=True)
    with pytest.raises(TaskDataError, match="2 experiences but its test stream has 1"):
        benchmark_tasks(bm)


@pytest.mark.parametrize(
    "build",
    [lambda: split_mnist1d(num_samples=N + 10), lambda: permuted_mnist1d(2, num_samples=N + 20), split_digits, permuted_digits],
)
def test_building_a_stream_keeps_the_global_random_state(build):
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    expected = random.random(), np.random.rand(), torch.rand(1)
    random.seed(5), np.random.seed(5), torch.manual_seed(5)
    benchmark_tasks(build())  # fresh num_samples: MNIST-1D is generated here, not taken from the cache
    assert random.random() == expected[0] and np.random.rand() == expected[1] and torch.equal(torch.rand(1), expected[2])


@pytest.mark.parametrize("build", [split_mnist1d, split_digits])
@pytest.mark.parametrize("n", [0, 3, 4, 11])
def test_bad_split_sizes_name_the_valid_choices(build, n):
    with pytest.raises(ValueError, match="must divide the 10 classes: 1, 2, 5 or 10"):
        build(n_experiences=n)


@pytest.mark.parametrize("build", [permuted_mnist1d, permuted_digits])
def test_permuted_needs_an_experience(build):
    with pytest.raises(ValueError, match="at least 1"):
        build(n_experiences=0)


def test_fixed_class_order_must_cover_the_classes():
    with pytest.raises(ValueError, match="fixed_class_order"):
        split_digits(fixed_class_order=[0, 1, 2, 3, 4, 5, 6, 7, 8, 8])
