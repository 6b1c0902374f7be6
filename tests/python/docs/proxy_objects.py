# The documentation's Proxy Objects sessions, as a script printing what the sessions show.
from multiprocessing import Manager

if __name__ == '__main__':
    manager = Manager()
    l = manager.list([i*i for i in range(10)])
    print(l)
    print(repr(l))
    print(l[4])
    print(l[2:5])
    a = manager.list()
    b = manager.list()
    a.append(b)         # referent of a now contains referent of b
    print(a, b)
    b.append('hello')
    print(a, b)
