"""Peak memory of merging SmolLM2-135M-Instruct's per-task models: the merges of the SmolLM2
merging experiment (task arithmetic, TIES, DARE, LiNeS, Model Breadcrumbs, a greedy soup, SLERP)
over a start and three task models saved as a run saves them (cl.merging.weights), each merged
model loaded into the model as a run does.

Two ways, each in a fresh process: `lazy`, as runs merge (the saved models read a tensor at a
time, cl.core.state_files; each merged entry written into the model's own tensors), and `whole`,
every saved model read into memory first and each merge built as a state dict, then loaded (the
least a merge that holds its inputs takes). Printed: the growth of the process's maximum
resident set over the model alone, in GB and in copies of the model's weights, and the ratio
lazy / whole. Both must give the same merged weights (a checksum per merge). The task models are
the start plus seeded noise (the merges' memory does not depend on what training did); the
greedy soup scores candidates by the negative loss on fixed token sequences. (SmolLM2's input
embedding and output layer are one tensor: a merge that treats the two entries differently, as
DARE's random drop does, leaves the model with the second, whichever way it is merged.)

Run: .venv/bin/python -m benchmarks.merge_memory [--tasks 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MERGES = "merge=[task_arithmetic,ties,dare,lines,breadcrumbs,soup,slerp]"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_models(folder: Path, tasks: int) -> None:
    """start.safetensors and task<i>.safetensors: SmolLM2 and SmolLM2 plus seeded noise."""
    import copy

    import torch

    from cl.merging.weights import START, TaskWeights, task_key
    from cl.models.build import smollm2

    model, _ = smollm2()
    weights = TaskWeights(folder)
    weights.save(START, model.state_dict())
    for t in range(tasks):
        g, moved = torch.Generator().manual_seed(t), copy.deepcopy(model)
        with torch.no_grad():
            for p in moved.parameters():  # each parameter once: tied weights stay tied
                p.add_(1e-3 * torch.randn(p.shape, generator=g))
        weights.save(task_key(t), moved.state_dict())
        del moved


def merge_all(folder: Path, tasks: int, way: str) -> dict:
    """In this process: load the model, then every merge; the peak over the model alone."""
    import torch

    from cl.cli.merge import merge_configurations
    from cl.merging.weights import START, TaskWeights, task_key
    from cl.models.build import smollm2

    torch.set_num_threads(2)
    model, _ = smollm2()
    model.eval()
    n_weights = sum(v.numel() * v.element_size() for v in {p.data_ptr(): p for p in model.state_dict().values()}.values())
    alone = peak_mb()
    weights = TaskWeights(folder)

    def load(key: str):
        saved = weights.load(key)
        return saved if way == "lazy" else {k: saved[k] for k in saved}

    ids = torch.randint(10, 49152, (2, 64), generator=torch.Generator().manual_seed(0))

    def score(state) -> float:
        model.load_state_dict(state)
        with torch.no_grad():
            return -float(model(input_ids=ids, labels=ids).loss)

    sums = {}
    base, models = load(START), [load(task_key(t)) for t in range(tasks)]
    for label, method in merge_configurations([[MERGES, "merge.soup.validation=40"]], 0).items():
        chosen = models if method.models == "all" else models[-1:]
        if way == "lazy":
            method.merge(base, chosen, score, into=model.state_dict())
        else:
            merged = method.merge(base, chosen, score)
            model.load_state_dict(merged)
            del merged
        sums[label] = float(sum(p.double().sum() for p in model.parameters()))  # tied weights once
    return {"way": way, "alone_mb": alone, "peak_mb": peak_mb(), "weights_mb": n_weights / 2**20, "sums": sums}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("FOLDER", "WAY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(merge_all(Path(args.child[0]), args.tasks, args.child[1])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        write_models(Path(tmp), args.tasks)
        found = {}
        for way in ("whole", "lazy"):
            out = subprocess.run([sys.executable, "-m", "benchmarks.merge_memory", "--tasks", str(args.tasks),
                                  "--child", tmp, way], capture_output=True, text=True, check=True)  # fmt: skip
            found[way] = json.loads(out.stdout.strip().splitlines()[-1])
    same = found["whole"]["sums"] == found["lazy"]["sums"]
    copy_mb = found["lazy"]["weights_mb"]
    print(f"SmolLM2-135M-Instruct, {args.tasks} task models, {len(found['lazy']['sums'])} merges; "
          f"one copy of the weights: {copy_mb / 1024:.2f} GB; same merged weights: {same}")  # fmt: skip
    print("| reading | model alone (GB) | peak (GB) | growth (GB) | growth (copies of the weights) |")
    print("|---|---|---|---|---|")
    growth = {}
    for way, r in found.items():
        growth[way] = r["peak_mb"] - r["alone_mb"]
        print(f"| {way} | {r['alone_mb'] / 1024:.2f} | {r['peak_mb'] / 1024:.2f} | {growth[way] / 1024:.2f} | "
              f"{growth[way] / copy_mb:.1f} |")  # fmt: skip
    print(f"growth lazy / whole: {growth['lazy'] / growth['whole']:.2f}")
    if not same:
        raise SystemExit("the two ways merged different weights")


if __name__ == "__main__":
    main()
