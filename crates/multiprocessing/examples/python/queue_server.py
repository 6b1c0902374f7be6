"""The documentation's remote queue server ("Using a remote manager") driving a job: its
`get_queue` holds the jobs, a second queue `get_results` the results, and workers in other
processes connect to it, take jobs and put results back. The example `python_queue_worker`
runs it with workers written in Rust; `python` as second argument runs it with workers of its
own, written in Python, the all-Python original that prints the same lines.

usage: queue_server.py WORKERS [python]

Serves on 127.0.0.1, a free port, with the documentation's key b'abracadabra'; prints
`serving on HOST:PORT`, puts the jobs 1 to 10 and one None per worker (the signal to stop),
prints the results in job order once they are all in, and serves until a client shuts it down
(with `python`, it does so itself once its workers are done), as the documentation's
`s.serve_forever()` does.
"""
import queue
import sys
import threading
from multiprocessing import get_context
from multiprocessing.connection import Client
from multiprocessing.managers import BaseManager, dispatch

AUTHKEY = b'abracadabra'
JOBS = range(1, 11)

jobs = queue.Queue()
results = queue.Queue()


class QueueManager(BaseManager):
    pass


QueueManager.register('get_queue', callable=lambda: jobs)
QueueManager.register('get_results', callable=lambda: results)


def python_worker(address):
    """The Python twin of the Rust worker: takes jobs until None, puts (job, job squared)."""
    m = QueueManager(address=address, authkey=AUTHKEY)
    m.connect()
    todo, done = m.get_queue(), m.get_results()
    while True:
        n = todo.get()
        if n is None:
            break
        done.put((n, n * n))


def drive(address, workers, python):
    """Puts the jobs, prints the results; with Python workers, stops the server after them."""
    for n in JOBS:
        jobs.put(n)
    for _ in range(workers):
        jobs.put(None)
    own = []
    if python:
        # spawn, not fork: this process runs the server's threads.
        ctx = get_context('spawn')
        own = [ctx.Process(target=python_worker, args=(address,)) for _ in range(workers)]
        for p in own:
            p.start()
    got = [results.get(timeout=60) for _ in JOBS]
    for n, square in sorted(tuple(r) for r in got):
        print(f'{n} squared is {square}', flush=True)
    if python:
        for p in own:
            p.join()
        dispatch(Client(address, authkey=AUTHKEY), None, 'shutdown')


if __name__ == '__main__':
    workers, python = int(sys.argv[1]), sys.argv[2:] == ['python']
    m = QueueManager(address=('127.0.0.1', 0), authkey=AUTHKEY)
    s = m.get_server()
    print('serving on %s:%d' % s.address, flush=True)
    # Not a daemon: the process waits for the results to be printed before it exits.
    threading.Thread(target=drive, args=(s.address, workers, python)).start()
    s.serve_forever()
