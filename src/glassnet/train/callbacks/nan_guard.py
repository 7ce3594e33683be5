"""NaNGuard: end training the moment a loss or a gradient is not finite, before the bad step reaches the weights."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import backend
from .base import Callback, StopTraining
from .layers import layer_outputs, linear_layers

ADVICE = "lower the learning rate (now {lr}), clip the gradients (ClipGradNorm), or scale the inputs and the target"


def _all_finite(a: Any) -> bool:
    xp = backend.namespace(a)
    return bool(xp.all(xp.isfinite(a)))


def _largest(a: Any) -> float:
    """The largest absolute value in ``a``."""
    return float(np.max(np.abs(backend.to_numpy(a)))) if a.size else 0.0


def _kind(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


class NaNGuard(Callback):
    """After every backward pass, checks that the batch's loss and every gradient are finite; when one is
    not, ends training before the optimizer steps, so the weights stay those of the last good step.

    It then names the step, the quantity (``"loss"`` or ``"gradient"``), the layer where the values
    went bad (the first Linear whose output overflowed in the forward pass, or the one nearest the
    output whose gradient is not finite) and what to try: ``advice``, in which ``{lr}`` is replaced
    by the optimizer's learning rate. That event is kept in ``event`` and goes into the epoch's
    record under ``"nonfinite"`` (via :class:`StopTraining`), where ``gn.diagnose`` finds it.

    Cost per step: one host read of the loss and one dot product over the gradients (over all of
    them at once where the optimizer keeps them in one flat buffer, as glassnet's do on NumPy). On
    a GPU the read waits for the device once per step. Put it after callbacks that change the
    gradients (penalties, clipping), so that it checks what the optimizer will use.
    """

    def __init__(self, advice: str = ADVICE) -> None:
        self.advice = advice
        self.event: dict[str, Any] | None = None
        self._params: list[Any] = []
        self._flat: Any = None  # the one buffer every gradient is a view of, once seen

    def on_train_begin(self, state: Any) -> None:
        self.event = None
        self._params = list(state.optimizer.params)
        self._flat = None

    def on_after_backward(self, state: Any) -> None:
        loss = state.loss
        if (math.isfinite(float(loss)) and (state.objective is loss or math.isfinite(float(state.objective)))
                and self._gradients_finite()):
            return
        self.event = self._describe(state)
        raise StopTraining(self.event["message"], {"nonfinite": self.event})

    def _gradients_finite(self) -> bool:
        """True when every gradient is finite: a sum of squares is, unless an element is NaN or infinite (or it
        overflows, which the exact check then tells apart)."""
        flat, first, last = self._flat, self._params[0].grad, self._params[-1].grad
        # the flat buffer, once every gradient was seen in it: it stays theirs while the optimizer keeps it
        if flat is not None and getattr(first, "base", None) is flat and getattr(last, "base", flat) is flat:
            if math.isfinite(float(np.dot(flat, flat))):  # BLAS: twice as fast as a sum
                return True
        else:
            grads = [p.grad for p in self._params if p.grad is not None]
            if not grads:
                return True
            base = getattr(grads[0], "base", None)
            if (isinstance(base, np.ndarray) and base.ndim == 1 and first is not None and last is not None
                    and all(g.base is base for g in grads)):
                self._flat = base
                return self._gradients_finite()
            xp = backend.namespace(grads[0])
            total = 0.0
            for g in grads:
                flat_g = xp.reshape(g, (-1,))
                total = total + xp.vecdot(flat_g, flat_g)
            if math.isfinite(float(total)):
                return True
        return all(p.grad is None or _all_finite(p.grad) for p in self._params)

    def _describe(self, state: Any) -> dict[str, Any]:
        """The event: where the values went bad, in words and numbers (runs only once, when training stops)."""
        step = state.step + 1
        loss = float(state.loss)
        objective = float(state.objective)
        quantity = "loss" if not (math.isfinite(loss) and math.isfinite(objective)) else "gradient"
        value = _kind(loss if not math.isfinite(loss) else objective) if quantity == "loss" else None
        layers = linear_layers(state.module)
        bad_grads = [k for k, lin in enumerate(layers)
                     if any(t is not None and t.grad is not None and not _all_finite(t.grad)
                            for t in (lin.weight, lin.bias))]
        x, y, _ = state.batch
        layer, cause, outputs = None, None, []
        if not _all_finite(x):
            cause = "the batch's inputs contain NaN or infinite values"
        else:
            outputs = layer_outputs(state.module, x) or []
            for out in outputs:
                for what, a in (("output", out.linear), (f"{out.activation} output", out.output)):
                    if a is not None and not _all_finite(a):
                        layer = out.index
                        cause = (f"layer {layer}'s {what} overflowed in the forward pass (its largest weight is "
                                 f"{_largest(layers[layer].weight.data):.3g} in absolute value)")
                        break
                if cause:
                    break
        if cause is None and backend.is_float(y, backend.namespace(y)) and not _all_finite(y):
            cause = "the batch's target contains NaN or infinite values (a value too large for the dtype?)"
        if cause is None and quantity == "loss":
            sizes = []
            if outputs:
                sizes.append(f"the largest output is {_largest(outputs[-1].linear):.3g}")
            if backend.is_float(y, backend.namespace(y)):
                sizes.append(f"the largest target {_largest(y):.3g}")
            cause = "the network's outputs are finite but the loss is not" + (f" ({', '.join(sizes)})" if sizes else "")
        if quantity == "gradient":
            bad = [p for p in state.optimizer.params if p.grad is not None and not _all_finite(p.grad)]
            g = backend.to_numpy(bad[0].grad).ravel()
            value = _kind(float(g[~np.isfinite(g)][0]))
            if layer is None and bad_grads:
                layer = bad_grads[-1]  # backpropagation runs from the output: the first to go bad
                cause = cause or f"the gradient of layer {layer} overflowed in backpropagation"
            cause = cause or "a gradient overflowed in backpropagation"
        lr = getattr(state.optimizer, "lr", None)
        advice = self.advice.format(lr="?" if lr is None else f"{lr:g}")
        message = (f"training stopped at step {step} (epoch {state.epoch}): the {quantity} became {value}; {cause}. "
                   f"The weights are kept as they were after step {step - 1}, before the bad step. Try: {advice}.")
        return {"epoch": int(state.epoch), "step": int(step), "quantity": quantity, "value": value, "layer": layer,
                "layers_with_bad_gradients": bad_grads, "cause": cause, "message": message}
