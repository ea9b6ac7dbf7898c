"""Frozen-prefix evaluation: a network's static part computed once per dataset, trials trained on it.

The compiler cuts a network after its static prefix (:mod:`genolang.compiler.static`: inputs,
front-ends, frozen backbones in eval mode, up to the tensors the genotype reads). The static
part is a fixed function of the data, so :class:`FeatureCache` computes each boundary tensor
once per key

    (dataset digest, split, the tensor's static-subgraph signature, digest of the static weights)

keeps it in memory and (with a ``cache_dir``) on disk under ``cache_dir/features/``, and
hands a trial the REST network with a dataset of those tensors. Training the rest trains the
full network's modules (they are shared), with the same batches, the same random draws and,
up to float rounding, the same numbers as training the full network on the raw data.

One pass computes every vector tap of the frozen backbones it runs (not only those the
genotype reads), so a search pays about one pass per backbone. MFAS's frozen LeNets cost
about 100x its fusion layers per sample; a cached trial is mostly fusion. Features are
computed in float32: on CUDA with AMP, where an uncached backbone would run under autocast,
cached and uncached trials differ by bf16 rounding. A network whose prefix computes nothing
(every model input feeds a trainable node) gets ``None``: it trains on the raw data. The cache
does not apply when training changes the inputs (augmentations on raw inputs): those callers
do not use it.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch

from genolang.compiler.graph import Graph
from genolang.compiler.module import GraphNet
from genolang.compiler.static import ancestors, prefix_graph, signature, split_graph, sub_net, with_sibling_taps
from genolang.files import atomic_write
from genolang.runtime.dataset import MultimodalDataset, Split, hash_tensor
from genolang.runtime.train import resolve_device

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what a cached tensor means changes


class FeatureCache:
    """Boundary tensors of static prefixes over one dataset's splits; see the module doc."""

    def __init__(self, data: MultimodalDataset, *, cache_dir: str | Path | None = None,
                 device: str | torch.device | None = "cpu", batch_size: int = 256):
        self.data = data
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.folder = self.cache_dir / "features" if self.cache_dir is not None else None
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self._digest: str | None = None
        self._memory: dict[str, torch.Tensor] = {}
        self.computed = self.loaded = 0  # prefix passes run, tensors read from disk

    @property
    def digest(self) -> str:
        """The dataset's digest (computed once)."""
        if self._digest is None:
            self._digest = self.data.digest()
        return self._digest

    def prepare(self, net: GraphNet) -> tuple[GraphNet, MultimodalDataset] | None:
        """(rest network, dataset of its inputs) for ``net``; ``None`` when its prefix computes nothing."""
        cut = split_graph(net.graph)
        if not cut.useful:
            return None
        keys = self.keys(net, cut.graph, cut.cached)
        missing = [b for b in cut.cached if not self._held(keys[b]) and not self._read(keys[b])]
        if missing:
            self._fill(net, cut.graph, missing)
        rest = sub_net(net, cut.rest)
        splits = {name: Split({b: self._tensor(keys, b, name, split) for b in cut.boundary}, split.labels)
                  for name, split in self.data.splits.items()}
        features = MultimodalDataset(f"{self.data.name}/features", splits, self.data.num_classes, self.data.task,
                                     meta={"features_of": self.data.name, "boundary": list(cut.boundary)})
        return rest, features

    def keys(self, net: GraphNet, graph: Graph, names: tuple[str, ...] | list[str]) -> dict[str, str]:
        """static node -> its cache key (dataset, signature in ``graph``, static weights)."""
        out = {}
        for b in names:
            h = hashlib.sha256(f"{FORMAT}|{self.digest}|{signature(graph, b)}".encode())
            for name in sorted(ancestors(graph, [b])):
                module = net.module_of(name) if name in net.names else None
                for key, tensor in (module.state_dict().items() if module is not None else ()):
                    hash_tensor(h, f"{name}|{key}", tensor)
            out[b] = h.hexdigest()[:40]
        return out

    def _tensor(self, keys: dict[str, str], node: str, name: str, split: Split) -> torch.Tensor:
        return split.inputs[node] if node not in keys else self._memory[f"{keys[node]}/{name}"]

    def _held(self, key: str) -> bool:
        return all(f"{key}/{s}" in self._memory for s in self.data.splits)

    def _fill(self, net: GraphNet, graph: Graph, missing: list[str]) -> None:
        """Compute ``missing`` (and the other vector taps of their backbones) in one prefix pass; store them."""
        graph, taps = with_sibling_taps(graph, missing)
        keys = self.keys(net, graph, list(dict.fromkeys([*missing, *taps])))
        missing = [b for b in keys if b in missing or not self._held(keys[b])]
        outs = self.run_prefix(sub_net(net, prefix_graph(graph, tuple(missing))))
        for i, b in enumerate(missing):
            per_split = {s: outs[s][i] for s in self.data.splits}
            self._memory.update({f"{keys[b]}/{s}": t for s, t in per_split.items()})
            self._write(keys[b], per_split)
        self.computed += 1

    @torch.no_grad()
    def run_prefix(self, prefix: GraphNet) -> dict[str, list[torch.Tensor]]:
        """split -> the prefix's outputs over the whole split (CPU float32), in eval mode."""
        was = prefix.training
        prefix.to(self.device).eval()
        out: dict[str, list[torch.Tensor]] = {}
        try:
            for name, split in self.data.splits.items():
                parts: list[list[torch.Tensor]] = []
                for xs, _ in split.batches(self.batch_size, device=self.device):
                    y = prefix(*(xs[n] for n in prefix.input_names))
                    parts.append([t.float().cpu() for t in (y if isinstance(y, tuple) else (y,))])
                out[name] = [torch.cat(col) for col in zip(*parts)]
        finally:
            prefix.train(was)
        return out

    def _read(self, key: str) -> bool:
        path = self._path(key)
        if path is None or not path.is_file():
            return False
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn or foreign file: recompute it
            log.warning("feature cache %s unreadable (%s); recomputing", path, exc)
            return False
        if not isinstance(stored, dict) or set(stored) != set(self.data.splits):
            return False
        self._memory.update({f"{key}/{s}": t for s, t in stored.items()})
        self.loaded += 1
        return True

    def _write(self, key: str, per_split: dict[str, torch.Tensor]) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            atomic_write(path, lambda tmp: torch.save(per_split, tmp))
        except OSError as exc:  # a full or read-only disk: the memory cache still serves
            log.warning("feature cache: cannot write %s (%s)", path, exc)

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{key}.pt"

    def __repr__(self) -> str:
        return f"FeatureCache({self.data.name}, {len(self._memory)} tensors, folder={self.folder})"
