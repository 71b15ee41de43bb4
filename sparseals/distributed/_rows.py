"""A factor matrix left on the cluster: rows are fetched when indexed."""

from concurrent.futures import CancelledError

import numpy as np

from .. import _validation as v
from ._blocks import GATHER_SECONDS, gram, rows_of
from ._wait import within


class DistributedRows:
    """An ``(n_rows, K)`` factor matrix whose row blocks stay on the Dask workers.

    Indexing with integers, an integer array or a slice fetches only those rows
    (what ``recommend`` and ``predict`` do with the user factors), and a (rows,
    columns) key then picks from them as numpy would; ``np.asarray`` or
    :meth:`gather` brings the whole matrix to the client. It is read-only; the
    workers keep the blocks while this object (and its client) lives.

    :func:`sparseals.distributed.fit` with ``gather=False`` makes one.

    Every fetch (indexing, :meth:`gather`, pickling, ``save``) waits at most
    :attr:`timeout` seconds for the blocks, then raises ``TimeoutError``: with
    every worker gone they would never arrive.

    Parameters
    ----------
    client : dask.distributed.Client
    futures : sequence of Future
        One per row block, in order: each holds the block's factors (``.factors``).
    bounds : array_like of int
        Row of each block's start, then ``n_rows``.
    k : int
        Columns (factors).
    dtype : numpy dtype
    timeout : float, optional
        Seconds a fetch waits for the blocks (default 30).
    """

    ndim = 2

    def __init__(self, client, futures, bounds, k, dtype, timeout=None):
        self._client = client
        self._futures = list(futures)
        self._bounds = np.asarray(bounds, dtype=np.int64)
        self.shape = (int(self._bounds[-1]), int(k))
        self.dtype = np.dtype(dtype)
        self.timeout = GATHER_SECONDS if timeout is None else timeout
        self._gram = None

    @property
    def timeout(self):
        """Seconds a fetch waits for the rows (the fit's ``timeout``, else 30)."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds):
        self._timeout = v.non_negative_float(seconds, "timeout")

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return (f"DistributedRows(shape={self.shape}, dtype={self.dtype.name}, "
                f"blocks={len(self._futures)})")

    def __getitem__(self, key):
        if isinstance(key, tuple):  # the rows, then the rest of the key on them as numpy
            first, rest = key[0], key[1:]  # would: a scalar row drops its axis, row and
            if isinstance(first, slice):  # column arrays pair up element by element
                return self[first][(slice(None),) + rest]
            rows, position = np.unique(np.asarray(first), return_inverse=True)
            return self[rows][(position.reshape(np.shape(first)),) + rest]
        if isinstance(key, slice):
            key = np.arange(self.shape[0])[key]
        scalar = np.ndim(key) == 0
        shape = np.shape(key)
        rows = np.atleast_1d(np.asarray(key)).ravel()
        if rows.size == 0:  # an empty list selects no rows, as in numpy
            rows = rows.astype(np.int64)
        if rows.dtype.kind not in "iu":
            raise IndexError(f"DistributedRows takes integer row indices; got dtype {rows.dtype}")
        rows = np.where(rows < 0, rows + self.shape[0], rows).astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"row index out of range for {self.shape[0]} rows")
        block_of = np.searchsorted(self._bounds, rows, side="right") - 1
        wanted = np.unique(block_of)
        client = self._running_client()
        fetched = self._fetch([
            client.submit(rows_of, self._futures[b], rows[block_of == b] - self._bounds[b],
                          pure=False)
            for b in wanted])
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        for b, part in zip(wanted, fetched):
            out[block_of == b] = part
        return out[0] if scalar else out.reshape(shape + (self.shape[1],))

    def __setitem__(self, key, value):
        raise TypeError("the factors are still on the cluster (sparseals.distributed.fit with "
                        "gather=False); to change them, first bring them to the client: "
                        "model.user_factors_ = model.user_factors_.gather()")

    def __reduce__(self):
        # a pickle (of the model, say) holds the rows themselves: the client is not picklable
        return np.array, (self.gather(),)

    def gather(self):
        """The whole matrix as a numpy array on the client."""
        parts = self._fetch(self._futures)
        if not parts:
            return np.empty(self.shape, dtype=self.dtype)
        return np.concatenate([part.factors for part in parts])

    def gram(self):
        """``XᵀX`` of the whole matrix (float64), summed over the blocks on the cluster
        (the rows stay there; computed once, as they never change)."""
        if self._gram is None:
            client = self._running_client()
            self._gram = sum(self._fetch([client.submit(gram, f, pure=False)
                                          for f in self._futures]))
        return self._gram

    def _fetch(self, futures):
        """The results of ``futures``, or a clear error within ``timeout`` seconds (Dask
        waits without end for blocks lost with the last worker, to recompute them)."""
        client = self._running_client()
        try:
            return within(client, futures, self.timeout,
                          f"the user factors left on the cluster (gather=False) did not arrive "
                          f"within {self.timeout:g} seconds (their timeout): are the cluster's "
                          "workers alive? To wait longer, raise model.user_factors_.timeout")
        except CancelledError:  # the client lost its scheduler
            pass
        # raised here, not chained: Dask's error holds the futures
        raise RuntimeError("the user factors left on the cluster (gather=False) were "
                           "cancelled: was the cluster restarted or closed? Fit again")

    def _running_client(self):
        if self._client.status in ("closing", "closed"):
            raise RuntimeError(f"the client is {self._client.status}, and the user factors "
                               "it left on the cluster (gather=False) are lost with it; fit "
                               "again, or gather them before closing the client")
        return self._client

    def __array__(self, dtype=None, copy=None):
        array = self.gather()
        return array if dtype is None else array.astype(dtype, copy=False)
