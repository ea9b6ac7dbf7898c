"""Backbones pre-trained on the search data, as part of the job (``pretrain = EPOCHS`` in a space).

MFAS trains each unimodal network before its fusion search and freezes it. A space states
that with a backbone field::

    backbone image_net { model = lenet_image; in = @image; frozen = true; pretrain = 10 }

:func:`pretrain_backbones` trains, for each such backbone, the unimodal network of
:func:`genolang.compiler.baselines.unimodal_graph` (the backbone, unfrozen, and a linear
classifier on its last tap) for that many epochs on ``train``, keeps the best state on
``val``, tests it, and caches the backbone's weights once per

    (dataset digest, unimodal network structure and starting weights, seed, epochs, training config)

under ``cache_dir/backbones/``; a later run (or ``genolang train`` of the found genotype)
reads them back instead of training again. :func:`apply_pretrained` loads them into every
network compiled from the space. A backbone that also has ``weights`` starts from that
checkpoint and is fine-tuned.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genolang.compiler.baselines import unimodal_graph
from genolang.compiler.graph import Graph
from genolang.compiler.module import GraphNet, build_module
from genolang.compiler.static import signature
from genolang.files import atomic_write
from genolang.runtime.dataset import MultimodalDataset, hash_tensor
from genolang.runtime.errors import TrainError
from genolang.runtime.train import TrainConfig, train

log = logging.getLogger(__name__)

FORMAT = 1


@dataclass(frozen=True)
class Pretrained:
    """One pre-trained backbone: its node, weights and the unimodal network's results."""

    node: str
    model: str
    epochs: int
    state: dict[str, torch.Tensor]
    val_accuracy: float
    test_accuracy: float | None
    params: int
    seconds: float  # of the training (also when read back from the cache)
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"backbone": self.node, "model": self.model, "epochs": self.epochs,
                "val_accuracy": self.val_accuracy, "test_accuracy": self.test_accuracy, "params": self.params,
                "seconds": round(self.seconds, 3), "cached": self.cached}


def to_pretrain(graph: Graph) -> list[str]:
    """The backbone nodes of ``graph`` that state ``pretrain``."""
    return [n.name for n in graph.nodes if n.kind == "backbone" and n.attrs.get("pretrain")]


def pretrain_backbones(graph: Graph, data: MultimodalDataset, *, seed: int = 0, cache_dir: str | Path | None = None,
                       config: TrainConfig | None = None, device: str | None = None, progress: bool = False,
                       epochs: int | None = None,
                       announce: Callable[[str], Any] | None = None) -> dict[str, Pretrained]:
    """node -> :class:`Pretrained` for every backbone of ``graph`` stating ``pretrain`` (see the module doc);
    ``epochs`` overrides the epochs the space states (smoke runs); ``announce(text)`` is told
    when each backbone starts and ends."""
    say, out = announce or log.info, {}
    for name in to_pretrain(graph):
        say(f"pretrain: {name} ({graph[name].attrs.get('model')}, {epochs or graph[name].attrs['pretrain']} epochs)")
        done = out[name] = pretrain_one(graph, name, data, seed=seed, cache_dir=cache_dir, config=config,
                                        device=device, progress=progress, epochs=epochs)
        say(f"pretrain: {name} test acc {done.test_accuracy} ({'cached' if done.cached else f'{done.seconds:.0f} s'})")
    return out


def pretrain_one(graph: Graph, backbone: str, data: MultimodalDataset, *, seed: int = 0,
                 cache_dir: str | Path | None = None, config: TrainConfig | None = None,
                 device: str | None = None, progress: bool = False, epochs: int | None = None) -> Pretrained:
    """Train (or read back) the unimodal network of ``backbone`` (``epochs``: default the space's)."""
    epochs = int(epochs or graph[backbone].attrs["pretrain"])
    config = (config or TrainConfig()).model_copy(update={"epochs": epochs, "steps": None, "seed": seed})
    uni = unimodal_graph(graph, backbone)
    torch.manual_seed(seed)
    net = build_module(uni)
    path = _path(cache_dir, _key(uni, net, data, config))
    found = _read(path, backbone)
    if found is not None:
        log.info("pretrained %s read from %s", backbone, path)
        return found
    log.info("pretraining %s (%s) for %d epochs", backbone, graph[backbone].attrs.get("model"), epochs)
    result = train(net, data, config, input_names=net.input_names, device=device, progress=progress)
    module = net.module_of(backbone)
    assert module is not None, "a backbone node has a module"
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    done = Pretrained(backbone, str(graph[backbone].attrs.get("model")), epochs, state, result.best_val.accuracy,
                      result.test.accuracy if result.test is not None else None,
                      sum(p.numel() for p in net.parameters()), result.seconds)
    if path is not None:
        report = {k: v for k, v in done.to_json().items() if k != "cached"}
        atomic_write(path, lambda tmp: torch.save({"format": FORMAT, "state": state, "report": report}, tmp))
    return done


def apply_pretrained(net: GraphNet, pretrained: dict[str, Pretrained]) -> int:
    """Load the pre-trained weights into ``net``'s backbones of the same names; how many."""
    count = 0
    for name, done in pretrained.items():
        module = net.module_of(name) if name in net.names else None
        if module is None:
            continue
        try:
            module.load_state_dict(done.state, strict=True)
        except RuntimeError as exc:
            raise TrainError(f"pre-trained weights of {name!r} do not fit the network's backbone: {exc}") from None
        count += 1
    return count


def _key(uni: Graph, net: GraphNet, data: MultimodalDataset, config: TrainConfig) -> str:
    h = hashlib.sha256(f"{FORMAT}|{data.digest()}|{signature(uni, uni.outputs[0])}|".encode())
    h.update(json.dumps(config.model_dump(), sort_keys=True).encode())
    for key, tensor in net.state_dict().items():  # the starting weights (seeded, or a checkpoint)
        hash_tensor(h, key, tensor)
    return h.hexdigest()[:40]


def _path(cache_dir: str | Path | None, key: str) -> Path | None:
    return None if cache_dir is None else Path(cache_dir) / "backbones" / f"{key}.pt"


def _read(path: Path | None, backbone: str) -> Pretrained | None:
    if path is None or not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        report = stored["report"]
        return Pretrained(backbone, report["model"], int(report["epochs"]), dict(stored["state"]),
                          float(report["val_accuracy"]), report["test_accuracy"], int(report["params"]),
                          float(report["seconds"]), cached=True)
    except Exception as exc:  # a torn or foreign file: train again
        log.warning("pretrained backbone cache %s unreadable (%s); training again", path, exc)
        return None
