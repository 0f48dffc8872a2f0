"""Control LLM (Wei et al., 2025) as an adapter: trainable copies of some blocks beside the frozen originals.

`wrap` freezes the whole model and replaces each chosen decoder block by an `ExpandedBlock`: the original block
and a trainable copy of it run on the same input hidden states, and their outputs are interpolated,
`h = h_orig + a * (h_copy - h_orig)`, with `a = sigmoid(logit)` one scalar (`merge=lerp`) or, per token,
`a = sigmoid(w . [h_orig; h_copy] + b)` (`merge=dlerp`). At initialisation the copy equals the original, so
`h_copy - h_orig` is exactly zero and the expanded model computes the base model's logits bit for bit. Only the
copies and the interpolation's parameters train. Each forward with gradients on leaves the alignment of the
copy's output with the original's on the block (MSE, or a smooth L1 of the cosine distance); `penalty` returns
`alignment_weight` times its mean over the expanded blocks, from the training step's forward just run.

Key/value cache: original and copy share a `layer_idx`, and a cache keys its entries by it, so the copy's
attention is given its own index past the model's depth (`depth + j` for the j-th expanded block): the
original's entry is never written twice. A cache built for the model's depth gets those entries added on first
use, empty and of the original's kind; caches that grow on demand add them themselves. Every cache operation
that walks the entries (reordering beams, repeating a prompt's cache for RFT's completions) covers the copies.

After every task the copies and interpolation parameters are saved to `<run dir>/adapters/task<i>-<name>/`
(`control_llm.safetensors`, with `control_llm.json` for the options); `load_control_llm(base, folder)` rebuilds
the expanded model from the untouched base model. There is no fold back to a plain model: a lerp of two
blocks' outputs is not the output of any one block (each block is non-linear in its weights), so averaging
the two blocks' weights, as the official code's merge back does, changes the function. The saved model is
the expanded one.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from cl.core.files import atomic_path, strict_json, write_text
from cl.models.adapters import NoAdapter

MERGES = ("lerp", "dlerp")
ALIGNMENTS = ("mse", "cosine")
WEIGHTS, OPTIONS = "control_llm.safetensors", "control_llm.json"


class _Last:
    """The alignment term of a block's last forward with gradients on. A copy or pickle of the model starts
    without it: the term holds that forward's graph."""

    def __init__(self) -> None:
        self.loss: torch.Tensor | None = None

    def __deepcopy__(self, memo) -> _Last:
        return _Last()

    def __reduce__(self):
        return _Last, ()


def alignment_loss(h_copy: torch.Tensor, h_orig: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over tokens of the copy's divergence from the original: `mse` over the hidden size, or `cosine`, the
    official code's smooth L1 of 1 - cos (margin 0; 1 - cos computed as half the squared distance of the unit
    vectors, exactly 0 for equal states). In float32; padding positions count, as in the official code."""
    h_copy, h_orig = h_copy.float(), h_orig.float()
    if kind == "mse":
        return F.mse_loss(h_copy, h_orig)
    distance = 0.5 * (F.normalize(h_copy, dim=-1) - F.normalize(h_orig, dim=-1)).pow(2).sum(-1)
    return F.smooth_l1_loss(distance, torch.zeros_like(distance))


def _reserve_slot(cache, source: int, slot: int) -> None:
    """Entries up to `slot` in a cache built for the model's depth (caches that grow on demand need none), each
    an empty entry of the kind block `source`'s is."""
    if getattr(cache, "layer_class_to_replicate", None) is not None:
        return
    while len(cache.layers) <= slot:
        if cache.layers[source].get_seq_length() > 0:
            raise ValueError(f"the key/value cache already holds tokens for block {source} but none for its "
                             "Control LLM copy: it was filled by a model without the copies")  # fmt: skip
        cache.layers.append(copy.deepcopy(cache.layers[source]))


class ExpandedBlock(torch.nn.Module):
    """A frozen decoder block (`original`) and a trainable copy (`copy`) on the same input, their outputs
    interpolated; the copy's attention caches under `slot`."""

    def __init__(self, original: torch.nn.Module, slot: int, merge: str, factor: float, trainable_factor: bool,
                 alignment: str) -> None:  # fmt: skip
        super().__init__()
        self.original, self.copy = original, copy.deepcopy(original).requires_grad_(True)
        self.source, self.slot, self.merge, self.alignment = original.self_attn.layer_idx, slot, merge, alignment
        self.copy.self_attn.layer_idx = slot
        like = next(original.parameters())
        logit = torch.logit(torch.tensor(factor, dtype=torch.float64)).to(like)
        if merge == "lerp":
            self.logit = torch.nn.Parameter(logit, requires_grad=trainable_factor)
        else:  # zero weights (no random draw): the factor starts at `factor` on every token and learns from both
            hidden = original.self_attn.config.hidden_size
            self.gate = torch.nn.utils.skip_init(torch.nn.Linear, 2 * hidden, 1, device=like.device, dtype=like.dtype)
            with torch.no_grad():
                self.gate.weight.zero_()
                self.gate.bias.fill_(float(logit))
            self.gate.bias.requires_grad_(trainable_factor)
        self.last = _Last()

    def forward(self, *args, **kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None:
            _reserve_slot(cache, self.source, self.slot)
        out = self.original(*args, **kwargs)
        h, h_copy = _hidden(out), _hidden(self.copy(*args, **kwargs))
        logit = self.logit if self.merge == "lerp" else self.gate(torch.cat([h, h_copy], -1))
        merged = h + torch.sigmoid(logit) * (h_copy - h)
        if torch.is_grad_enabled():
            self.last.loss = alignment_loss(h_copy, h, self.alignment)
        return (merged, *out[1:]) if isinstance(out, tuple) else merged


def _hidden(out) -> torch.Tensor:
    """A decoder block's output hidden states (transformers 5 returns them alone, earlier versions in a tuple)."""
    return out[0] if isinstance(out, tuple) else out


def decoder_blocks(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The decoder blocks of a Llama-style causal LM (`model.model.layers`, each with `self_attn.layer_idx`, or
    expanded already)."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or not layers or not all(
        isinstance(b, ExpandedBlock) or hasattr(getattr(b, "self_attn", None), "layer_idx") for b in layers
    ):
        raise ValueError("adapter=control_llm expands the decoder blocks of a Llama-style causal LM (model.model."
                         f"layers, each with self_attn.layer_idx); {type(model).__name__} has none such")  # fmt: skip
    return layers


def expanded_blocks(model: torch.nn.Module) -> list[ExpandedBlock]:
    return [m for m in model.modules() if isinstance(m, ExpandedBlock)]


class ControlLLM(NoAdapter):
    """Control LLM: trainable copies of some blocks, interpolated with the frozen originals and aligned to them."""

    name = "control_llm"

    def __init__(
        self,
        every: int = 2,
        blocks: list[int] | None = None,
        merge: str = "lerp",
        factor: float = 0.5,
        trainable_factor: bool = False,
        alignment: str = "mse",
        alignment_weight: float = 1.0,
        save_dir: str | Path | None = None,
    ) -> None:
        if merge not in MERGES:
            raise ValueError(f"unknown merge '{merge}'; valid choices: {', '.join(MERGES)}")
        if alignment not in ALIGNMENTS:
            raise ValueError(f"unknown alignment '{alignment}'; valid choices: {', '.join(ALIGNMENTS)}")
        if blocks is None and (not isinstance(every, int) or every < 1):
            raise ValueError(f"every must be an integer >= 1 (expand one block in every `every`), got {every!r}")
        if blocks is not None:
            blocks = list(blocks)
            if not blocks or not all(isinstance(b, int) and b >= 0 for b in blocks) or len(set(blocks)) < len(blocks):
                raise ValueError(f"blocks must be distinct block indices >= 0 (or null: every `every`-th block), "
                                 f"got {blocks}")  # fmt: skip
        if not 0 < factor < 1 or alignment_weight < 0:
            raise ValueError(f"invalid Control LLM options, need 0 < factor < 1 (the interpolation weight) and "
                             f"alignment_weight >= 0 (got factor={factor}, alignment_weight={alignment_weight})")
        self.every, self.blocks = every, sorted(blocks) if blocks is not None else None
        self.merge, self.factor = merge, factor
        self.trainable_factor, self.alignment, self.alignment_weight = trainable_factor, alignment, alignment_weight
        super().__init__(save_dir)

    def blocks_of(self, model: torch.nn.Module) -> list[int]:
        """The indices of the blocks `model` gets copies of: `blocks`, or the last block and every `every`-th
        below it (the official code's choice, the last of each `every` blocks, when `every` divides the depth)."""
        depth = len(decoder_blocks(model))
        chosen = self.blocks or [i for i in range(depth) if (depth - 1 - i) % self.every == 0]
        if chosen[-1] >= depth:
            raise ValueError(f"adapter.blocks={chosen}: the model has {depth} blocks (indices 0 to {depth - 1})")
        return chosen

    def wrap(self, model):
        layers, chosen = decoder_blocks(model), self.blocks_of(model)
        if expanded_blocks(model):
            raise ValueError("the model has Control LLM copies already: wrap the base model")
        model.requires_grad_(False)
        for j, i in enumerate(chosen):
            layers[i] = ExpandedBlock(layers[i], len(layers) + j, self.merge, self.factor, self.trainable_factor,
                                      self.alignment)  # fmt: skip
        return model

    def penalty(self, model):
        """`alignment_weight` x the mean alignment of the expanded blocks in the last forward with gradients on
        (None if there was none); read once."""
        blocks = expanded_blocks(model)
        losses = [b.last.loss for b in blocks if b.last.loss is not None]
        for b in blocks:
            b.last.loss = None
        return self.alignment_weight * torch.stack(losses).mean() if losses else None

    def options(self, model: torch.nn.Module) -> dict:
        """What `load_control_llm` needs besides the weights: the options and the expanded blocks."""
        layers = decoder_blocks(model)
        blocks = [i for i, b in enumerate(layers) if isinstance(b, ExpandedBlock)]
        return {"merge": self.merge, "factor": self.factor, "trainable_factor": self.trainable_factor,
                "alignment": self.alignment, "alignment_weight": self.alignment_weight, "blocks": blocks,
                "depth": len(layers)}  # fmt: skip

    def after_task(self, model, index, task_name):
        if self.save_dir is None:
            return
        from safetensors.torch import save_file

        folder = self.save_dir / f"task{index}-{task_name}"
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / WEIGHTS) as tmp:
            save_file({n: t.detach().cpu().contiguous() for n, t in trained_state(model).items()}, str(tmp))
        write_text(folder / OPTIONS, strict_json(self.options(model)))


def trained_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state of the expanded blocks without their originals: the copies and the interpolation parameters."""
    state = {}
    for name, block in model.named_modules():
        if isinstance(block, ExpandedBlock):
            own = block.state_dict(prefix=f"{name}.")
            state.update({k: v for k, v in own.items() if not k.startswith(f"{name}.original.")})
    return state


def load_control_llm(model: torch.nn.Module, folder: str | Path) -> torch.nn.Module:
    """The expanded model saved in `folder` (by `ControlLLM.after_task`), built on `model`: the base model the
    run started from, untouched (its blocks are the originals)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    options = json.loads((folder / OPTIONS).read_text())
    depth = options.pop("depth")
    if len(decoder_blocks(model)) != depth:
        raise ValueError(f"{folder} expands a model with {depth} blocks; this one has {len(decoder_blocks(model))}")
    model = ControlLLM(**options).wrap(model)
    saved = load_file(str(folder / WEIGHTS))
    missing, unexpected = set(trained_state(model)) - set(saved), set(saved) - set(trained_state(model))
    if missing or unexpected:
        raise ValueError(f"{folder / WEIGHTS} does not match the expanded model: missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(unexpected)[:3]}")  # fmt: skip
    model.load_state_dict(saved, strict=False)
    return model
