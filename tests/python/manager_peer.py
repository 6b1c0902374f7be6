"""CPython manager peer, the twin of the Rust `manager_peer` (same command line, same lines).

usage: manager_peer.py serve ADDRESS AUTHKEY     # a SyncManager server until a client shuts it down
       manager_peer.py connect ADDRESS AUTHKEY   # a session with a dict, a list, a Namespace, a Queue
       manager_peer.py shutdown ADDRESS AUTHKEY  # asks the server at ADDRESS to stop

ADDRESS is HOST:PORT (port 0 picks a free one) or a Unix socket path. `serve` prints
`serving on ADDRESS` with the real address. `connect` prints one line per step, each
value read back from the server, and ends by counting the server's objects before and after it
drops its proxies. A failed authentication exits with status 2, any other failure with 1.
"""
import gc
import queue
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from multiprocessing.managers import SyncManager, dispatch


def parse(address):
    host, sep, port = address.rpartition(':')
    if sep and '/' not in address and port.isdigit():
        return (host, int(port))
    return address


def show(address):
    return f'{address[0]}:{address[1]}' if isinstance(address, tuple) else address


def raised(what, f, exception):
    """Prints what `f()` raised as a traceback's last line: `KeyError: 'z'`, or the class alone
    when it has no message (`Empty`)."""
    try:
        v = f()
    except exception as e:
        message = str(e)
        print(f'{what} raised {type(e).__name__}: {message}' if message
              else f'{what} raised {type(e).__name__}')
    else:
        sys.exit(f'manager_peer.py: {what} returned {v!r}')


def serve(address, key):
    server = SyncManager(address=address, authkey=key).get_server()
    print('serving on', show(server.address), flush=True)
    server.serve_forever()


def session(m):
    print('connected')

    d = m.dict()
    d['a'] = 1
    d['b'] = 'two'
    print(f'dict: {d}')
    print(f"dict: len {len(d)}, d['a'] = {d['a']!r}, 'b' in d: {'b' in d}")
    raised("dict: d['z']", lambda: d['z'], KeyError)

    l = m.list([3, 1, 2])
    l.append(4)
    l.sort()
    print(f'list: {l}')
    print(f'list: len {len(l)}, l[0] = {l[0]!r}, l.pop() = {l.pop()!r}')
    raised('list: l[10]', lambda: l[10], IndexError)

    ns = m.Namespace()
    ns.x = 10
    ns.y = 'hello'
    print(f'namespace: {ns}')
    print(f'namespace: ns.x + 1 = {ns.x + 1}')
    raised('namespace: ns.z', lambda: ns.z, AttributeError)

    q = m.Queue()
    q.put('job1')
    q.put('job2')
    print(f'queue: qsize {q.qsize()}')
    print(f'queue: get {q.get()!r}, get {q.get(timeout=10)!r}, empty {q.empty()}')
    raised('queue: get_nowait', q.get_nowait, queue.Empty)

    print(f'objects: {m._number_of_objects()}')
    del d, l, ns, q
    # A raised remote exception and the frames of its traceback form a cycle holding the
    # proxy until the collector runs (CPython < 3.13).
    gc.collect()
    print(f'released: {m._number_of_objects()}')


def connect(address, key):
    m = SyncManager(address=address, authkey=key)
    try:
        m.connect()
    except AuthenticationError as e:
        print(f'manager_peer.py: authentication error: {e}', file=sys.stderr)
        sys.exit(2)
    session(m)


def shutdown(address, key):
    conn = Client(address, authkey=key)
    dispatch(conn, None, 'shutdown')
    conn.close()


ROLES = {'serve': serve, 'connect': connect, 'shutdown': shutdown}

if __name__ == '__main__':
    if len(sys.argv) != 4 or sys.argv[1] not in ROLES:
        print('usage: manager_peer.py serve|connect|shutdown ADDRESS AUTHKEY', file=sys.stderr)
        sys.exit(64)
    ROLES[sys.argv[1]](parse(sys.argv[2]), sys.argv[3].encode())
