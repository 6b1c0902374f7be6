"""CPython Client for the interoperability tests.

usage: client_peer.py ADDRESS KEY   (ADDRESS: HOST:PORT or a socket path)
Sends bytes-like messages of several kinds, prints the two replies.
"""
import sys
from array import array
from multiprocessing.connection import Client


def parse(address):
    host, sep, port = address.rpartition(':')
    if sep and '/' not in address and port.isdigit():
        return (host, int(port))
    return address


address, key = parse(sys.argv[1]), sys.argv[2].encode()
try:
    c = Client(address, authkey=key)
except Exception as e:  # AuthenticationError
    print(f'{type(e).__name__}: {e}', flush=True)
    sys.exit(3)
c.send_bytes(b'ping')
c.send_bytes(bytearray(b'ba'))
c.send_bytes(memoryview(b'xxmvxx')[2:4])
c.send_bytes(array('i', [42, 1729]))
c.send_bytes(b'abcdef', 2, 3)
print(c.recv_bytes())
print(len(c.recv_bytes()))
c.close()
