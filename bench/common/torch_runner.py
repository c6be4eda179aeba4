"""PyTorch trained on nnctl's batches from nnctl's initial θ, as a PyTorch user would write the loop."""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

from common.bench import Bench
from common.workload import accuracy, fresh_net


@contextmanager
def flush_denormals(torch):
    """PyTorch's recommended CPU setting, on only while PyTorch trains (FTZ/DAZ in this thread's MXCSR)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def torch_model(torch, bench: Bench, net):
    """The benchmark's PyTorch module with nnctl's initialized weights copied in."""
    model = bench.build_torch(torch)
    tensors = net.tensors()
    params = bench.torch_params(model)
    assert set(params) == set(tensors), (sorted(params), sorted(tensors))
    with torch.no_grad():
        for key, param in params.items():
            param.copy_(torch.from_numpy(bench.to_torch(key, tensors[key])).reshape(param.shape))
    return model


def torch_tensors(bench: Bench, model, grads: bool = False) -> dict:
    """PyTorch's parameters (or gradients) in nnctl's layouts, keyed like ``Network.tensors()``."""
    return {key: bench.to_nnctl(key, (p.grad if grads else p).detach().numpy())
            for key, p in bench.torch_params(model).items()}


def torch_optimizer(torch, model, name: str, lr: float, fused: bool):
    cls = {"adam": torch.optim.Adam, "gd": torch.optim.SGD}[name]
    return cls(model.parameters(), lr=lr, **({"fused": True} if fused else {}))  # unfused: PyTorch's own default


def torch_predict(torch, bench: Bench, model, x, chunk: int = 2000):
    import numpy as np

    with torch.no_grad():
        model.eval()
        return np.concatenate([model(torch.from_numpy(bench.torch_input(x[i:i + chunk]))).argmax(dim=1).numpy()
                               for i in range(0, len(x), chunk)])


def torch_train_epoch(torch, model, opt, data, buffers, perm, batch: int, sum_costs: bool = False):
    """One epoch as every PyTorch runner trains (no DataLoader): ``index_select`` the permutation of
    ``data`` (x, y) into the preallocated ``buffers``, then slice mini-batches from them. Returns
    (Σ batch cost · rows when ``sum_costs``, else 0.0; the last batch's loss tensor)."""
    import torch.nn.functional as F

    (x, y), (xs, ys) = data, buffers
    torch.index_select(x, 0, perm, out=xs)
    torch.index_select(y, 0, perm, out=ys)
    total = 0.0
    for k in range(math.ceil(len(x) / batch)):
        xb, yb = xs[k * batch:(k + 1) * batch], ys[k * batch:(k + 1) * batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        if sum_costs:
            total += loss.item() * len(xb)
    return total, loss


def run_torch(bench: Bench, run, spec, fused: bool) -> dict:
    """nnctl's θ and shuffle stream (the same batches in the same order); no DataLoader: each epoch
    ``index_select``s a permutation into preallocated tensors and slices batches from them."""
    import numpy as np
    import torch

    net, streams = fresh_net(spec, run.net.input_shape)
    model = torch_model(torch, bench, net)
    opt = torch_optimizer(torch, model, spec.train.optimizer.name, spec.train.learning_rate, fused)
    train, test = run.data["train"], run.data["test"]
    m, B = len(train), spec.train.batch_size
    x = torch.from_numpy(np.ascontiguousarray(bench.torch_input(train.x)))
    y = torch.from_numpy(train.labels.astype(np.int64))
    xs, ys = torch.empty_like(x), torch.empty_like(y)
    shuffle = streams["shuffle"]
    epoch_times = []
    with flush_denormals(torch):
        model.train()
        for _ in range(spec.train.epochs):
            t0 = time.perf_counter()
            _, loss = torch_train_epoch(torch, model, opt, (x, y), (xs, ys), torch.from_numpy(shuffle.permutation(m)), B)
            epoch_times.append(time.perf_counter() - t0)
        if not math.isfinite(loss.item()):
            raise RuntimeError("PyTorch training diverged")
        pred = torch_predict(torch, bench, model, test.x)
    return {"epoch_times": epoch_times, "accuracy": accuracy(pred, test.labels), "dtype": str(x.dtype).split(".")[-1]}
