"""``glassnet.optim.lr_scheduler``: PyTorch's module name for the schedules, the very classes of optim.schedules."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import optim
from glassnet.optim import schedules


def test_every_schedule_is_in_lr_scheduler_as_the_same_class() -> None:
    defined = {name for name, obj in vars(schedules).items()
               if inspect.isclass(obj) and obj.__module__ == schedules.__name__}
    assert set(optim.lr_scheduler.__all__) == defined
    for name in defined:
        assert getattr(optim.lr_scheduler, name) is getattr(schedules, name) is getattr(optim, name)


def test_pytorch_import_forms() -> None:
    from glassnet.optim.lr_scheduler import CosineAnnealingLR, StepLR

    w = gn.Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25]
    cosine = CosineAnnealingLR(optim.SGD([w], lr=0.1), T_max=4)
    assert isinstance(cosine, optim.lr_scheduler.LRScheduler)


def test_lr_scheduler_is_an_attribute_after_a_plain_import() -> None:
    # a fresh interpreter: `import glassnet` alone must make optim.lr_scheduler reachable, as torch.optim does
    src = str(Path(gn.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = "import glassnet; print(glassnet.optim.lr_scheduler.CosineAnnealingLR.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "CosineAnnealingLR"


def test_matches_torch_lr_scheduler_names() -> None:
    torch = pytest.importorskip("torch")
    for name in optim.lr_scheduler.__all__:
        assert hasattr(torch.optim.lr_scheduler, name), name
