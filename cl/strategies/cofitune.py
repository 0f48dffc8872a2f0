"""CoFiTune (Zhang et al., ACL 2024 Findings): train one module set inside one range of layers
(coarse), and soft-mask its gradients by the units' importance to what the model already does
(fine).

Coarse: in `before_task`, the parameters of the chosen modules (Anatomy's `attention` q/k/v/o,
`feed_forward` gate/up/down, or both) in blocks [start, end) keep requires_grad; every other
parameter (embeddings, output head, norms, other blocks, the other module set) is frozen.
Fine (`soft_mask`): in `on_task_start`, the units of the trained modules (attention heads,
feed-forward units: cl.strategies.unit_importance) get importances in [0, 1] from the KL between
two dropout passes over `importance_batches` batches of `batch_size` texts, the element-wise max
over `importance_sets` such sets (each its own draw of texts and dropout); in
`before_optimizer_step` each unit's gradient is multiplied by 1 - its importance. The texts are
the task's training examples (prompt and answer, as trained) or eval.general's texts.
"""
from __future__ import annotations

import logging
import random

import torch

from cl.core.seeding import task_seed
from cl.evaluation.evaluators import Perplexity, general_texts
from cl.families.base import to_batch
from cl.strategies.base import Strategy
from cl.strategies.selection import anatomy
from cl.strategies.unit_importance import llama_blocks, normalise, raw_importance, scale_gradients

log = logging.getLogger("cl")

# Named layer ranges in quarters of the model's depth: those CoFiTune's search explores
# (its scripts' bottom1 ... top-plus: e.g. bottom2 = layers 8-15 of 32, 10-19 of 40, 15-29 of 60)
RANGES = {"bottom1": (0, 1), "bottom2": (1, 2), "middle": (2, 3), "top": (3, 4),
          "bottom-plus": (0, 2), "middle-plus": (1, 3), "top-plus": (2, 4), "all": (0, 4)}  # fmt: skip
MODULES = {"attention": ("attention",), "feed_forward": ("feed_forward",), "both": ("attention", "feed_forward")}
SOURCES = ("task", "general")


def check_layers(layers) -> str | tuple[int, int]:
    """A named range, or [start, end) with 0 <= start < end."""
    if isinstance(layers, str) and layers in RANGES:
        return layers
    if not isinstance(layers, str):
        pair = tuple(layers) if hasattr(layers, "__len__") else ()
        if len(pair) == 2 and all(type(x) is int for x in pair) and 0 <= pair[0] < pair[1]:
            return pair
    raise ValueError(f"CoFiTune layers must be one of {', '.join(RANGES)} (quarters of the model's depth) or a "
                     f"range [start, end) of block indices with 0 <= start < end, got {layers!r}")  # fmt: skip


def layer_range(layers: str | tuple[int, int], depth: int) -> range:
    """The blocks of `layers` in a model of `depth` blocks: a named range from quarter boundaries
    floor(q * depth / 4), never empty (2 blocks: bottom1 and bottom2 are block 0)."""
    if isinstance(layers, str):
        a, b = RANGES[layers]
        start = min(a * depth // 4, depth - 1)
        return range(start, max(b * depth // 4, start + 1))
    if layers[1] > depth:
        raise ValueError(f"CoFiTune layers [{layers[0]}, {layers[1]}) lie outside the model's {depth} blocks (0 to "
                         f"{depth - 1}): give a range inside them or one of {', '.join(RANGES)}")  # fmt: skip
    return range(*layers)


class CoFiTune(Strategy):
    needs_full_model = language_only = chooses_trainable = True

    def __init__(
        self,
        layers: str | list[int] = "bottom2",
        modules: str = "feed_forward",
        soft_mask: bool = True,
        importance_source: str = "task",
        importance_sets: int = 1,
        importance_batches: int = 8,
        batch_size: int = 16,
        dropout: float = 0.003,
        general: str | None = None,
        general_field: str = "text",
        seed: int = 0,
    ) -> None:
        """`general`, `general_field`: the general-text file (eval.general) and its JSONL field, read
        with importance_source=general."""
        self.layers = check_layers(layers)
        if modules not in MODULES:
            raise ValueError(f"unknown CoFiTune modules '{modules}'; choose one of {', '.join(MODULES)}")
        if importance_source not in SOURCES:
            raise ValueError(f"unknown CoFiTune importance_source '{importance_source}'; choose task (the task's "
                             "training examples) or general (the texts of eval.general)")  # fmt: skip
        if soft_mask and importance_source == "general" and general is None:
            raise ValueError("CoFiTune importance_source=general reads the texts of eval.general, which is null: "
                             "set eval.general to a .txt or .jsonl file, or use "
                             "strategy.cofitune.importance_source=task")  # fmt: skip
        counts = {"importance_sets": importance_sets, "importance_batches": importance_batches}
        for name, value in {**counts, "batch_size": batch_size}.items():
            if value < 1:
                raise ValueError(f"CoFiTune {name} must be >= 1, got {value}")
        if not 0 <= dropout < 1:
            raise ValueError(f"CoFiTune dropout must be in [0, 1), got {dropout}")
        self.modules, self.kinds, self.soft_mask, self.source = modules, MODULES[modules], soft_mask, importance_source
        self.sets, self.batches, self.batch_size, self.dropout = importance_sets, importance_batches, batch_size, dropout
        self.general, self.general_field, self.seed = general, general_field, seed
        self.importance: dict[int, dict[str, torch.Tensor]] = {}  # this task's: block -> kind -> per unit
        self.history: list[dict] = []
        self._texts: list[str] | None = None
        self._blocks = None  # (model, its llama blocks), for the gradient hook

    def check_model(self, model):
        anat = anatomy(model)
        layer_range(self.layers, len(anat.blocks))
        if self.soft_mask:
            llama_blocks(model, anat)

    def before_task(self, module, index, task):
        model = module.model
        blocks, trainable = self._freeze(model)
        total = sum(p.numel() for p in model.parameters())
        fraction = sum(p.numel() for p in model.parameters() if p.requires_grad) / total
        self.history.append({"task": task.name, "layers": [blocks.start, blocks.stop], "modules": self.modules,
                             "trainable_modules": trainable, "trainable_fraction": fraction})  # fmt: skip
        self.importance = {}
        log.info("CoFiTune on %s: %s of blocks %d-%d of %d trainable (%d matrices); %.4f of all parameters",
                 task.name, self.modules, blocks.start, blocks.stop - 1, len(anatomy(model).blocks), len(trainable),
                 fraction)  # fmt: skip

    def resume_task(self, module, index, task):
        self._freeze(module.model)

    def _freeze(self, model) -> tuple[range, list[str]]:
        """Freeze every parameter but those of the chosen modules in the chosen blocks; returns the
        blocks and the trainable module names."""
        anat = anatomy(model)
        blocks = layer_range(self.layers, len(anat.blocks))
        names = sorted(m for b in blocks for kind in self.kinds for m in anat.blocks[b][kind])
        modules = dict(model.named_modules())
        trainable = {id(p) for m in names for p in modules[m].parameters()}
        for p in model.parameters():
            p.requires_grad_(id(p) in trainable)
        return blocks, names

    def on_task_start(self, module, index, task):
        if not self.soft_mask:
            return
        model = module.model
        blocks = llama_blocks(model, anatomy(model))
        trained = layer_range(self.layers, len(blocks))
        sets = [self._importance_set(module, index, task, k, blocks, trained) for k in range(self.sets)]
        self.importance = {b: {kind: torch.stack([s[b, kind] for s in sets]).amax(0) for kind in self.kinds}
                           for b in trained}  # fmt: skip
        stats = {}
        for kind in self.kinds:
            values = torch.cat([imp[kind] for imp in self.importance.values()])
            stats[kind] = {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
        self.history[-1]["importance"] = {"source": self.source, **stats}
        log.info("CoFiTune importance on %s (%s texts): %s", task.name, self.source,
                 "; ".join(f"{kind} mean {s['mean']:.3f}, max {s['max']:.3f}" for kind, s in stats.items()))  # fmt: skip

    def _importance_set(self, module, index, task, k: int, blocks, trained: range) -> dict:
        """(block, kind) -> normalised importances of set `k`: its own draw of texts and dropout."""
        model, family, size = module.model, module.family, self.batch_size
        device = next(model.parameters()).device
        generator = torch.Generator(device=device)
        generator.manual_seed(task_seed(self.seed, f"cofitune:dropout:{task.name}:{k}"))
        items = self._items(module, index, task, k)
        batches = (to_batch(family, items[i : i + size], device) for i in range(0, len(items), size))
        raw = raw_importance(model, family.logits, blocks, {b: self.kinds for b in trained}, batches, self.dropout,
                             generator)  # fmt: skip
        return {key: normalise(value) for key, value in raw.items()}

    def _items(self, module, index, task, k: int) -> list:
        """Set `k`'s texts, encoded: a seeded draw of the task's training examples (prompt and
        answer, as trained) or of eval.general's texts (as its perplexity reads them)."""
        rng = random.Random(task_seed(self.seed, f"cofitune:texts:{task.name}:{k}"))
        n = self.batches * self.batch_size
        if self.source == "task":
            return module.family.encode(task, rng.sample(task.train, min(n, len(task.train))), index)
        if self._texts is None:
            self._texts = general_texts(self.general, self.general_field)
        texts = rng.sample(self._texts, min(n, len(self._texts)))
        return Perplexity(module.tokenizer, texts, module.encoder.max_length).items

    def before_optimizer_step(self, module):
        if not self.importance:
            return
        model = module.model
        if self._blocks is None or self._blocks[0] is not model:
            self._blocks = (model, llama_blocks(model, anatomy(model)))
        for b, importance in self.importance.items():
            scale_gradients(self._blocks[1][b], importance)

    def state_dict(self):
        return {"importance": self.importance, "history": self.history}

    def load_state_dict(self, state):
        self.importance, self.history = state["importance"], state["history"]
