"""A CPython manager client of our server, driven by tests/tests/cpython_manager_server.rs.

    python3 manager_client.py MODE ADDRESS AUTHKEY

MODE is `session` (a SyncManager session over every built-in type, then shutdown), `put` or
`get` (the documentation's remote queue, `get_queue`; `get` then shuts the server down), or
`hold` (threads, each with its own method channel, one holding a lock and all waiting on an
event, until the process is killed). ADDRESS is a Unix path
HOST:PORT or @ABSTRACT-NAME. Prints one line per step, `name: repr(result)`.
"""

import gc
import multiprocessing
import queue
import sys
import threading
from multiprocessing.managers import BaseManager, SyncManager, dispatch


def parse(address):
    if address.startswith("@"):
        return "\0" + address[1:]  # an abstract Unix socket
    if not address.startswith("/") and ":" in address:
        host, port = address.rsplit(":", 1)
        return (host, int(port))
    return address


MODE, ADDRESS, KEY = sys.argv[1], parse(sys.argv[2]), sys.argv[3].encode()
# A proxy rebuilt from a reply (a nested proxy) authenticates with the process's key.
multiprocessing.current_process().authkey = KEY


def step(name, value):
    print("%s: %r" % (name, value), flush=True)


def control(m, name, *args):
    conn = m._Client(m._address, authkey=m._authkey)
    try:
        return dispatch(conn, None, name, args)
    finally:
        conn.close()


class Job:
    """A class of this script's own: stored in the server as a pickle, handed back unchanged."""

    def __init__(self, n):
        self.n = n

    def __eq__(self, other):
        return isinstance(other, Job) and other.n == self.n


def session():
    m = SyncManager(address=ADDRESS, authkey=KEY)
    m.connect()
    d = m.dict()
    d["a"] = 1
    d["b"] = [1, 2.5, "x", None, (1, 2), b"\x00"]
    step("dict", (d["a"], d["b"], len(d), "a" in d, d.get("zz", 7), sorted(d.keys())))
    try:
        d["missing"]
    except KeyError as e:
        step("KeyError", e.args)
    it = iter(d)
    step("iterator", (type(it).__name__, next(it), next(it)))
    try:
        next(it)
    except StopIteration:
        step("StopIteration", True)
    step("repr", str(d))
    step("getvalue", d._getvalue() == {"a": 1, "b": [1, 2.5, "x", None, (1, 2), b"\x00"]})
    try:
        d._callmethod("no_such")
    except Exception as e:
        step("unexposed", (type(e).__name__, "AttributeError" in str(e)))

    l = m.list([3, 1, 2])
    l.append(4)
    l.sort()
    l.sort(reverse=True)
    l += [0]
    step("list", (l[0], l[1:3], l[-1], len(l), l + [9], list(l)))

    ns = m.Namespace(x=1)
    ns.y = "two"
    step("namespace", (ns.x, ns.y))
    del ns.x
    try:
        ns.x
    except AttributeError:
        step("namespace del", "AttributeError")

    q = m.Queue()
    q.put("job")
    q.put(2, timeout=1)
    step("queue", (q.qsize(), q.get(), q.get(timeout=1), q.empty()))
    try:
        q.get(timeout=0.05)
    except queue.Empty:
        step("queue timeout", "Empty")

    lock = m.Lock()
    step("lock", (lock.acquire(), lock.acquire(timeout=0.05)))
    lock.release()
    with lock:
        pass
    step("lock again", lock.acquire(blocking=False))
    lock.release()

    ev = m.Event()
    step("event", (ev.is_set(), ev.wait(0.01)))
    ev.set()
    step("event set", (ev.is_set(), ev.wait(1)))

    # A call that waits in the server (the thread's `wait`, on its own channel) does not
    # stop it serving the main thread's `set`.
    other = m.Event()
    waited = []
    t = threading.Thread(target=lambda: waited.append(other.wait(10)))
    t.start()
    other.set()
    t.join()
    step("waits", waited)

    jq = m.JoinableQueue()
    jq.put_nowait(1)
    step("joinable", (jq.get_nowait(), jq.task_done(), jq.join()))
    rl = m.RLock()
    sem = m.BoundedSemaphore(2)
    step("rlock", (rl.acquire(), rl.acquire(), rl.release(), rl.release()))
    step("semaphore", (sem.acquire(), sem.acquire(), sem.acquire(False), sem.release()))
    c = m.Condition()
    with c:
        step("condition", (c.wait(0.01), c.notify(), c.notify_all()))
    c2 = m.Condition(lock)
    with c2:
        step("condition over a lock", (lock.acquire(False), c2.notify()))
    b = m.Barrier(1)
    step("barrier", (b.wait(), b.parties, b.n_waiting, b.broken))

    v = m.Value("i", 7)
    v.value += 1
    step("value", (v.value, v.get()))

    a = m.Array("i", [1, 2, 3])
    a[0] = 5
    step("array", (len(a), a[0], a[1:], list(a)))

    inner = m.dict()
    inner["k"] = "v"
    outer = m.list()
    outer.append(inner)
    back = outer[0]
    back["k2"] = 2
    step("nested", (type(back).__name__, back["k"], inner["k2"]))

    d["set"] = {1, 2, 3}
    d["job"] = Job(5)
    step("kept", (d["set"] == {1, 2, 3}, d["job"] == Job(5), type(d["job"]).__name__))

    step("get_methods", sorted(control(m, "get_methods", d._token)))
    try:
        control(m, "not_public")
    except Exception as e:
        step("not_public", "AssertionError: 'not_public' unrecognized" in str(e))

    del d, it, l, ns, q, lock, ev, other, jq, rl, sem, c, c2, b, v, a, inner, outer, back
    gc.collect()
    step("objects", m._number_of_objects())
    control(m, "shutdown")
    step("shutdown", True)


class QueueManager(BaseManager):
    pass


QueueManager.register("get_queue")


def remote_queue():
    m = QueueManager(address=ADDRESS, authkey=KEY)
    m.connect()
    q = m.get_queue()
    if MODE == "put":
        q.put("hello")
        step("put", "hello")
    else:
        step("get", q.get(timeout=10))
        del q
        control(m, "shutdown")
        step("shutdown", True)


def hold(threads=4):
    m = SyncManager(address=ADDRESS, authkey=KEY)
    m.connect()
    lock, q, never = m.Lock(), m.Queue(), m.Event()
    started = threading.Barrier(threads + 1)

    def worker(i):
        q.put(i)  # opens this thread's method channel
        if i == 0:
            lock.acquire()
        started.wait()
        never.wait()

    for i in range(threads):
        threading.Thread(target=worker, args=(i,), daemon=True).start()
    started.wait()
    step("ready", q.qsize())
    never.wait()


if MODE == "session":
    session()
elif MODE in ("put", "get"):
    remote_queue()
elif MODE == "hold":
    hold()
