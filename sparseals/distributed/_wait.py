"""Bounded waits: Dask waits without end for tasks no worker can run (all of them gone)."""


def within(client, futures, timeout, late, gather=True):
    """The results of ``futures`` (a list, possibly nested) once all are done, waiting at
    most ``timeout`` seconds (None: no limit); then ``TimeoutError(late)``.

    The error is raised outside the handler, not chained: Dask's own error (through its
    waiting closure) holds the futures, and with them the blocks on the workers.
    """
    from distributed import futures_of, wait

    try:
        wait(futures_of(futures), timeout=timeout)
        timed_out = False
    except TimeoutError:
        timed_out = True
    if timed_out:
        raise TimeoutError(late)
    return client.gather(futures) if gather else None
