"""An LSTM controller trained with REINFORCE (Zoph & Le, ICLR 2017; ENAS, Pham et al. 2018).

The controller emits a genotype as the action sequence of
:mod:`genolang.searchers.encoding`: at each step an ``LSTMCell`` (``hidden`` units, default
64) reads the embedding of the previous action (a learned start vector at the first step),
and a linear head for the step's key (the decision path, plus the sub-action index of
compound references; created lazily, sized to the key's vocabulary) gives the logits.
Logits are shaped as in ENAS: divided by ``temperature`` (None: not), then
``tanh_constant * tanh(logits)`` (None: not); options not allowed by the earlier values
are masked out. Parameters start uniform in (-``init_range``, ``init_range``) (ENAS: 0.1).

Learning (Zoph & Le's REINFORCE, seed_algorithms.md 5): the controller is updated once per
``batch`` = m finished children (default m = 8, Zoph & Le's children per controller
replica), with the gradient averaged over them,

    grad J = (1/m) sum_k grad log pi(a_k) * (R_k - b),

where b is the baseline as it stood before the batch: the exponential moving average of the
previous rewards, ``b <- b - (1 - baseline_decay) * (b - R)`` once per finished child (b
starts at 0). One Adam step (learning rate ``lr``) per batch; a batch left incomplete when the
search ends is not applied. The reward of a child is ``reward`` applied to its validation
accuracy (0 for a failed trial):

- ``"cubed"`` (default, Zoph & Le): ``acc ** 3``. Zoph & Le cube the maximum validation
  accuracy of the last 5 of 50 epochs; a trial here is evaluated once, after its S steps,
  so the accuracy cubed is that of the trained child;
- ``"accuracy"`` (ENAS): the accuracy itself;

plus ``entropy_weight`` times the entropy of its sampling distributions (summed over steps, no
gradient; ENAS' bonus, 0 in Zoph & Le).

Other defaults follow ENAS' code where the papers leave them open or are not verified here
(melodyguan/enas ``scripts/cifar10_macro_search.sh``: ``tanh_constant`` 1.5, no temperature;
a one-layer LSTM of 64 units, Adam lr 0.0035 of the micro search, entropy weight 1e-4; Zoph
& Le's recalled 2 x 35-unit LSTM and lr 6e-4 are not); the baseline decay is 0.95, not
ENAS' 0.99, so that the baseline follows the rewards within the few hundred trials of a
search here.

Determinism: weights start from generators seeded with the searcher's seed; before each
ask the controller learns from the history's trials that finished since the last ask (in
planned order), and the k-th ask (k = the history's size) draws its actions with a
``torch.Generator`` seeded by ``seed_for(seed, k, attempt)``. A resumed search rebuilds the
controller from the ledger's history, so it continues as an uninterrupted sequential one
would, with no replay. (Actions are traced back from each genotype,
:func:`~genolang.searchers.encoding.trace_of`.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from torch import nn

from genolang.errors import GenotypeError
from genolang.genotype import Genotype
from genolang.runtime.errors import SearchError
from genolang.runtime.strategy import History
from genolang.searchers.base import Searcher, register_searcher, seed_for
from genolang.searchers.encoding import MAX_OPTIONS, Step, trace_of, unsupported, walk
from genolang.space import Space

log = logging.getLogger(__name__)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread meanwhile: the controller's tensors are tiny, and intra-op
    threads only spin against each other (and against trials) on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Controller:
    """The policy: an LSTM cell over the action sequence, one head and embedding per step key."""

    def __init__(self, *, hidden: int, init_range: float, lr: float, seed: int,
                 temperature: float | None, tanh_constant: float | None):
        self.hidden, self.init_range = hidden, init_range
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self._init = torch.Generator().manual_seed(seed)
        self.cell = self._fresh(nn.LSTMCell, hidden, hidden)
        self.start = nn.Parameter(torch.empty(1, hidden))
        self._uniform([self.start])
        self.heads: dict[str, nn.Linear] = {}
        self.embeddings: dict[str, nn.Embedding] = {}
        self.optimizer = torch.optim.Adam([*self.cell.parameters(), self.start], lr=lr)

    def _fresh(self, cls: type[nn.Module], *args: int) -> Any:
        module = nn.utils.skip_init(cls, *args)
        self._uniform(list(module.parameters()))
        return module

    def _uniform(self, params: list[nn.Parameter]) -> None:
        with torch.no_grad():
            for p in params:
                p.uniform_(-self.init_range, self.init_range, generator=self._init)

    def _modules_for(self, step: Step) -> tuple[nn.Linear, nn.Embedding]:
        """The head and embedding of ``step.key``, created (and given to Adam) on first use."""
        if step.key not in self.heads:
            size = len(step.options)
            self.heads[step.key] = self._fresh(nn.Linear, self.hidden, size)
            self.embeddings[step.key] = self._fresh(nn.Embedding, size, self.hidden)
            self.optimizer.add_param_group({"params": [*self.heads[step.key].parameters(),
                                                       *self.embeddings[step.key].parameters()]})
        return self.heads[step.key], self.embeddings[step.key]

    def logits(self, head: nn.Linear, h: torch.Tensor, allowed: Sequence[int]) -> torch.Tensor:
        """The shaped logits of the allowed options (in ``allowed`` order)."""
        out = head(h).squeeze(0)
        if self.temperature is not None:
            out = out / self.temperature
        if self.tanh_constant is not None:
            out = self.tanh_constant * torch.tanh(out)
        return out[torch.as_tensor(list(allowed), dtype=torch.long)]

    def run(self, space: Space, pick: Picker) -> tuple[dict[str, Any], list[int], torch.Tensor, torch.Tensor]:
        """Walk ``space`` with the controller: (values, actions, log-probability, entropy).

        ``pick(step, log_probs)`` chooses the index among ``step.allowed`` (sampling, or
        following given actions); steps with one allowed option are taken without asking
        (``pick.forced(step)``, which a follower uses to stay aligned with its actions).
        """
        state = (torch.zeros(1, self.hidden), torch.zeros(1, self.hidden))
        x = self.start
        log_prob, entropy = torch.zeros(()), torch.zeros(())

        def choose(step: Step) -> int:
            nonlocal state, x, log_prob, entropy
            head, embedding = self._modules_for(step)
            state = self.cell(x, state)
            logp = torch.log_softmax(self.logits(head, state[0], step.allowed), dim=0)
            j = pick(step, logp) if len(step.allowed) > 1 else pick.forced(step)
            log_prob = log_prob + logp[j]
            entropy = entropy - (logp.exp() * logp).sum()
            index = step.allowed[j]
            x = embedding(torch.tensor([index]))
            return index

        trace = walk(space, choose)
        return trace.values, trace.actions, log_prob, entropy


class Picker:
    """Chooses a position in ``step.allowed`` given the log-probabilities of those options."""

    def __call__(self, step: Step, log_probs: torch.Tensor) -> int:
        raise NotImplementedError

    def forced(self, step: Step) -> int:
        """A step with one allowed option was taken (nothing drawn); its position, 0."""
        return 0


class Sampler(Picker):
    """Draws from the policy with a seeded generator."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def __call__(self, step: Step, log_probs: torch.Tensor) -> int:
        return int(torch.multinomial(log_probs.exp(), 1, generator=self.generator))


class Follower(Picker):
    """Takes the given actions (teacher forcing)."""

    def __init__(self, actions: Sequence[int]):
        self._actions = iter(actions)

    def __call__(self, step: Step, log_probs: torch.Tensor) -> int:
        return list(step.allowed).index(next(self._actions))

    def forced(self, step: Step) -> int:
        """Consume the forced step's action too: actions hold one entry per step, forced or not."""
        return list(step.allowed).index(next(self._actions))


@register_searcher("rl")
class RLSearcher(Searcher):
    """REINFORCE over an LSTM controller, with a moving-average baseline and an entropy bonus."""

    OPTIONS: ClassVar[Mapping[str, Any]] = {
        "hidden": 64, "lr": 3.5e-3, "baseline_decay": 0.95, "entropy_weight": 1e-4,
        "tanh_constant": 1.5, "temperature": None, "init_range": 0.1, "batch": 8, "reward": "cubed",
        "max_attempts": 100}

    #: reward option -> the transform of a child's validation accuracy
    REWARDS: ClassVar[Mapping[str, Any]] = {"cubed": lambda acc: acc ** 3, "accuracy": lambda acc: acc}

    def __init__(self, space: Space, *, seed: int = 0, **options: Any):
        super().__init__(space, seed=seed, **options)
        opt = self.options
        if opt["reward"] not in self.REWARDS:
            raise SearchError(f"rl: reward must be one of {sorted(self.REWARDS)}, not {opt['reward']!r}")
        if int(opt["batch"]) < 1:
            raise SearchError(f"rl: batch (children per controller update) must be at least 1, not {opt['batch']!r}")
        self.controller = Controller(hidden=int(opt["hidden"]), init_range=float(opt["init_range"]),
                                     lr=float(opt["lr"]), seed=self.seed, temperature=_maybe(opt["temperature"]),
                                     tanh_constant=_maybe(opt["tanh_constant"]))
        self.baseline = 0.0
        self.batch_baseline = 0.0  # b of the current batch: the baseline before its first child
        self.last_reward: float | None = None
        self.updates = 0  # controller (Adam) steps taken
        self._accumulated = 0
        self._learnt: set[tuple[int, str]] = set()  # (idx, digest) of the trials learnt from

    @classmethod
    def applies_to(cls, space: Space) -> str | None:
        """Discrete spaces whose steps have at most :data:`MAX_OPTIONS` options."""
        return unsupported(space, max_options=MAX_OPTIONS)

    def ask(self, history: History, *, attempt: int = 0) -> Genotype:
        """Learn from the newly finished trials, then sample a genotype (forbidden ones are sampled again)."""
        self.observe(history)
        k = len(history)
        sampler = Sampler(torch.Generator().manual_seed(seed_for(self.seed, k, attempt)))
        attempts = max(1, int(self.options["max_attempts"]))
        for _ in range(attempts):
            with torch.no_grad(), one_thread():
                values, _, _, _ = self.controller.run(self.space, sampler)
            try:
                return self.space.validate(values, name=f"rl_{k + 1}")
            except GenotypeError:
                continue
        raise SearchError(f"the rl controller sampled no valid genotype of '{self.space.name}' "
                          f"in {attempts} tries (forbid rules)")

    def observe(self, history: History) -> int:
        """Learn from every finished trial not learnt from yet (planned order); how many."""
        new = [o for o in history if o.finished and (o.idx, o.genotype.digest) not in self._learnt]
        with one_thread():
            for o in new:
                accuracy = 0.0 if o.failed or o.score is None else float(o.score)
                self._learn(o.genotype, float(self.REWARDS[self.options["reward"]](accuracy)))
                self._learnt.add((o.idx, o.genotype.digest))
        return len(new)

    def policy(self, genotype: Genotype, actions: Sequence[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-probability, summed entropy) of the controller emitting ``genotype`` (with gradients)."""
        actions = list(actions) if actions is not None else trace_of(self.space, genotype).actions
        _, _, log_prob, entropy = self.controller.run(self.space, Follower(actions))
        return log_prob, entropy

    def _learn(self, genotype: Genotype, reward: float) -> None:
        """Add one child's term of the batch's averaged REINFORCE gradient (advantage against the
        baseline before the batch), move the baseline, and step Adam when the batch is full."""
        log_prob, entropy = self.policy(genotype)
        reward += float(self.options["entropy_weight"]) * float(entropy.detach())
        if self._accumulated == 0:
            self.batch_baseline = self.baseline
        batch = int(self.options["batch"])
        loss = -log_prob * (reward - self.batch_baseline) / batch
        if loss.requires_grad:  # a space without decisions: nothing to learn
            loss.backward()
        decay = float(self.options["baseline_decay"])
        self.baseline -= (1.0 - decay) * (self.baseline - reward)
        self.last_reward = reward
        self._accumulated += 1
        if self._accumulated >= batch:
            self.controller.optimizer.step()
            self.controller.optimizer.zero_grad()
            self._accumulated = 0
            self.updates += 1


def _maybe(value: Any) -> float | None:
    return None if value is None else float(value)
