"""The documentation's manager example ("Server process") as a CPython client of a manager at
ADDRESS: the dict and the list, changed by a child process through their proxies; then a
Namespace and a Queue, filled by another child. The example `python_client` runs it against a
manager written in Rust; `python` as first argument runs it against a CPython manager of its
own instead, the all-Python original that prints the same lines.

usage: manager_client.py ADDRESS AUTHKEY   (ADDRESS: HOST:PORT or a Unix socket path)
       manager_client.py python
"""
import sys
from multiprocessing import Process
from multiprocessing.managers import SyncManager


def parse(address):
    host, sep, port = address.rpartition(':')
    if sep and '/' not in address and port.isdigit():
        return (host, int(port))
    return address


def f(d, l):
    d[1] = '1'
    d['2'] = 2
    d[0.25] = None
    l.reverse()


def g(ns, q):
    ns.x = 10
    ns.y = 'hello'
    q.put('hello')


def session(manager):
    d = manager.dict()
    l = manager.list(range(10))

    p = Process(target=f, args=(d, l))
    p.start()
    p.join()

    print(d)
    print(l)

    ns = manager.Namespace()
    q = manager.Queue()
    p = Process(target=g, args=(ns, q))
    p.start()
    p.join()

    print(ns)
    print(repr(q.get(timeout=60)))


if __name__ == '__main__':
    if sys.argv[1:] == ['python']:
        with SyncManager() as manager:
            session(manager)
    else:
        manager = SyncManager(address=parse(sys.argv[1]), authkey=sys.argv[2].encode())
        manager.connect()
        session(manager)
