"""CPython side of the pickled send/recv interoperability tests.

usage: pickle_peer.py ADDRESS KEY   (ADDRESS: HOST:PORT or a socket path)
Sends every object below at every protocol (each preceded by a (label, protocol) header,
None ending the run), then a plain dict for the serde test; then receives objects the same
way, checks each against the same list and prints 'ok LABEL PROTOCOL' or 'FAIL ...'.
"""
import pickle
import sys
from multiprocessing.connection import Client
from multiprocessing.managers import Token


def objects():
    shared = [1]
    rec = []
    rec.append(rec)
    d = {}
    d['self'] = d
    return [
        ('none', None),
        ('bools', [True, False]),
        ('ints', [0, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**63, -2**63 - 1,
                  2**127 - 1, -2**127]),
        ('big ints', [2**200, -2**200, 2**128, -(2**128) - 1]),
        ('floats', [2.5, -0.0, 1e300, float('inf'), float('-inf')]),
        ('str', 'h\xe9llo \u2603 \U0001f600 \n \\ \'"'),
        ('bytes', b'\x00\xffbytes'),
        ('bytearray', bytearray(b'ba\x00')),
        ('tuple', (1, 'two', 3.0, True, None)),
        ('list', [1, [2, [3]], [], ()]),
        ('dict', {1: 'int key', 'b': 2, (1, 2): None, None: 'none key', 2.5: 'float key'}),
        ('set', {1, 2, 3}),
        ('frozenset', frozenset({'x'})),
        ('global', KeyError),
        ('token', Token('dict', ('127.0.0.1', 5000), '7f00')),
        ('KeyError', KeyError('missing')),
        ('shared', [shared, shared]),
        ('recursive list', rec),
        ('recursive dict', d),
    ]


def check(label, got, want):
    if label == 'global':
        return got is KeyError
    if label == 'token':
        return type(got) is Token and (got.typeid, got.address, got.id) == (
            want.typeid, want.address, want.id)
    if label == 'KeyError':
        return type(got) is KeyError and got.args == ('missing',)
    if label == 'recursive list':
        return type(got) is list and len(got) == 1 and got[0] is got
    if label == 'recursive dict':
        return type(got) is dict and list(got) == ['self'] and got['self'] is got
    # repr tells bytes from bytearray, tuple from list, True from 1, and shows every digit.
    return repr(got) == repr(want) and got == want


def parse(address):
    host, sep, port = address.rpartition(':')
    if sep and '/' not in address and port.isdigit():
        return (host, int(port))
    return address


c = Client(parse(sys.argv[1]), authkey=sys.argv[2].encode())
for label, obj in objects():
    for p in [None] + list(range(pickle.HIGHEST_PROTOCOL + 1)):
        c.send((label, p))
        if p is None:
            c.send(obj)  # the default protocol, as any multiprocessing program sends
        else:
            c.send_bytes(pickle.dumps(obj, p))
c.send(None)
c.send({'id': 7, 'name': 'job', 'args': [1.5, None]})

want = dict(objects())
n = 0
while True:
    head = c.recv()
    if head is None:
        break
    label, p = head
    got = c.recv()
    ok = check(label, got, want[label])
    print('ok' if ok else 'FAIL', label, p, '' if ok else repr(got), flush=True)
    n += 1
job = c.recv()
print('job', job == {'id': 8, 'name': 'done', 'args': (2.5, 'x')}, flush=True)
print('done', n, flush=True)
