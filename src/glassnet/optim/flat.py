"""Flat storage: an optimizer's parameters, gradients and state as views into one buffer each.

With every parameter in one contiguous buffer, a step is one compiled pass (or a handful of NumPy
operations) over all of them instead of a handful per parameter. It is a storage detail only:
:meth:`FlatStorage.runs` hands the optimizer the stretches of neighbouring parameters that step
together (each has a gradient and the same step count) and the optimizer applies to each stretch
the rule it applies to one parameter; the rules are elementwise, so results are the same either way.
NumPy only (it needs views: reshaped slices that share memory), and one dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..autograd import Tensor


class FlatStorage:
    """Each parameter's ``.data``, ``.grad`` and state arrays become views into one buffer per kind.

    ``states[i]`` (name -> array) is updated in place: each array named in ``names[i]`` is replaced by
    a view holding the same values (zeros where the state has no such array yet).
    """

    def __init__(self, params: Sequence[Tensor], states: Sequence[dict[str, Any]],
                 names: Sequence[Sequence[str]]) -> None:
        xp, dtype = params[0].xp, params[0].data.dtype
        self.params = list(params)
        self.offsets = [0]
        for p in self.params:
            self.offsets.append(self.offsets[-1] + p.size)
        total = self.offsets[-1]
        self.data, self.grad = xp.zeros((total,), dtype=dtype), xp.zeros((total,), dtype=dtype)
        self.state = {name: xp.zeros((total,), dtype=dtype) for name in dict.fromkeys(n for ns in names for n in ns)}
        self.data_views: list[Any] = []
        self.grad_views: list[Any] = []
        for i, (p, st, ns) in enumerate(zip(self.params, states, names, strict=True)):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            view = xp.reshape(self.data[lo:hi], p.shape)
            view[...] = p.data
            p.data = view
            gview = xp.reshape(self.grad[lo:hi], p.shape)
            if p.grad is not None:
                gview[...] = p.grad
                p.grad = gview
            p._grad_buffer = gview  # backward writes fresh gradients straight into the flat buffer
            self.data_views.append(view)
            self.grad_views.append(gview)
            for name in ns:
                sview = xp.reshape(self.state[name][lo:hi], p.shape)
                if name in st:
                    sview[...] = st[name]
                st[name] = sview
        self._views: dict[tuple[int, int], tuple[Any, Any, dict[str, Any]]] = {}

    def runs(self, start: int, stop: int, steps: Sequence[int]) -> list[tuple[int, int]]:
        """The runs ``[a, b)`` within ``[start, stop)`` of neighbouring parameters that have a gradient and the
        same step count; a parameter whose ``.grad`` is None belongs to none.

        First brings back into the buffers any ``.data`` or ``.grad`` replaced since the last step.
        """
        params, data_views, grad_views = self.params, self.data_views, self.grad_views
        runs, first, run_step = [], -1, 0
        for i in range(start, stop):
            p = params[i]
            if p.data is not data_views[i]:
                data_views[i][...] = p.data
                p.data = data_views[i]
            g = p.grad
            if g is not grad_views[i]:
                if g is None:
                    if first >= 0:
                        runs.append((first, i))
                        first = -1
                    continue
                grad_views[i][...] = g
                p.grad = grad_views[i]
            if first < 0:
                first, run_step = i, steps[i]
            elif steps[i] != run_step:
                runs.append((first, i))
                first, run_step = i, steps[i]
        if first >= 0:
            runs.append((first, stop))
        return runs

    def views(self, a: int, b: int, names: Sequence[str]) -> tuple[Any, Any, dict[str, Any]]:
        """Flat views of parameters ``[a, b)``: (data, gradient, {name: state} for ``names``), kept for reuse."""
        views = self._views.get((a, b))
        if views is None:
            lo, hi = self.offsets[a], self.offsets[b]
            views = self._views[a, b] = (self.data[lo:hi], self.grad[lo:hi],
                                         {name: self.state[name][lo:hi] for name in names})
        return views
