"""CPython Listener for the interoperability tests.

usage: listener_peer.py ADDRESS KEY   (ADDRESS: HOST:PORT, port 0 allowed, or a socket path)
Prints `ready ADDRESS`, accepts one client, answers each message with b'py:' + message
until the client closes. Exits 3 after an authentication failure.
"""
import sys
from multiprocessing.connection import Listener


def parse(address):
    host, sep, port = address.rpartition(':')
    if sep and '/' not in address and port.isdigit():
        return (host, int(port))
    return address


with Listener(parse(sys.argv[1]), authkey=sys.argv[2].encode()) as listener:
    a = listener.address
    print('ready', f'{a[0]}:{a[1]}' if isinstance(a, tuple) else a, flush=True)
    try:
        conn = listener.accept()
    except Exception as e:  # AuthenticationError
        print(f'{type(e).__name__}: {e}', flush=True)
        sys.exit(3)
    while True:
        try:
            m = conn.recv_bytes()
        except EOFError:
            break
        conn.send_bytes(b'py:' + m)
