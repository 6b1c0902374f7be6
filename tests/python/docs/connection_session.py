# Python's Connection objects session as a script: each value the session echoes is printed,
# and so is the count recv_bytes_into returned.
from multiprocessing import Pipe
a, b = Pipe()
a.send([1, 'hello', None])
print(repr(b.recv()))
b.send_bytes(b'thank you')
print(repr(a.recv_bytes()))
import array
arr1 = array.array('i', range(5))
arr2 = array.array('i', [0] * 10)
a.send_bytes(arr1)
count = b.recv_bytes_into(arr2)
assert count == len(arr1) * arr1.itemsize
print(count)
print(repr(arr2))
