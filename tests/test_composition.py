"""Every cell of the composition matrix (tests/composition_matrix.py) acts or is refused."""
import os
import socket
from pathlib import Path

import pytest
import torch

from tests.composition_matrix import cells, hydra_session, refusal, run, twins, verdict


@pytest.fixture(scope="module", autouse=True)
def one_hydra():
    with hydra_session():
        yield


@pytest.mark.parametrize("cell", cells(), ids=lambda c: c.label)
def test_every_cell_acts_or_is_refused(cell):
    assert verdict(cell).startswith(("acts", "refused"))


def _cells_in_processes(rank: int, world: int, port: int, folder: str) -> None:
    """Run the cells of `world` processes and their twins as process `rank` (Lightning joins
    the process group these variables name)."""
    os.environ.update(LOCAL_RANK=str(rank), RANK=str(rank), NODE_RANK="0", WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    outcomes = {}
    with hydra_session():
        for cell in cells(processes=world):
            if refusal(cell) is None:
                outcomes |= {c: run(c) for c in [cell, *twins(cell)] if c not in outcomes}
    if rank == 0:
        torch.save(outcomes, f"{folder}/outcomes.pt")
    torch.distributed.destroy_process_group()
    os._exit(0)  # as in tests/test_distributed.py: gloo's thread may need the GIL at finalization


def outcomes_in_processes(world: int, folder: Path) -> dict:
    """The runs of the cells of `world` processes and of their twins, by cell."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.multiprocessing.spawn(_cells_in_processes, args=(world, port, str(folder)), nprocs=world)
    return torch.load(folder / "outcomes.pt", weights_only=False)


@pytest.mark.slow
def test_every_strategy_under_two_processes_acts_or_is_refused(tmp_path):
    """Each strategy trained by 2 DDP processes acts (or is refused), and where the maths
    allows it the first step of each task equals one process's step on the whole batch."""
    outcomes = outcomes_in_processes(2, tmp_path)
    verdicts = [verdict(cell, outcomes.__getitem__) for cell in cells(processes=2)]
    assert all(v.startswith(("acts", "refused")) for v in verdicts)
