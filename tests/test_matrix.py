import numpy as np
import pytest

from cl.evaluation import matrix as M

# Row 0 before training, then after each of 3 tasks; a 4th column is a held-out task.
R = np.array(
    [
        [0.1, 0.2, 0.0, 0.5],
        [0.9, 0.3, 0.1, 0.5],
        [0.6, 0.8, 0.4, 0.4],
        [0.5, 0.7, 1.0, 0.3],
    ]
)


def test_hand_computed_values():
    assert M.final_accuracy(R) == pytest.approx((0.5 + 0.7 + 1.0) / 3)
    assert M.learning_accuracy(R) == pytest.approx((0.9 + 0.8 + 1.0) / 3)
    assert M.average_incremental_accuracy(R) == pytest.approx((0.9 + (0.6 + 0.8) / 2 + (0.5 + 0.7 + 1.0) / 3) / 3)
    assert M.backward_transfer(R) == pytest.approx(((0.5 - 0.9) + (0.7 - 0.8)) / 2)
    assert M.forward_transfer(R) == pytest.approx(((0.3 - 0.2) + (0.4 - 0.0)) / 2)
    # task 0: best of rows 1..2 is 0.9, final 0.5; task 1: best of row 2 is 0.8, final 0.7
    assert M.forgetting(R) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.7)) / 2)


def test_forgetting_uses_max_not_first():
    R2 = np.array([[0, 0, 0], [0.5, 0, 0], [0.9, 0.6, 0], [0.2, 0.6, 0.7]])
    assert M.forgetting(R2) == pytest.approx(((0.9 - 0.2) + (0.6 - 0.6)) / 2)
    assert M.backward_transfer(R2) == pytest.approx(((0.2 - 0.5) + 0.0) / 2)


def test_single_task_and_bad_shapes():
    one = np.array([[0.0], [0.7]])
    assert M.final_accuracy(one) == pytest.approx(0.7)
    assert M.backward_transfer(one) == 0.0 and M.forgetting(one) == 0.0
    with pytest.raises(ValueError, match="shape"):
        M.final_accuracy(np.zeros((3, 1)))


def test_agrees_with_avalanche_bwt_and_forward_transfer():
    from avalanche.evaluation.metrics.forgetting_bwt import BWT
    from avalanche.evaluation.metrics.forward_transfer import ForwardTransfer

    rng = np.random.default_rng(0)
    for _ in range(5):
        T = 5
        A = rng.random((T + 1, T))
        bwt, fwt = BWT(), ForwardTransfer()
        for j in range(T):
            bwt.update(j, A[j + 1, j], initial=True)  # right after training task j
            bwt.update(j, A[T, j])  # at the end
            fwt.update(j, A[0, j], initial=True)  # before any training
            if j > 0:
                fwt.update(j, A[j, j])  # just before training task j
        avalanche_bwt = np.mean([v for k, v in bwt.result().items() if k < T - 1])
        assert M.backward_transfer(A) == pytest.approx(avalanche_bwt)
        assert M.forward_transfer(A) == pytest.approx(np.mean(list(fwt.result().values())))


def test_general_ability_per_row():
    from cl.evaluation.matrix import general_ability

    R = [[0.1, 0.0, 0.8, 0.6], [0.9, 0.1, 0.6, 0.4], [0.5, 0.8, 0.4, 0.2]]  # 2 trained, 2 held out
    out = general_ability(R, 2, [10.0, 12.0, 15.0])
    assert np.allclose(out["held_out_acc"], [0.7, 0.5, 0.3])
    assert np.allclose(out["held_out_retention"], [1.0, 0.5 / 0.7, 0.3 / 0.7])
    assert np.allclose(out["ppl_ratio"], [1.0, 1.2, 1.5]) and out["ppl"] == [10.0, 12.0, 15.0]
    assert np.isnan(general_ability([[0.0, 0.0], [1.0, 0.0]], 1)["held_out_retention"][1])  # row 0 scored 0
    assert general_ability([row[:2] for row in R], 2) == {}  # no held-out column, no perplexity
