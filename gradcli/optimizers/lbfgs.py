"""L-BFGS (torch.optim.LBFGS): a quasi-Newton method that evaluates the loss itself, several
times per step, through a closure.

One ``step(closure)`` runs up to ``max_iter`` iterations, each a move θ ← θ + t·d along a
direction d = −H·g, where H estimates the inverse Hessian from the last ``history_size``
pairs (s, y) of moves and gradient changes (the two-loop recursion). The step length t is
``lr`` (the first iteration ever: min(1, 1/‖g‖₁)·lr), or what the strong-Wolfe line search
finds. Each iteration evaluates the loss and gradient again, so one step costs up to
``max_eval`` evaluations. torch keeps the state of all parameters together, as flat vectors,
on the first parameter; so does the rule here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gradcli.optimizers.catalog import (
    Choice,
    Hyperparameter,
    Integer,
    Maybe,
    Optimizer,
    Real,
)
from gradcli.optimizers.formula import Element, hyper, num

if TYPE_CHECKING:
    from torch import Tensor

# The constants of torch's _strong_wolfe (not keywords of torch.optim.LBFGS).
C1 = 1e-4  # sufficient decrease (Armijo)
C2 = 0.9  # curvature


def _gather_flat_grad(params: list[Tensor]) -> Tensor:
    """g: every parameter's gradient in one flat vector (zeros for a parameter without one, a
    sparse gradient made dense)."""
    import torch

    views = []
    for p in params:
        if p.grad is None:
            view = p.new_zeros(p.numel())
        elif p.grad.is_sparse:
            view = p.grad.to_dense().view(-1)
        else:
            view = p.grad.view(-1)
        views.append(view)
    return torch.cat(views, 0)


def _add_grad(params: list[Tensor], step_size: Any, update: Tensor) -> None:
    """θ ← θ + step_size·update, the flat ``update`` cut back into the parameters."""
    offset = 0
    for p in params:
        numel = p.numel()
        p.add_(update[offset : offset + numel].view_as(p), alpha=step_size)
        offset += numel


def _directional_evaluate(
    closure: Callable[[], Tensor], params: list[Tensor], x: list[Tensor], t: Any, d: Tensor
) -> tuple[float, Tensor]:
    """f(x + t·d) and its gradient; the parameters are put back to x after."""
    _add_grad(params, t, d)
    loss = float(closure())
    flat_grad = _gather_flat_grad(params)
    for p, saved in zip(params, x, strict=True):
        p.copy_(saved)
    return loss, flat_grad


def cubic_interpolate(
    x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple[Any, Any] | None = None
) -> Any:
    r"""The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
    ``bounds`` (by default [min(x1, x2), max(x1, x2)]):

        d1 = g1 + g2 − 3·(f1 − f2)/(x1 − x2)
        d2 = √(d1² − g1·g2)
        x = x2 − (x2 − x1)·(g2 + d2 − d1)/(g2 − g1 + 2·d2)      for x1 <= x2 (mirrored else)

    and the middle of the bounds when d1² < g1·g2 (the cubic has no minimum). torch's
    ``_cubic_interpolate``, from minFunc's ``polyinterp``.
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = d2_square.sqrt()
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def strong_wolfe(
    obj_func: Callable[[list[Tensor], Any, Tensor], tuple[float, Tensor]],
    x: list[Tensor],
    t: Any,
    d: Tensor,
    f: float,
    g: Tensor,
    gtd: Tensor,
    c1: float = C1,
    c2: float = C2,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Tensor, Any, int]:
    r"""A step length t along d that satisfies the strong Wolfe conditions, with φ(t) =
    f(x + t·d) and φ'(t) = ∇f(x + t·d)·d:

        φ(t) <= φ(0) + c1·t·φ'(0)          (sufficient decrease)
        |φ'(t)| <= −c2·φ'(0)                (curvature)

    Bracketing: from the given t, while neither holds nor the slope turns non-negative, the
    next t is the cubic's minimiser within [t + 0.01·(t − t_prev), 10·t]. Zoom: inside the
    bracket, cubic interpolation between its ends, kept at least 10% of the bracket away from
    them when progress stalls, until a t satisfies both or the bracket is narrower than
    ``tolerance_change``/max|d|. At most ``max_ls`` evaluations. Returns φ(t), ∇f there, t
    and the number of evaluations. torch's ``_strong_wolfe`` (minFunc's ``WolfeLineSearch``),
    step by step.
    """
    import torch

    d_norm = d.abs().max()
    g = g.clone(memory_format=torch.contiguous_format)
    # evaluate objective and gradient using initial step
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[Any] = []
    bracket_f: list[Any] = []
    bracket_g: list[Tensor] = []
    bracket_gtd: list[Any] = []
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.clone(memory_format=torch.contiguous_format)]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.clone(memory_format=torch.contiguous_format)]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # interpolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = cubic_interpolate(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
        )
        # next step
        t_prev = tmp
        f_prev = f_new
        g_prev = g_new.clone(memory_format=torch.contiguous_format)
        gtd_prev = gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    # reached max number of iterations?
    if ls_iter == max_ls:
        bracket = [0, t]
        bracket_f = [f, f_new]
        bracket_g = [g, g_new]

    # zoom: refine the bracket until a point satisfies the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        # line-search bracket is so small
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # t too close to an end of the bracket: move it 10% of the bracket inside, if the
        # last trial was close too or t is at (or past) an end
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not satisfied or not lower than lowest point
            bracket[high_pos] = t
            bracket_f[high_pos] = f_new
            bracket_g[high_pos] = g_new.clone(memory_format=torch.contiguous_format)
            bracket_gtd[high_pos] = gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # Wolfe conditions satisfied
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # old high becomes new low
                bracket[high_pos] = bracket[low_pos]
                bracket_f[high_pos] = bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            # new point becomes new low
            bracket[low_pos] = t
            bracket_f[low_pos] = f_new
            bracket_g[low_pos] = g_new.clone(memory_format=torch.contiguous_format)
            bracket_gtd[low_pos] = gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def lbfgs(
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Any]],
    *,
    lr: float,
    closure: Callable[[], Tensor],
    max_iter: int,
    max_eval: int | None,
    tolerance_grad: float,
    tolerance_change: float,
    history_size: int,
    line_search_fn: str | None,
) -> None:
    r"""One step: up to max_iter iterations on all parameters as one flat vector θ, with
    g = ∇f(θ) from ``closure`` (f evaluated at most max_eval times, None: ⌊max_iter·5/4⌋; a
    line search may make one more, as its first trial is not counted against its limit):

        stop at once                                 if max|g| <= tolerance_grad
        each iteration k:
          d ← −g                                     the first iteration ever (H = I)
          otherwise, with s = t·d and y = g − g_prev of the last move:
            keep (s, y), ρ = 1/(y·s), at most history_size pairs    if y·s > 1e-10
            γ ← (y·s)/(y·y)                          (H_diag, the initial H = γ·I)
            d ← −H·g by the two-loop recursion:
              q ← −g;  for i newest → oldest: α_i = ρ_i·(s_i·q),  q ← q − α_i·y_i
              r ← γ·q; for i oldest → newest: β_i = ρ_i·(y_i·r),  r ← r + (α_i − β_i)·s_i
              d ← r
          t ← min(1, 1/‖g‖₁)·lr                      the first iteration ever, else t ← lr
          stop                                       if g·d > −tolerance_change (no descent)
          t ← strong-Wolfe line search from t        if line_search_fn = "strong_wolfe"
          θ ← θ + t·d, and f, g ← f(θ), ∇f(θ)         (not after the last iteration, when
                                                     there is no line search)
          stop if k = max_iter, evaluations >= max_eval, max|g| <= tolerance_grad,
               max|t·d| <= tolerance_change or |f − f_prev| < tolerance_change

    ``grads`` is unused: each evaluation leaves its gradient in ``p.grad``, read from there
    as torch does. State, all on the first parameter (torch's choice): ``func_evals`` and
    ``n_iter`` (evaluations and iterations, all steps together), ``d``, ``t`` (the last
    direction and step length), ``old_dirs`` (the y's), ``old_stps`` (the s's), ``ro`` (the
    ρ's), ``H_diag`` (γ), ``prev_flat_grad``, ``prev_loss``, ``al`` (the α's). Repeats
    torch's ``LBFGS.step``.
    """
    import torch

    if max_eval is None:
        max_eval = max_iter * 5 // 4  # torch's constructor
    # Make sure the closure is always called with grad enabled
    closure = torch.enable_grad()(closure)
    state = states[0]
    state.setdefault("func_evals", 0)
    state.setdefault("n_iter", 0)

    # evaluate initial f(x) and df/dx
    orig_loss = closure()
    loss = float(orig_loss)
    current_evals = 1
    state["func_evals"] += 1
    flat_grad = _gather_flat_grad(params)
    opt_cond = flat_grad.abs().max() <= tolerance_grad
    if opt_cond:  # optimal condition
        return

    d = state.get("d")
    t = state.get("t")
    old_dirs = state.get("old_dirs")
    old_stps = state.get("old_stps")
    ro = state.get("ro")
    H_diag = state.get("H_diag")
    prev_flat_grad = state.get("prev_flat_grad")
    prev_loss = state.get("prev_loss")

    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        state["n_iter"] += 1

        # the direction
        if state["n_iter"] == 1:
            d = flat_grad.neg()
            old_dirs, old_stps, ro = [], [], []
            H_diag = 1
        else:
            y = flat_grad.sub(prev_flat_grad)
            s = d.mul(t)
            ys = y.dot(s)  # y·s
            if ys > 1e-10:
                if len(old_dirs) == history_size:  # forget the oldest pair
                    old_dirs.pop(0)
                    old_stps.pop(0)
                    ro.pop(0)
                old_dirs.append(y)
                old_stps.append(s)
                ro.append(1.0 / ys)
                H_diag = ys / y.dot(y)  # (y·s)/(y·y)
            num_old = len(old_dirs)
            if "al" not in state:
                state["al"] = [None] * history_size
            al = state["al"]
            # the two-loop recursion, in one buffer
            q = flat_grad.neg()
            for i in range(num_old - 1, -1, -1):
                al[i] = old_stps[i].dot(q) * ro[i]
                q.add_(old_dirs[i], alpha=-al[i])
            d = r = torch.mul(q, H_diag)
            for i in range(num_old):
                be_i = old_dirs[i].dot(r) * ro[i]
                r.add_(old_stps[i], alpha=al[i] - be_i)

        if prev_flat_grad is None:
            prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
        else:
            prev_flat_grad.copy_(flat_grad)
        prev_loss = loss

        # the step length
        t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr if state["n_iter"] == 1 else lr
        gtd = flat_grad.dot(d)  # the directional derivative g·d
        if gtd > -tolerance_change:
            break

        ls_func_evals = 0
        if line_search_fn is not None:
            if line_search_fn != "strong_wolfe":
                raise RuntimeError("only 'strong_wolfe' is supported")
            x_init = [p.clone(memory_format=torch.contiguous_format) for p in params]

            def obj_func(x: list[Tensor], t: Any, d: Tensor) -> tuple[float, Tensor]:
                return _directional_evaluate(closure, params, x, t, d)

            # (its limit leaves out its first trial: max_eval + 1 evaluations are possible)
            loss, flat_grad, t, ls_func_evals = strong_wolfe(
                obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
            )
            _add_grad(params, t, d)
            opt_cond = flat_grad.abs().max() <= tolerance_grad
        else:
            _add_grad(params, t, d)  # a fixed step
            if n_iter != max_iter:
                # evaluate again, except after the last iteration
                with torch.enable_grad():
                    loss = closure()
                loss = float(loss)
                flat_grad = _gather_flat_grad(params)
                opt_cond = flat_grad.abs().max() <= tolerance_grad
                ls_func_evals = 1
        current_evals += ls_func_evals
        state["func_evals"] += ls_func_evals

        # the stopping tests
        if n_iter == max_iter:
            break
        if current_evals >= max_eval:
            break
        if opt_cond:
            break
        if d.mul(t).abs().max() <= tolerance_change:  # lack of progress
            break
        if abs(loss - prev_loss) < tolerance_change:
            break

    state["d"] = d
    state["t"] = t
    state["old_dirs"] = old_dirs
    state["old_stps"] = old_stps
    state["ro"] = ro
    state["H_diag"] = H_diag
    state["prev_flat_grad"] = prev_flat_grad
    state["prev_loss"] = prev_loss


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def explain(e: Element, h: dict[str, Any]) -> list[str]:
    before, after = e.was("n_iter"), e.state_after.get("n_iter", 0.0)
    iterations = int(after - before)
    evaluations = int(e.state_after.get("func_evals", 0.0) - e.was("func_evals"))
    search = h.get("line_search_fn") == "strong_wolfe"
    head = f"{_count(iterations, 'iteration')}, {_count(evaluations, 'evaluation')}"
    if iterations == 0:
        return [
            head,
            f"max|g| <= tolerance_grad {hyper(float(h['tolerance_grad']))}: no move",
            f"θ = {num(e.theta_new)}",
        ]
    d, t = e.state_after["d"], e.state_after["t"]
    if iterations == 1 and evaluations == 1 and (search or int(h["max_iter"]) > 1):
        # a move would have been evaluated: the iteration stopped before it
        return [
            head,
            f"d = {num(d)}, but g·d > −tolerance_change: no descent, no move",
            f"θ = {num(e.theta_new)}",
        ]
    if iterations == 1 and before == 0:
        parts = [head, f"d = −g = {num(d)}"]
        length = f"t = min(1, 1/‖g‖₁)·lr = {num(t)}"
        if search:
            length = f"t = strong-Wolfe line search from min(1, 1/‖g‖₁)·lr = {num(t)}"
    else:
        label = "d" if iterations == 1 else "last d"
        parts = [
            head,
            f"{label} = −H·g (two-loop recursion, H_diag = {num(e.state_after['H_diag'])}) "
            f"= {num(d)}",
        ]
        length = f"t = lr = {num(t)}"
        if search:
            length = f"t = strong-Wolfe line search from lr = {num(t)}"
    parts.append(length)
    if iterations == 1:
        parts.append(f"θ + t·d = {num(e.theta)} + {num(t)} × {num(d)} = {num(e.theta_new)}")
    else:
        # the earlier iterations' moves are not kept: their sum is read back
        parts.append(
            f"θ + Σ t·d over the {iterations} iterations = {num(e.theta)} + "
            f"{num(e.theta_new - e.theta)} = {num(e.theta_new)}"
        )
    return parts


LBFGS = Optimizer(
    name="lbfgs",
    torch_class="LBFGS",
    summary="quasi-Newton: moves along −H·g, H from the last (s, y) pairs; evaluates f itself",
    lr=1.0,
    hyperparameters=(
        Hyperparameter(
            "max_iter",
            20,
            Integer(1),
            "Iterations (moves θ ← θ + t·d) per step, >= 1.",
            tested=(1, 4),  # (torch's 20 and 25 evaluations make examples slow)
        ),
        Hyperparameter(
            "max_eval",
            None,
            Maybe(Integer(1)),
            "Evaluations per step, >= 1 (a line search may make one more); None: ⌊max_iter·5/4⌋.",
            tested=(1, 6),
        ),
        Hyperparameter(
            "tolerance_grad",
            1e-7,
            Real(),
            "Stop when max|g| <= this (first-order optimal).",
            tested=(0.0, 1e-5),
        ),
        Hyperparameter(
            "tolerance_change",
            1e-9,
            Real(),
            "Stop when the loss, or max|t·d|, changes by less than this.",
            tested=(0.0, 1e-5),
        ),
        Hyperparameter(
            "history_size",
            100,
            Integer(1, high=10**6),  # (torch makes a list of this length on the first step)
            "(s, y) pairs kept to estimate H, 1 to 10^6.",
            tested=(1, 8),  # below the iterations of a run, so the oldest pairs go too
        ),
        Hyperparameter(
            "line_search_fn",
            None,
            Choice((None, "strong_wolfe")),
            "None: t = lr; strong_wolfe: a line search for t.",
        ),
    ),
    state={
        "func_evals": "evaluations of the loss, all steps together",
        "n_iter": "iterations, all steps together",
        "d": "the last direction (all parameters as one flat vector)",
        "t": "the last step length",
        "old_dirs": "the y's: changes of g, newest last (shown one after another)",
        "old_stps": "the s's: moves t·d, newest last",
        "ro": "the ρ = 1/(y·s) of each pair",
        "H_diag": "γ = (y·s)/(y·y) of the newest pair: the initial H is γ·I",
        "prev_flat_grad": "g at the start of the last iteration",
        "prev_loss": "the loss at the start of the last iteration",
        "al": "the α's of the two-loop recursion (history_size slots)",
    },
    rule=lbfgs,
    explain=explain,
    lrs={"linear": 1.0, "mlp": 1.0, "rosenbrock": 1.0, "embedding": 1.0},
    foreach_by_default=False,
    closure=True,
    gradients="both",
)
OPTIMIZERS = (LBFGS,)
