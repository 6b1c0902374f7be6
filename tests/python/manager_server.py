"""A CPython manager server for the Rust client's tests.

    python3 manager_server.py ADDRESS AUTHKEY

ADDRESS is HOST:PORT (port 0 picks one) or a Unix socket path. Serves a SyncManager with the
documentation's `get_queue` and a `Maths` type whose `fail()` raises a class of this script,
prints `serving on ADDRESS` with the real address, and serves until a client asks for a
shutdown.
"""

import queue
import sys
from multiprocessing.managers import SyncManager


class JobFailed(Exception):
    """A class of the peer's own, raised by a registered type's method."""


class Maths:
    def add(self, a, b):
        return a + b

    def fail(self, why):
        raise JobFailed(why)

    def members(self):
        return {1, 2}

    def kind(self, x):
        return type(x).__name__


shared_queue = queue.Queue()


class Manager(SyncManager):
    pass


Manager.register("get_queue", callable=lambda: shared_queue)
Manager.register("Maths", Maths)


def main():
    text, key = sys.argv[1], sys.argv[2].encode()
    host, _, port = text.rpartition(":")
    address = (host, int(port)) if not text.startswith("/") and port.isdigit() else text
    server = Manager(address=address, authkey=key).get_server()
    real = server.address
    shown = "%s:%d" % real if isinstance(real, tuple) else real
    print("serving on %s" % shown, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
