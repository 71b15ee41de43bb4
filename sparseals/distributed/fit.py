"""``fit(model, data, client)``: the single-machine fit loop, run over blocks on a Dask cluster."""

import contextlib
import numbers
import operator
import time
import traceback
import uuid
import warnings

import numpy as np
import scipy.sparse as sp

from .. import _early_stopping
from .. import _validation as v
from .._base import as_ratings
from ..models import ExplicitALS, ImplicitALS
from ..ratings import _DUPLICATES, Ratings
from . import _blocks, _steps, _wait

_ROUTINGS = {"broadcast", "routed"}
_SIDES = ("user", "item")


def fit(model, data, client, blocks=None, *, routing="broadcast", user="userId", item="movieId",
        rating="rating", duplicates="error", checkpoint=None,
        gather=True, timeout=None):
    """Fit an unfitted model on a Dask cluster; returns the model, fitted.

    The result equals ``model.fit(data)`` on one machine (same ``random_state``):
    the model draws its random start as usual, the ratings are split into user blocks
    (rows of the CSR) and item blocks (rows of the CSC) that stay on the workers for
    the whole fit, and each half-step ships the fixed side's factors to the blocks and
    runs :mod:`sparseals.solvers` there. Dask recomputes blocks lost with a worker from
    their inputs, so a fit survives the loss of workers.

    ExplicitALS's factors and biases are those of the single-machine fit bitwise (its
    ``loss_history_`` is summed by blocks: equal up to rounding). ImplicitALS's are
    equal up to rounding: the single-machine fit rotates the fixed side into the
    eigenbasis of its Gram matrix and back in place, which moves its rows by rounding,
    and with several blocks the Gram matrix is added up from the blocks' in float64.
    After three iterations (1,500 × 200, 25,000 interactions, K = 8, two blocks) the
    factors differed by up to 1e-12 of the largest in float64, and in float32 by 1e-6
    with ``solver="cholesky"`` and 1e-3 with CG (which carries rounding forward from
    step to step). A cluster fit does not depend on ``num_threads`` and repeats
    bitwise with the same ``blocks``.

    Parameters
    ----------
    model : ExplicitALS or ImplicitALS
        Its parameters are used as for ``model.fit`` (``num_threads``: threads per
        task; default the worker's thread count; ``warm_start`` resumes from its fitted
        factors). ``callback`` and ``show_progress`` run on the client after each
        iteration; unlike ``model.fit``'s, the callback cannot evaluate the model (its
        factors stay on the workers until the fit ends: the model's attributes still
        hold the start). A fit interrupted (Ctrl-C, ``timeout``, a raising callback) leaves
        the model with its last completed iteration, as on one machine.
    data : Ratings, scipy.sparse matrix, ndarray or dask.dataframe.DataFrame
        In-memory ratings (split on the client and sent to the workers once, through
        the scheduler, which keeps the blocks' data to rebuild any lost with a
        worker: for data larger than the scheduler's memory pass a DataFrame), or a
        Dask DataFrame with ``user``, ``item`` and ``rating`` columns whose ids may be
        anything sortable: they are encoded on the cluster to sorted positions, as
        :meth:`Ratings.from_dataframe` does, without collecting the frame on the client.
        The ids are those the Dask frame holds: Dask turns object columns into strings
        as it builds a frame (its ``dataframe.convert-string`` option, on by default),
        so integer ids in a pandas object column arrive, and end in ``user_ids_`` and
        ``item_ids_``, as text sorted as text (``'10'`` before ``'2'``); give such a
        column an integer dtype before ``dd.from_pandas``.
    client : dask.distributed.Client
    blocks : int or (int, int), optional
        Blocks per side (user blocks, item blocks); default one per worker, each
        half-step of a block running on all the worker's threads. More blocks even
        out uneven workers but send more copies of the factors and, with routing, a
        small transfer per half-step for each pair of blocks that share ratings (up to
        ``blocks²``; see ``benchmarks/DISTRIBUTED.md``). A side gets at most one block
        per row: ranges that would hold no rows are dropped (``blocks=200`` on 120
        users makes at most 120 user blocks).
    routing : {'broadcast', 'routed'}
        ``'broadcast'`` sends every block the other side's whole factor matrix;
        ``'routed'`` sends each block only the factor rows it references.
    user, item, rating : str
        Column names for a Dask DataFrame (``rating=None``: every pair has value 1).
    duplicates : {'error', 'sum', 'last', 'mean'}
        A Dask DataFrame's repeated (user, item) pairs, as in :meth:`Ratings.from_dataframe`.
    checkpoint : int, optional
        Every ``checkpoint`` iterations, bring the factors to the client and restart
        their lineage from there (Spark's ``checkpointInterval``): a worker lost later
        then costs at most ``checkpoint`` iterations of recomputation instead of
        everything since the start, for ``(n_users + n_items) · K`` values moved to the
        client and back. Default: never.
    gather : bool
        Bring all factors to the client at the end (default). ``False`` leaves the
        user factors on the workers as a :class:`DistributedRows` (rows fetched when
        indexed, so ``recommend`` and ``predict`` fetch only the users they score; item
        factors and biases are gathered; ``save`` and pickling bring all the rows to
        the client). Keep the client open while the model is used.
    timeout : float, optional
        Seconds to wait for one step of the fit (encoding a DataFrame, building the
        blocks, one half-step) before raising ``TimeoutError``. With
        ``gather=False``, also how long each fetch of the rows left on the cluster
        waits (default 30; ``model.user_factors_.timeout`` changes it), so that
        pickling or indexing them with every worker gone fails instead of blocking.

    Returns
    -------
    model
        Fitted, with the attributes of a single-machine fit (factors, biases,
        ``loss_history_``, id maps, seen items for ``recommend``) and
        ``distributed_history_``: per iteration a dict with ``iteration``, ``loss``,
        ``seconds`` and ``bytes_broadcast`` or ``bytes_routed`` (factor bytes delivered
        to the blocks; co-located blocks move fewer over the network).

    Examples
    --------
    >>> from dask.distributed import Client, LocalCluster             # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> model = fit(sa.ExplicitALS(factors=8, random_state=0), ratings, client, blocks=4,
    ...             routing="routed")                                 # doctest: +SKIP
    >>> model.distributed_history_[0]["bytes_routed"]                 # doctest: +SKIP
    """
    from distributed import Client

    if not isinstance(model, (ExplicitALS, ImplicitALS)):
        raise TypeError(f"model must be an ExplicitALS or ImplicitALS; got {type(model).__name__}")
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client; got {type(client).__name__} "
                        "(e.g. Client('tcp://scheduler:8786') or Client(LocalCluster()))")
    v.one_of(routing, "routing", _ROUTINGS)
    v.one_of(duplicates, "duplicates", _DUPLICATES)
    if timeout is not None:
        timeout = v.non_negative_float(timeout, "timeout")
    if checkpoint is not None:
        checkpoint = v.positive_int(checkpoint, "checkpoint")
    v.boolean(gather, "gather")
    if client.status in ("closing", "closed"):  # else an AttributeError or KeyError below
        raise ValueError(f"client is {client.status}; give a running Client")
    n_blocks = _block_counts(blocks, client)
    dtype = model._validate_params()
    try:
        return _fit(model, data, client, user, item, rating, dtype, n_blocks, routing, duplicates,
                    timeout, checkpoint, gather)
    except BaseException as error:
        # the frames of the error's traceback hold the fit's futures, and so its blocks on
        # the workers, for as long as the error lives: their locals are let go (cancelling
        # the futures instead raced with the next fit's tasks on the same data). A closure
        # in those frames keeps its variables all the same: Dask's TimeoutError (its
        # waiting closure holds the futures) is therefore not chained to ours (_wait.within)
        seen = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            traceback.clear_frames(error.__traceback__)
            error = error.__cause__ or error.__context__
        raise


def _fit(model, data, client, user, item, rating, dtype, n_blocks, routing, duplicates, timeout,
         checkpoint, gather):
    """:func:`fit` once its options are checked: the layout, the model's start, the loop."""
    rng = v.random_generator(model.random_state)
    routed = routing == "routed"
    if _is_dask_dataframe(data):
        from ._encode import layout_from_dataframe

        layout = layout_from_dataframe(client, data, user, item, rating, dtype, n_blocks, routed,
                                       _confidence(model), duplicates, timeout)
        ratings = layout.pop("stand_in")
        moments = layout.pop("moments")
    else:
        _check_in_memory(data)
        ratings = as_ratings(data, dtype, name="data")
        layout = moments = None
    # the checks model.fit makes before the model changes, and its warm start
    with_ids = layout is not None or isinstance(data, Ratings)  # a matrix has none of its own
    ratings, init, history = model._prepare_fit(ratings, with_ids, dtype)
    _early_stopping.start(model, ratings, None, None, None)  # drops an earlier fit's record
    model._initialise(ratings, rng, dtype, moments)
    if init is not None:
        model._warm_start(init)
    model.loss_history_ = list(history)  # matches the factors if building the blocks fails
    if layout is None:
        layout = _layout_from_ratings(client, ratings, n_blocks, routed)
    else:
        model._seen = layout.pop("seen")
    return _Fit(model, client, layout, routed, timeout, checkpoint).run(bool(gather), history)


def _block_counts(blocks, client):
    if blocks is None:
        return (max(1, len(client.nthreads())),) * 2
    if isinstance(blocks, (tuple, list)):
        if len(blocks) != 2:
            raise ValueError(f"blocks must be an int or a pair (user blocks, item blocks); got "
                             f"{blocks!r}")
        return tuple(v.positive_int(b, "blocks") for b in blocks)
    if not isinstance(blocks, numbers.Integral):  # positive_int's message would hide the pair
        raise ValueError(f"blocks must be one integer, or a tuple or list of two (user blocks, "
                         f"item blocks); got {blocks!r}")
    return (v.positive_int(blocks, "blocks"),) * 2


def _is_dask_dataframe(data):
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - dask without pandas
        return False
    return isinstance(data, dd.DataFrame)


def _check_in_memory(data):
    """Refuse what is neither in-memory ratings nor a Dask DataFrame, saying what is taken
    (``as_ratings``' message does not name the Dask DataFrame)."""
    if isinstance(data, (Ratings, np.ndarray)) or sp.issparse(data):
        return
    hint = ""
    if type(data).__name__ == "DataFrame":  # pandas (or polars, ...): not a Dask one
        hint = (" (for a pandas DataFrame: dask.dataframe.from_pandas(frame, npartitions=...) "
                "or sparseals.Ratings.from_dataframe(frame))")
    raise TypeError(f"data must be a Ratings, a scipy.sparse matrix, a dense numpy array or a "
                    f"dask.dataframe.DataFrame; got {type(data).__name__}{hint}")


def _confidence(model):
    """What the blocks check an ImplicitALS's values with (None: not implicit)."""
    if not isinstance(model, ImplicitALS):
        return None
    return model.confidence, float(model.alpha), float(model.unobserved_weight)


def _layout_from_ratings(client, ratings, n_blocks, routed):
    """Rating blocks from in-memory ratings: row ranges of the CSR (users) and CSC (items).

    Each block is a task holding its slice, so the scheduler can rebuild it if the
    worker holding it dies.
    """
    sides = {"user": ratings.by_user, "item": ratings.by_item}
    bounds = {side: _blocks.bounds(ratings.shape[i], n_blocks[i], sides[side].indptr)
              for i, side in enumerate(_SIDES)}
    token = uuid.uuid4().hex[:8]
    workers = _blocks.workers_of(client)
    layout = {"shape": ratings.shape, "bounds": bounds, "workers": workers}
    with _carrying_data():
        for i, side in enumerate(_SIDES):
            layout[side] = _submit_blocks(client, side, sides[side], bounds, ratings.shape[1 - i],
                                          routed, workers, token)
    return layout


@contextlib.contextmanager
def _carrying_data():
    """Submit tasks that carry their data: on purpose (lineage: the scheduler can rebuild a
    block lost with a worker), not the misuse Dask's "Sending large graph" warns about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        yield


def _submit_blocks(client, side, rows, bounds, n_cols, routed, workers, token):
    """One side's rating blocks: a task per block, carrying its slice of ``rows``."""
    other = _SIDES[1 - _SIDES.index(side)]
    cuts = bounds[side]
    futures = []
    for b in range(len(cuts) - 1):
        lo, hi = int(cuts[b]), int(cuts[b + 1])
        start, stop = int(rows.indptr[lo]), int(rows.indptr[hi])
        futures.append(client.submit(
            _blocks.make_block, rows.indptr[lo:hi + 1], rows.indices[start:stop],
            rows.data[start:stop], lo, n_cols, bounds[other], routed,
            key=f"sparseals-{side}-block-{b}-{token}", **_blocks.spread(workers, b)))
    return futures


class _Fit:
    """The fit loop: half-steps over blocks, the loss summed over blocks, history kept."""

    def __init__(self, model, client, layout, routed, timeout, checkpoint):
        self.model, self.client, self.routed, self.timeout = model, client, routed, timeout
        self.checkpoint = checkpoint
        self.blocks = {side: layout[side] for side in _SIDES}
        self.bounds = layout["bounds"]
        self.workers = layout["workers"]
        self.shape = layout["shape"]
        self.implicit = isinstance(model, ImplicitALS)
        self.token = uuid.uuid4().hex[:8]
        self.factors = {}
        for side in _SIDES:
            factors = getattr(model, f"{side}_factors_")
            biases = getattr(model, f"{side}_biases_", None)
            cuts = self.bounds[side]
            self.factors[side] = self._submit_factors(side, "start", [
                _blocks.FactorBlock(factors[lo:hi], None if biases is None else biases[lo:hi])
                for lo, hi in zip(cuts[:-1], cuts[1:])])
        item_factors = model.item_factors_
        self.gram = {"item": (item_factors.T @ item_factors).astype(np.float64)}
        # the blocks are built before the first iteration (so its time is an iteration's)
        self._wait(self.blocks["user"] + self.blocks["item"], gather=False)
        self.received, self.senders = self._routes()

    def _submit_factors(self, side, tag, parts):
        """Factor blocks held on the client, one task each (recomputable from its inputs)."""
        with _carrying_data():
            return [self.client.submit(_blocks.factor_block, part.factors, part.biases,
                                       key=f"sparseals-{side}-{tag}-{b}-{self.token}",
                                       **_blocks.spread(self.workers, b))
                    for b, part in enumerate(parts)]

    def _routes(self):
        """Per side: the other-side rows its blocks receive per half-step (to count the bytes
        moved) and, routed, for each of its blocks the other side's blocks that send it rows."""
        if not self.routed:
            return {side: self.shape[1 - i] * len(self.blocks[side])
                    for i, side in enumerate(_SIDES)}, None
        sizes = self._wait(self.client.map(_route_sizes,
                                           self.blocks["user"] + self.blocks["item"], pure=False))
        n_user = len(self.blocks["user"])
        # sent[side][b, c]: rows block b of that side sends to block c of the other side
        sent = {"user": np.stack(sizes[:n_user]), "item": np.stack(sizes[n_user:])}
        received, senders = {}, {}
        for side, other in (("user", "item"), ("item", "user")):
            received[side] = int(sent[other].sum())
            # a block that references no rows still takes one (empty) part, for the width
            senders[side] = [np.flatnonzero(column) if column.any() else np.zeros(1, np.int64)
                             for column in sent[other].T]
        return received, senders

    def _spec(self, side):
        m = self.model
        reg = m._reg_users if side == "user" else m._reg_items
        common = dict(regularization=reg, reg_exponent=float(m.reg_exponent),
                      num_threads=m.num_threads, with_loss=side == "item")
        if self.implicit:
            return _steps.StepSpec(implicit=True, alpha=float(m.alpha),
                                   unobserved_weight=float(m.unobserved_weight),
                                   confidence=m.confidence, solver=m.solver,
                                   cg_steps=int(m.cg_steps), **common)
        return _steps.StepSpec(implicit=False, biases=bool(m.biases),
                               global_mean=float(m.global_mean_),
                               nonnegative=bool(m.nonnegative), **common)

    def _wait(self, futures, gather=True):
        return _wait.within(self.client, futures, self.timeout,
                            f"building the blocks or a half-step took longer than timeout="
                            f"{self.timeout} seconds; check the cluster's workers or raise "
                            "timeout", gather)

    def _half_step(self, side, iteration):
        """One side's half-step on every block; returns the blocks' stats and the bytes sent."""
        client = self.client
        other = "item" if side == "user" else "user"
        own_blocks, other_factors = self.blocks[side], self.factors[other]
        tag = f"{side}-{iteration}-{self.token}"
        if self.routed:
            # only from the blocks holding rows it references: one task per pair of blocks
            # that share a rating, not blocks² (most pairs share none when blocks are many)
            parts = [[client.submit(_blocks.take_rows, other_factors[b], self.blocks[other][b], c,
                                    key=f"sparseals-route-{tag}-{b}-{c}")
                      for b in self.senders[side][c]] for c in range(len(own_blocks))]
        else:
            parts = [other_factors] * len(own_blocks)
        spec = self._spec(side)
        # the current factors are a starting point for implicit CG steps and for NNLS
        use_start = (self.model.solver == "cg" if self.implicit
                     else self.model.nonnegative)
        gram = self.gram[other].astype(self.model.user_factors_.dtype) if self.implicit else None
        results = [client.submit(_steps.half_step, block, parts[c],
                                 self.factors[side][c] if use_start else None, gram, spec,
                                 key=f"sparseals-step-{tag}-{c}")
                   for c, block in enumerate(own_blocks)]
        new = [client.submit(operator.getitem, r, 0, key=f"sparseals-factors-{tag}-{c}")
               for c, r in enumerate(results)]
        stats = [client.submit(operator.getitem, r, 1, key=f"sparseals-stats-{tag}-{c}")
                 for c, r in enumerate(results)]
        stats = self._wait(stats)
        self.factors[side] = new
        self.gram[side] = sum(s["gram"] for s in stats)
        row_bytes = self.model.factors + (1 if getattr(self.model, "biases", False) else 0)
        row_bytes *= self.model.user_factors_.dtype.itemsize
        if not all(s["finite"] for s in stats):
            raise FloatingPointError(
                f"the fit diverged at iteration {iteration}: {side}_factors_ is no longer "
                "finite. Increase regularization, rescale the ratings or use dtype='float64'")
        return stats, self.received[side] * row_bytes

    def _loss(self, user_stats, item_stats):
        loss = sum(s["penalty"] for s in user_stats) + sum(s["penalty"] + s["loss"]
                                                           for s in item_stats)
        if self.implicit:
            loss += float(self.model.unobserved_weight) * float(
                np.sum(self.gram["user"] * self.gram["item"]))
        return float(loss)

    def run(self, gather=True, history=()):
        model = self.model
        model.loss_history_ = list(history)
        model.distributed_history_ = []
        completed = dict(self.factors)  # the factors after the last completed iteration
        bytes_key = "bytes_routed" if self.routed else "bytes_broadcast"
        progress = None
        if model.show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(total=model.iterations, desc=f"{type(model).__name__} (dask)",
                            unit="it")
        try:
            for iteration in range(model.iterations):
                start = time.perf_counter()
                user_stats, user_bytes = self._half_step("user", iteration)
                item_stats, item_bytes = self._half_step("item", iteration)
                loss = self._loss(user_stats, item_stats)
                model.n_singular_ = sum(s["n_singular"] for s in user_stats + item_stats)
                model.loss_history_.append(loss)
                model.distributed_history_.append({
                    "iteration": iteration, "loss": loss, bytes_key: int(user_bytes + item_bytes),
                    "seconds": time.perf_counter() - start})
                completed = dict(self.factors)
                if progress is not None:
                    progress.set_postfix(loss=f"{loss:.6g}")
                    progress.update()
                if model.callback is not None:
                    model.callback(iteration, loss)
                if (self.checkpoint and (iteration + 1) % self.checkpoint == 0
                        and iteration + 1 < model.iterations):
                    for side in _SIDES:
                        self.factors[side] = self._submit_factors(
                            side, f"checkpoint-{iteration}", self._wait(self.factors[side]))
                    completed = dict(self.factors)
            self._gather(gather)
        except BaseException:
            # as a fit on one machine: the model keeps the last completed iteration's
            # factors (a Ctrl-C, a timeout or a raising callback), not its random start
            self.factors = completed
            self.timeout = min(self.timeout or _blocks.GATHER_SECONDS, _blocks.GATHER_SECONDS)
            try:
                self._gather(True)
            except Exception:  # the cluster is gone: what the model holds is the start
                del model.loss_history_[len(history):]
                model.distributed_history_ = []
            raise
        finally:
            if progress is not None:
                progress.close()
            self.factors = self.blocks = None  # release the cluster's memory
        return model

    def _gather(self, gather):
        for side in _SIDES:
            if side == "user" and not gather:
                from ._rows import DistributedRows

                futures = self.factors[side]
                biases = self._wait([self.client.submit(operator.attrgetter("biases"), f,
                                                        key=f"sparseals-biases-{b}-{self.token}")
                                     for b, f in enumerate(futures)])
                self.model.user_factors_ = DistributedRows(
                    self.client, futures, self.bounds[side], self.model.factors,
                    self.model.item_factors_.dtype, self.timeout)
                if biases[0] is not None:
                    self.model.user_biases_ = np.concatenate(biases)
                continue
            parts = self._wait(self.factors[side])
            merged = _blocks.concatenate(parts)
            setattr(self.model, f"{side}_factors_", merged.factors)
            if merged.biases is not None:
                setattr(self.model, f"{side}_biases_", merged.biases)


def _route_sizes(block):
    """How many of its rows a routed block sends to each block of the other side."""
    return np.array([len(rows) for rows in block.routes], dtype=np.int64)
