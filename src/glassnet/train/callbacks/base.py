"""Callback: the fit loop's phases, every one a no-op until a subclass overrides it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...data import Batch
    from ..state import TrainState

PHASES = ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_after_backward", "on_batch_end",
          "on_epoch_end", "on_train_end")


class StopTraining(Exception):  # noqa: N818 (a signal, as StopIteration is, not an error)
    """Raised by a callback to end training at once, with ``metrics`` to put into the epoch's record.

    Raised before the optimizer step (``on_batch_begin``, ``on_after_backward``), the batch in hand
    is not stepped on; the epoch then closes with the batches before it (its ``loss`` is their mean,
    NaN when there were none), ``metrics`` join ``state.metrics``, ``on_epoch_end`` runs and
    training ends. Raised from any other phase, training ends where it stands.
    """

    def __init__(self, message: str = "", metrics: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.metrics = dict(metrics or {})


class Callback:
    """Something that acts at the fit loop's phases; override the ones you need.

    The loop calls them in this order: ``on_train_begin``; per epoch ``on_epoch_begin``, per batch
    ``on_batch_begin`` (may return a replacement batch), forward, loss, backward,
    ``on_after_backward`` (gradients are ready), the optimizer step, ``on_batch_end``; then
    ``on_epoch_end`` (set ``state.stop_training`` to stop); ``on_train_end`` last. The loop calls only
    the phases a callback overrides, so a phase left alone costs nothing. ``state_dict`` /
    ``load_state_dict`` carry what the callback needs to continue a saved run exactly. Raising
    :class:`StopTraining` ends training at once.
    """

    def on_train_begin(self, state: TrainState) -> None:
        """Training starts (or resumes)."""

    def on_epoch_begin(self, state: TrainState) -> None:
        """Epoch ``state.epoch`` starts."""

    def on_batch_begin(self, state: TrainState, batch: Batch) -> Batch | None:
        """``batch`` is about to be used; return another batch to use that one instead."""

    def on_after_backward(self, state: TrainState) -> None:
        """The gradients of ``state.batch`` are in the parameters' ``.grad``; the optimizer has not stepped."""

    def on_batch_end(self, state: TrainState) -> None:
        """The optimizer has stepped on ``state.batch``; ``state.loss`` is its loss."""

    def on_epoch_end(self, state: TrainState) -> None:
        """Epoch ``state.epoch`` is over; ``state.metrics`` holds its loss (and validation results)."""

    def on_train_end(self, state: TrainState) -> None:
        """Training is over (finished, stopped or interrupted)."""

    def state_dict(self) -> dict[str, Any]:
        """Plain data to continue a saved run from; none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned."""


def overrides(callback: Any, phase: str) -> bool:
    """True when ``callback`` has ``phase`` other than as :class:`Callback`'s no-op (a method or an attribute)."""
    method = getattr(callback, phase, None)
    return method is not None and getattr(method, "__func__", method) is not getattr(Callback, phase)
