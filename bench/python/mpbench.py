"""CPython's side of `cargo xtask bench`: one measurement of Python's multiprocessing per run.

    python3 bench/python/mpbench.py ROW cpython PLACEMENT [--iters N] [--samples S] [--warmup W]

prints one JSON line, {"unit": "us", "samples": [...]} or {"unavailable": "why"}, exactly as
`mpbench ROW ours|raw PLACEMENT` does for the Rust side. Each row does the same work as the Rust
row of the same name (bench/src/rows/). Only the standard library is used.
"""

import json
import os
import sys
import time

import multiprocessing as mp


class Unavailable(Exception):
    """The row can not run here (e.g. a split placement on a single CPU)."""


def placement_cpus(placement):
    """(parent CPU, child CPU) for a placement; None means unpinned."""
    allowed = sorted(os.sched_getaffinity(0))
    if placement == "unpinned":
        return None, None
    if placement == "one-cpu":
        return allowed[0], allowed[0]
    if placement == "split":
        if len(allowed) < 2:
            raise Unavailable("unavailable: needs two CPUs")
        return allowed[0], allowed[1]
    raise SystemExit(f"unknown placement {placement!r}")


def pin(cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def pin_parent(placement):
    parent, child = placement_cpus(placement)
    pin(parent)
    return child


def time_samples(cfg, scale, batch):
    """Time per operation of `samples` batches of `iters` operations, after a warm-up batch."""
    if cfg["warmup"]:
        batch(cfg["warmup"])
    out = []
    for _ in range(cfg["samples"]):
        start = time.perf_counter_ns()
        batch(cfg["iters"])
        out.append((time.perf_counter_ns() - start) / cfg["iters"] / scale)
    return out


US = 1e3
MS = 1e6

# The fork context runs the helper children, as the Rust side forks them.
FORK = mp.get_context("fork")


# --- pipe rows -----------------------------------------------------------------------------------

SMALL = (12345, 2.5, True, b"abcdefgh")
BIG = 1 << 20


def _echo_value(conn, cpu):
    pin(cpu)
    try:
        while True:
            conn.send(conn.recv())
    except (EOFError, OSError):
        pass


def _echo_bytes(conn, cpu):
    pin(cpu)
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except (EOFError, OSError):
        pass


def _sink(conn, cpu, per_ack):
    pin(cpu)
    try:
        while True:
            for _ in range(per_ack):
                conn.recv_bytes()
            conn.send_bytes(b"k")
    except (EOFError, OSError):
        pass


def with_child(cfg, target, *args):
    child_cpu = pin_parent(cfg["placement"])
    ours, theirs = FORK.Pipe(duplex=True)
    p = FORK.Process(target=target, args=(theirs, child_cpu) + args, daemon=True)
    p.start()
    theirs.close()
    return ours, p


def finish(conn, p):
    # The child inherited the parent's end too, so it would never see EOF: end it.
    p.kill()
    p.join()
    conn.close()


def pipe_rtt_value(cfg):
    conn, p = with_child(cfg, _echo_value)

    def batch(n):
        for _ in range(n):
            conn.send(SMALL)
            conn.recv()

    try:
        return time_samples(cfg, US, batch)
    finally:
        finish(conn, p)


def pipe_rtt_value_async(cfg):
    """pipe_rtt_value from asyncio code, the way it is done there: each recv() in an executor
    thread (the connection has no async form)."""
    conn, p = with_child(cfg, _echo_value)
    return _awaited_in_executor(cfg, lambda: conn.send(SMALL), conn.recv, lambda: finish(conn, p))


def pipe_rtt_bytes64(cfg):
    conn, p = with_child(cfg, _echo_bytes)
    msg = b"\x07" * 64

    def batch(n):
        for _ in range(n):
            conn.send_bytes(msg)
            conn.recv_bytes()

    try:
        return time_samples(cfg, US, batch)
    finally:
        finish(conn, p)


def pipe_1mib(cfg):
    per_ack = cfg["iters"]
    conn, p = with_child(cfg, _sink, per_ack)
    payload = b"\x01" * BIG

    # Every batch, the warm-up too, is `iters` messages: the sink acknowledges each batch.
    def batch(n):
        for _ in range(n):
            conn.send_bytes(payload)
        conn.recv_bytes()

    try:
        batch(per_ack)
        out = []
        for _ in range(cfg["samples"]):
            start = time.perf_counter_ns()
            batch(per_ack)
            out.append(per_ack * BIG / (time.perf_counter_ns() - start))
        return out
    finally:
        finish(conn, p)


# --- connect rows --------------------------------------------------------------------------------

AUTHKEY = b"mpbench-authkey"


def _acceptor(listener, cpu):
    pin(cpu)
    while True:
        try:
            listener.accept().close()
        except Exception:  # a failed handshake must not stop the server
            pass


def connect(cfg, address, family):
    from multiprocessing.connection import Client, Listener

    child_cpu = pin_parent(cfg["placement"])
    listener = Listener(address, family, authkey=AUTHKEY)
    p = FORK.Process(target=_acceptor, args=(listener, child_cpu), daemon=True)
    p.start()
    address = listener.address

    def batch(n):
        for _ in range(n):
            Client(address, family, authkey=AUTHKEY).close()

    try:
        return time_samples(cfg, US, batch)
    finally:
        p.kill()
        p.join()
        listener.close()


def connect_unix(cfg):
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mpbench-") as d:
        return connect(cfg, os.path.join(d, "listener.sock"), "AF_UNIX")


def connect_tcp(cfg):
    return connect(cfg, ("127.0.0.1", 0), "AF_INET")


# --- process rows --------------------------------------------------------------------------------


def _noop():
    pass


def start(cfg, method):
    pin_parent(cfg["placement"])
    ctx = mp.get_context(method)

    def batch(n):
        for _ in range(n):
            p = ctx.Process(target=_noop)
            p.start()
            p.join()
            if p.exitcode != 0:
                raise RuntimeError(f"child exited with {p.exitcode}")

    return time_samples(cfg, MS, batch)


# --- lock, value and event rows -----------------------------------------------------------------


def lock_uncontended(cfg):
    pin_parent(cfg["placement"])
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release

    def batch(n):
        for _ in range(n):
            acquire()
            release()

    return time_samples(cfg, 1, batch)


def _add(value, n):
    lock = value.get_lock()
    for _ in range(n):
        with lock:
            value.value += 1


def _adder(conn, value, cpu, n):
    pin(cpu)
    try:
        while True:
            conn.recv_bytes()
            _add(value, n)
            conn.send_bytes(b"d")
    except (EOFError, OSError):
        pass


def value_add_2proc(cfg):
    child_cpu = pin_parent(cfg["placement"])
    adds = cfg["iters"]
    value = FORK.Value("i", 0)  # the default lock, an RLock, as users get it
    ours, theirs = FORK.Pipe(duplex=True)
    p = FORK.Process(target=_adder, args=(theirs, value, child_cpu, adds), daemon=True)
    p.start()

    def job():
        value.value = 0
        ours.send_bytes(b"g")
        _add(value, adds)
        ours.recv_bytes()
        if value.value != 2 * adds:
            raise RuntimeError(f"counted {value.value}, not {2 * adds}")

    try:
        for _ in range(cfg["warmup"]):
            job()
        out = []
        for _ in range(cfg["samples"]):
            start = time.perf_counter_ns()
            job()
            out.append((time.perf_counter_ns() - start) / MS)
        return out
    finally:
        finish(ours, p)


def _event_echo(a, b, cpu):
    pin(cpu)
    while True:
        a.wait()
        a.clear()
        b.set()


def event_pingpong(cfg):
    child_cpu = pin_parent(cfg["placement"])
    a, b = FORK.Event(), FORK.Event()
    p = FORK.Process(target=_event_echo, args=(a, b, child_cpu), daemon=True)
    p.start()

    def batch(n):
        for _ in range(n):
            a.set()
            b.wait()
            b.clear()

    try:
        return time_samples(cfg, US, batch)
    finally:
        p.kill()
        p.join()


# --- queue rows ----------------------------------------------------------------------------------


def _awaited_in_executor(cfg, send, wait, finish_peer):
    """Round trips timed from asyncio code, the way it waits on a blocking multiprocessing call
    (a Connection's recv, Event.wait, Queue.get have no async form): `send()`, then `wait()`
    awaited in an executor thread. `finish_peer()` ends the other process."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    loop, pool = asyncio.new_event_loop(), ThreadPoolExecutor(1)

    async def round_trips(n):
        for _ in range(n):
            send()
            await loop.run_in_executor(pool, wait)

    def batch(n):
        loop.run_until_complete(round_trips(n))

    try:
        return time_samples(cfg, US, batch)
    finally:
        pool.shutdown()
        loop.close()
        finish_peer()


def event_pingpong_async(cfg):
    """event_pingpong from asyncio code: each wait in an executor thread."""
    child_cpu = pin_parent(cfg["placement"])
    a, b = FORK.Event(), FORK.Event()
    p = FORK.Process(target=_event_echo, args=(a, b, child_cpu), daemon=True)
    p.start()

    def wait():
        b.wait()
        b.clear()

    return _awaited_in_executor(cfg, a.set, wait, lambda: (p.kill(), p.join()))


def rate_samples(cfg, batch):
    """Millions of messages per second of `samples` batches of `iters` messages, after one
    untimed batch (every batch is `iters` messages, so a consumer can acknowledge each)."""
    n = cfg["iters"]
    batch(n)
    out = []
    for _ in range(cfg["samples"]):
        start = time.perf_counter_ns()
        batch(n)
        out.append(n / (time.perf_counter_ns() - start) * 1e3)
    return out


def _queue_sink(q, conn, cpu, per_ack, size):
    pin(cpu)
    get = q.get
    try:
        while True:
            for _ in range(per_ack):
                item = get()
                if size is not None and len(item) != size:
                    raise SystemExit(1)
            conn.send_bytes(b"k")
    except (EOFError, OSError):
        pass


def queue_to_sink(cfg, make, size=None):
    """The parent puts batches of `iters` items on a queue, a child gets them and acknowledges
    each batch with one byte on a pipe; returns (queue, ack connection, child)."""
    child_cpu = pin_parent(cfg["placement"])
    q = make()
    ours, theirs = FORK.Pipe(duplex=True)
    p = FORK.Process(
        target=_queue_sink, args=(q, theirs, child_cpu, cfg["iters"], size), daemon=True
    )
    p.start()
    theirs.close()
    return q, ours, p


def queue_rate_1to1(cfg, make):
    q, conn, p = queue_to_sink(cfg, make)
    put = q.put

    def batch(n):
        for _ in range(n):
            put(SMALL)
        conn.recv_bytes()

    try:
        return rate_samples(cfg, batch)
    finally:
        finish(conn, p)


PRODUCERS = 4


def _queue_producer(q, conn, cpu):
    pin(cpu)
    put = q.put
    try:
        while True:
            for _ in range(int.from_bytes(conn.recv_bytes(), "little")):
                put(SMALL)
    except (EOFError, OSError):
        pass


def queue_4to1(cfg):
    child_cpu = pin_parent(cfg["placement"])
    q = FORK.Queue()
    conns, procs = [], []
    for _ in range(PRODUCERS):
        ours, theirs = FORK.Pipe(duplex=True)
        p = FORK.Process(target=_queue_producer, args=(q, theirs, child_cpu), daemon=True)
        p.start()
        theirs.close()
        conns.append(ours)
        procs.append(p)
    get = q.get

    def batch(n):
        each = n // PRODUCERS
        for i, c in enumerate(conns):
            # The first producer also puts the remainder.
            c.send_bytes((each + (n % PRODUCERS if i == 0 else 0)).to_bytes(8, "little"))
        for _ in range(n):
            get()

    try:
        return rate_samples(cfg, batch)
    finally:
        for c, p in zip(conns, procs):
            finish(c, p)


def _queue_echo(there, back, cpu):
    pin(cpu)
    get, put = there.get, back.put
    while True:
        put(get())


def queue_pingpong(cfg):
    child_cpu = pin_parent(cfg["placement"])
    there, back = FORK.Queue(), FORK.Queue()
    p = FORK.Process(target=_queue_echo, args=(there, back, child_cpu), daemon=True)
    p.start()
    put, get = there.put, back.get

    def batch(n):
        for _ in range(n):
            put(SMALL)
            get()

    try:
        return time_samples(cfg, US, batch)
    finally:
        p.kill()
        p.join()


def queue_pingpong_async(cfg):
    """queue_pingpong from asyncio code: each get in an executor thread."""
    child_cpu = pin_parent(cfg["placement"])
    there, back = FORK.Queue(), FORK.Queue()
    p = FORK.Process(target=_queue_echo, args=(there, back, child_cpu), daemon=True)
    p.start()
    return _awaited_in_executor(
        cfg, lambda: there.put(SMALL), back.get, lambda: (p.kill(), p.join())
    )


def queue_1mib(cfg):
    q, conn, p = queue_to_sink(cfg, FORK.Queue, BIG)
    payload = b"\x01" * BIG
    put = q.put

    def batch(n):
        for _ in range(n):
            put(payload)
        conn.recv_bytes()

    try:
        samples = rate_samples(cfg, batch)
        # Millions of items per second times the item size, in GB/s.
        return [s * 1e6 * BIG / 1e9 for s in samples]
    finally:
        finish(conn, p)


# --- registry ------------------------------------------------------------------------------------

# --- pool rows -----------------------------------------------------------------------------------


def _square(x):
    return x * x


def _map_chunksize(n, workers=2):
    """Pool.map's default chunk size for n items over `workers` workers."""
    chunksize, extra = divmod(n, workers * 4)
    return chunksize + 1 if extra else chunksize


def pool_map(cfg, chunksize=None):
    with FORK.Pool(2) as p:
        return rate_samples(cfg, lambda n: p.map(_square, range(n), chunksize))


def pool_imap_unordered(cfg, chunksize=None):
    with FORK.Pool(2) as p:

        def batch(n):
            cs = chunksize or _map_chunksize(n)
            for _ in p.imap_unordered(_square, range(n), cs):
                pass

        return rate_samples(cfg, batch)


def pool_apply_rtt(cfg):
    with FORK.Pool(2) as p:

        def batch(n):
            for _ in range(n):
                p.apply_async(_square, (7,)).get()

        return time_samples(cfg, US, batch)


def pool_apply_rtt_async(cfg):
    """pool_apply_rtt from asyncio code, the way it is done there: the AsyncResult's callback
    completes an asyncio future through call_soon_threadsafe (the pool has no async form)."""
    import asyncio

    loop = asyncio.new_event_loop()
    with FORK.Pool(2) as p:

        async def round_trips(n):
            for _ in range(n):
                fut = loop.create_future()
                p.apply_async(
                    _square,
                    (7,),
                    callback=lambda v, f=fut: loop.call_soon_threadsafe(f.set_result, v),
                )
                await fut

        def batch(n):
            loop.run_until_complete(round_trips(n))

        try:
            return time_samples(cfg, US, batch)
        finally:
            loop.close()


def pool_lifecycle(cfg):
    def batch(n):
        for _ in range(n):
            p = FORK.Pool(2)
            p.apply_async(_square, (7,)).get()
            p.close()
            p.join()

    return time_samples(cfg, MS, batch)


# --- MPI row: mpi4py's pool -------------------------------------------------------------------


def mpi_pool_map(cfg):
    """mpi4py.util.pool.Pool.map over two worker ranks: `mpirun -n 3 python -m mpi4py.futures`
    runs this script's `mpi4py-ranks` on rank 0 (ranks 1 and 2 serve), which prints the samples."""
    import shutil
    import subprocess

    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise Unavailable("unavailable: mpi4py is not installed (pip install mpi4py)")
    if shutil.which("mpirun") is None:
        raise Unavailable("unavailable: no mpirun (install openmpi-bin)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = ["mpirun", "--oversubscribe", "-n", "3", sys.executable, "-m", "mpi4py.futures",
           os.path.abspath(__file__), "mpi4py-ranks", str(cfg["iters"]), str(cfg["samples"])]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the mpi4py job failed ({out.returncode}): {out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])["samples"]


def mpi4py_ranks(iters, samples):
    """Rank 0 of the mpi4py job: a pool over the pre-started ranks, one untimed map, then the
    timed ones, in millions of tasks per second."""
    from mpi4py.util.pool import Pool

    with Pool(2) as p:
        cfg = {"iters": iters, "samples": samples, "warmup": 0}
        got = rate_samples(cfg, lambda n: p.map(_square, range(n), _map_chunksize(n)))
    print(json.dumps({"samples": got}))


# --- manager rows --------------------------------------------------------------------------------


def _manager(cfg):
    """A started fork-context manager whose server runs on the placement's child CPU."""
    from multiprocessing.managers import SyncManager

    m = SyncManager(ctx=FORK)
    m.start(pin, (pin_parent(cfg["placement"]),))
    return m


def manager_dict_set(cfg):
    m = _manager(cfg)
    try:
        d = m.dict()

        def batch(n):
            for _ in range(n):
                d[7] = "value"

        return time_samples(cfg, US, batch)
    finally:
        m.shutdown()


def manager_dict_get(cfg):
    m = _manager(cfg)
    try:
        d = m.dict()
        d[7] = "value"

        def batch(n):
            for _ in range(n):
                d[7]

        return time_samples(cfg, US, batch)
    finally:
        m.shutdown()


def manager_list_append(cfg):
    m = _manager(cfg)
    try:
        lst = m.list()

        def batch(n):
            for _ in range(n):
                lst.append(7)

        return time_samples(cfg, US, batch)
    finally:
        m.shutdown()


def manager_dict_increment(cfg):
    """A read-modify-write of one dict value, safe against other processes: Python's manager
    needs a manager Lock around `d[7] += 1` (four round trips)."""
    m = _manager(cfg)
    try:
        d = m.dict()
        lock = m.Lock()
        d[7] = 0

        def batch(n):
            for _ in range(n):
                with lock:
                    d[7] += 1

        return time_samples(cfg, US, batch)
    finally:
        m.shutdown()


def manager_new_proxy_tcp(cfg):
    from multiprocessing.managers import SyncManager

    m = SyncManager(address=("127.0.0.1", 0), ctx=FORK)
    m.start()
    try:

        def batch(n):
            for _ in range(n):
                d = m.dict()
                del d

        return time_samples(cfg, US, batch)
    finally:
        m.shutdown()


def manager_lifecycle(cfg):
    from multiprocessing.managers import SyncManager

    def batch(n):
        for _ in range(n):
            m = SyncManager(ctx=FORK)
            m.start()
            m.dict()
            m.shutdown()

    return time_samples(cfg, MS, batch)


ROWS = {
    "pipe-rtt-value": ("us", pipe_rtt_value),
    "pipe-rtt-value-async": ("us", pipe_rtt_value_async),
    "pipe-rtt-bytes64": ("us", pipe_rtt_bytes64),
    "pipe-1mib": ("GB/s", pipe_1mib),
    "connect-unix": ("us", connect_unix),
    "connect-tcp": ("us", connect_tcp),
    "start-fork": ("ms", lambda cfg: start(cfg, "fork")),
    "start-spawn": ("ms", lambda cfg: start(cfg, "spawn")),
    "start-forkserver": ("ms", lambda cfg: start(cfg, "forkserver")),
    "lock-uncontended": ("ns", lock_uncontended),
    "value-add-2proc": ("ms", value_add_2proc),
    "event-pingpong": ("us", event_pingpong),
    "event-pingpong-async": ("us", event_pingpong_async),
    "queue-1to1": ("Mmsg/s", lambda cfg: queue_rate_1to1(cfg, FORK.Queue)),
    "simplequeue-1to1": ("Mmsg/s", lambda cfg: queue_rate_1to1(cfg, FORK.SimpleQueue)),
    "queue-4to1": ("Mmsg/s", queue_4to1),
    "queue-pingpong": ("us", queue_pingpong),
    "queue-pingpong-async": ("us", queue_pingpong_async),
    "queue-1mib": ("GB/s", queue_1mib),
    "pool-map": ("Mmsg/s", pool_map),
    "pool-map-chunk1": ("Mmsg/s", lambda cfg: pool_map(cfg, 1)),
    "pool-imap-unordered": ("Mmsg/s", pool_imap_unordered),
    "pool-imap-unordered-chunk1": ("Mmsg/s", lambda cfg: pool_imap_unordered(cfg, 1)),
    "pool-apply-rtt": ("us", pool_apply_rtt),
    "pool-apply-rtt-async": ("us", pool_apply_rtt_async),
    "pool-lifecycle": ("ms", pool_lifecycle),
    "mpi-pool-map": ("Mmsg/s", mpi_pool_map),
    "manager-dict-set": ("us", manager_dict_set),
    "manager-dict-get": ("us", manager_dict_get),
    "manager-list-append": ("us", manager_list_append),
    "manager-dict-increment": ("us", manager_dict_increment),
    "manager-new-proxy-tcp": ("us", manager_new_proxy_tcp),
    "manager-lifecycle": ("ms", manager_lifecycle),
}


def main(argv):
    if argv[:1] == ["mpi4py-ranks"]:
        mpi4py_ranks(int(argv[1]), int(argv[2]))
        return
    usage = "usage: mpbench.py ROW cpython PLACEMENT [--iters N] [--samples S] [--warmup W]"
    if len(argv) < 3 or argv[1] != "cpython":
        raise SystemExit(usage)
    row, _, placement, *flags = argv
    cfg = {"placement": placement, "iters": 1, "samples": 5, "warmup": 1}
    if len(flags) % 2:
        raise SystemExit(usage)
    for flag, value in zip(flags[::2], flags[1::2]):
        key = {"--iters": "iters", "--samples": "samples", "--warmup": "warmup"}.get(flag)
        if key is None:
            raise SystemExit(f"unknown flag {flag!r}\n{usage}")
        cfg[key] = int(value)
    cfg["iters"] = max(cfg["iters"], 1)
    cfg["samples"] = max(cfg["samples"], 1)
    if row not in ROWS:
        print(json.dumps({"unavailable": f"no CPython version of row {row!r}"}))
        return
    unit, run = ROWS[row]
    try:
        samples = run(cfg)
    except Unavailable as e:
        print(json.dumps({"unavailable": str(e)}))
        return
    print(json.dumps({"unit": unit, "samples": samples}))


if __name__ == "__main__":
    main(sys.argv[1:])
