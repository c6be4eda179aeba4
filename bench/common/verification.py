"""nnctl against PyTorch before any timing: a speed ratio means nothing unless both compute the same."""

from __future__ import annotations

from common.bench import Bench
from common.torch_runner import torch_model, torch_optimizer, torch_tensors
from common.workload import DEFAULT_LR, fresh_net, make_spec, step_optimizer, use_kernels

VERIFY_STEPS_FLOAT64 = 10
# A pre-activation this close to a ReLU kink, or a max-pool window whose two largest taps are this
# close, can fall on either side in float32 depending on summation order (~100 float32 ulps of 1.0).
KINK_EPS = 1e-5


def verify(bench: Bench, run, args, batch_size: int) -> tuple[bool, list[dict]]:
    """Same θ in, same batches: nnctl's loss, gradient and θ must match PyTorch's.

    float64 is the strict check: over ``VERIFY_STEPS_FLOAT64`` steps everything agrees to
    1e-10, which shows the arithmetic is the same.

    float32 (the benchmarked precision) is compared after every step: the loss, the
    gradient's worst element (|Δ|/max|g| per tensor) and θ (‖Δ‖/‖θ‖ per tensor) within ``--tolerance``, the worst single element of θ
    (|Δ|/max|θ|) within 10×tolerance (Adam divides by √ŝ, so float32 rounding in a near-zero
    gradient becomes a visible part of a step of size lr). Float32 is also kink-aware: each
    step counts nnctl's pre-activations within ``KINK_EPS`` of a ReLU kink and its max-pool
    windows whose two largest taps are that close (exact zeros and exact ties excluded: both
    libraries compute those exactly and break them the same way). Where rounding puts such
    a value on the other side in PyTorch, a mask entry or a pooling route flips, and the
    gradients differ discontinuously: correct float32 behaviour, not a bug. So a float32
    difference over tolerance at a step with such near-kinks at or before it is reported as
    explained (the count is shown), not failed; one with no near-kink before it fails.
    """
    import numpy as np
    import torch

    steps, steps64 = bench.verify_steps_float32, VERIFY_STEPS_FLOAT64
    print(f"verify: nnctl vs PyTorch {torch.__version__}, same initial θ, the same batches of {batch_size} "
          f"({steps} steps in float32, {steps64} in float64); max relative differences "
          f"(float32 tolerance {args.tolerance:g}, kink-aware; float64 1e-10)")
    ok, cases = True, []
    for name, lr, fused in [("gd", DEFAULT_LR["gd"], False), ("adam", DEFAULT_LR["adam"], False),
                            ("adam", DEFAULT_LR["adam"], True)]:
        f32 = _verify_case(bench, run, args, batch_size, steps, name, lr, fused, np.float32)
        f64 = _verify_case(bench, run, args, batch_size, steps64, name, lr, False, np.float64)
        f32_verdict = _float32_verdict(f32, args.tolerance)
        worst64 = max(max(r["loss"], r["grad"], r["theta"], r["theta_element"]) for r in f64)
        passed = f32_verdict != "FAIL" and worst64 <= 1e-10
        ok &= passed
        label = f"{name}{' (fused)' if fused else ''} lr={lr:g}"
        summary = {key: max(r[key] for r in f32) for key in ("loss", "grad", "theta", "theta_element")}
        near = sum(r["near_kinks"] for r in f32)
        cases.append({"case": label, "float32": summary, "float32_steps": f32, "float32_verdict": f32_verdict,
                      "float64": {"worst": worst64}, "passed": passed, "steps_float32": steps, "steps_float64": steps64,
                      "near_kinks_float32": near})
        print(f"  {label:<21} f32: loss {summary['loss']:.1e}  grad {summary['grad']:.1e}  θ {summary['theta']:.1e} "
              f"(worst element {summary['theta_element']:.1e}); {near} near-kink(s): {f32_verdict}   "
              f"f64: {worst64:.1e}   {'ok' if passed else 'FAIL'}", flush=True)
    return ok, cases


def _float32_verdict(per_step: list[dict], tol: float) -> str:
    """ok: every step within tolerance; explained: the first step over it had near-kinks at or
    before it; FAIL: a step over tolerance with no near-kink before it."""
    near = 0
    for r in per_step:
        near += r["near_kinks"]
        if max(r["loss"], r["grad"], r["theta"]) > tol or r["theta_element"] > 10 * tol:
            return f"explained (step {r['step']})" if near else "FAIL"
    return "ok"


def near_kinks(net, eps: float = KINK_EPS) -> int:
    """Pre-activations of the last forward pass within eps of a ReLU kink, plus max-pool windows
    whose two largest taps lie within eps; exact zeros and exact ties are not counted."""
    count = 0
    for layer in net.all_layers():
        count += layer.kinks(eps) - layer.kinks(0.0)
        if hasattr(layer, "ties"):
            count += layer.ties(eps) - layer.ties(0.0)
    return count


def _verify_case(bench, run, args, batch_size, steps, name, lr, fused, dtype) -> list[dict]:
    """Per step: the loss's, gradient's and θ's relative differences to PyTorch, and nnctl's near-kinks."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    train = run.data["train"]
    n = steps * batch_size
    x, y1h = train.x[:n].astype(dtype), train.targets[:n].astype(dtype)
    xt, yt = torch.from_numpy(np.ascontiguousarray(bench.torch_input(x))), torch.from_numpy(train.labels[:n].astype(np.int64))
    spec = make_spec(bench, args, batch_size, 1, optimizer=name, lr=lr)
    use_kernels(spec)
    net, _ = fresh_net(spec, run.net.input_shape)
    if dtype != np.float32:
        net = net.with_dtype(dtype)
    opt = step_optimizer(spec, net)
    model = torch_model(torch, bench, net).to(torch.float64 if dtype == np.float64 else torch.float32)
    topt = torch_optimizer(torch, model, name, lr, fused)
    per_step = []
    for k in range(steps):
        sl = slice(k * batch_size, (k + 1) * batch_size)
        cost = net.loss_and_grad(x[sl], y1h[sl])
        near = near_kinks(net)
        topt.zero_grad()
        loss = F.cross_entropy(model(xt[sl]), yt[sl])
        loss.backward()
        grad = _compare(net.grad_tensors(), torch_tensors(bench, model, grads=True))[1]  # worst element
        opt.step(net.theta, net.grad, lr)
        topt.step()
        theta, element = _compare(net.tensors(), torch_tensors(bench, model))
        per_step.append({"step": k + 1, "loss": abs(cost - loss.item()) / abs(loss.item()), "grad": grad,
                         "theta": theta, "theta_element": element, "near_kinks": near})
    return per_step


def _compare(ours: dict, theirs: dict) -> tuple[float, float]:
    """Worst tensor's ‖ours − theirs‖/‖theirs‖ and worst element's |ours − theirs|/max|theirs|."""
    import numpy as np

    norm_rel = elem_rel = 0.0
    for key, t in theirs.items():
        t = t.reshape(-1).astype(np.float64)
        diff = ours[key].reshape(-1).astype(np.float64) - t
        norm_rel = max(norm_rel, float(np.linalg.norm(diff) / max(np.linalg.norm(t), 1e-300)))
        elem_rel = max(elem_rel, float(np.abs(diff).max() / max(np.abs(t).max(), 1e-300)))
    return norm_rel, elem_rel
