# The documentation's "Using a remote manager" sessions, as a script: the queue server and its
# two clients in processes of their own, then a process-local Queue filled by a Worker and
# served through a manager. Port 0 (a free port) instead of 50000, so runs never collide.
import queue as queue_module
from multiprocessing import Pipe, Process, Queue
from multiprocessing.managers import BaseManager

AUTHKEY = b'abracadabra'


class QueueManager(BaseManager):
    pass


def serve(conn):
    queue = queue_module.Queue()
    QueueManager.register('get_queue', callable=lambda: queue)
    m = QueueManager(address=('127.0.0.1', 0), authkey=AUTHKEY)
    s = m.get_server()
    conn.send(s.address)
    s.serve_forever()


class Worker(Process):
    def __init__(self, q):
        self.q = q
        super(Worker, self).__init__()

    def run(self):
        self.q.put('local hello')


def serve_local(conn):
    queue = Queue()
    w = Worker(queue)
    w.start()
    QueueManager.register('get_queue', callable=lambda: queue)
    m = QueueManager(address=('127.0.0.1', 0), authkey=AUTHKEY)
    s = m.get_server()
    conn.send(s.address)
    s.serve_forever()


def client(address):
    QueueManager.register('get_queue')
    m = QueueManager(address=address, authkey=AUTHKEY)
    m.connect()
    return m.get_queue()


def put(address):
    client(address).put('hello')


def get(address):
    print(repr(client(address).get()), flush=True)


def session(target):
    ours, theirs = Pipe()
    server = Process(target=target, args=(theirs,))
    server.start()
    address = ours.recv()
    if target is serve:
        p = Process(target=put, args=(address,))
        p.start()
        p.join()
    p = Process(target=get, args=(address,))
    p.start()
    p.join()
    server.terminate()
    server.join()


if __name__ == '__main__':
    session(serve)
    session(serve_local)
