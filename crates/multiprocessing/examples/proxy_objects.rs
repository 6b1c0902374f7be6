//! Proxy objects: `str` and `repr` of a list proxy, indexing and slicing, and one shared list
//! holding another.
//!
//! ```python
//! >>> from multiprocessing import Manager
//! >>> manager = Manager()
//! >>> l = manager.list([i*i for i in range(10)])
//! >>> print(l)
//! [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
//! >>> print(repr(l))
//! <ListProxy object, typeid 'list' at 0x...>
//! >>> l[4]
//! 16
//! >>> l[2:5]
//! [4, 9, 16]
//! >>> a = manager.list()
//! >>> b = manager.list()
//! >>> a.append(b)         # referent of a now contains referent of b
//! >>> print(a, b)
//! [[]] []
//! >>> b.append('hello')
//! >>> print(a, b)
//! [['hello']] ['hello']
//! ```
//!
//! Prints the same lines (the address aside): the documentation's. CPython 3.11 itself prints
//! `[<ListProxy object, typeid 'list' at 0x...>] []` for the nested list, showing the proxy it
//! keeps inside; ours shows the referent, as the documentation does. `Display` is Python's `str(proxy)` (the referent's
//! repr, asked of the server), `Debug` its `repr(proxy)`. `a.append(&b)` stores a reference to
//! `b`'s referent in `a`'s, so `a` shows `b`'s changes.

use multiprocessing::managers::ListProxy;

fn main() -> Result<(), multiprocessing::Error> {
    let manager = multiprocessing::manager()?;
    let l: ListProxy<i64> = manager.list_of((0..10).map(|i| i * i))?;
    println!("{l}");
    println!("{l:?}");
    println!("{}", l.get(4)?);
    println!("{:?}", l.get_slice(Some(2), Some(5), None)?); // a Vec<i64> prints as the list does

    let a = manager.list(Vec::new())?;
    let b = manager.list(Vec::new())?;
    a.append(&b)?; // the referent of a now contains the referent of b
    println!("{a} {b}");
    b.append("hello")?;
    println!("{a} {b}");
    Ok(())
}
