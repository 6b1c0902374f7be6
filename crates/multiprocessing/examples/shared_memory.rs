//! Python's "Sharing state: shared memory" example: a `Value` and an `Array` changed by a child.
//!
//! ```python
//! from multiprocessing import Process, Value, Array
//!
//! def f(n, a):
//!     n.value = 3.1415927
//!     for i in range(len(a)):
//!         a[i] = -a[i]
//!
//! if __name__ == '__main__':
//!     num = Value('d', 0.0)
//!     arr = Array('i', range(10))
//!
//!     p = Process(target=f, args=(num, arr))
//!     p.start()
//!     p.join()
//!
//!     print(num.value)
//!     print(arr[:])
//! ```
//!
//! Prints, as Python does:
//!
//! ```text
//! 3.1415927
//! [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
//! ```

use multiprocessing::{Array, Process, Value};

#[allow(clippy::approx_constant, reason = "the value of Python's example")]
fn f(n: Value<f64>, a: Array<i32>) {
    n.set(3.1415927).expect("set the value");
    a.update(|a| a.iter_mut().for_each(|x| *x = -*x))
        .expect("lock the array");
}

fn main() -> Result<(), multiprocessing::Error> {
    let num = Value::new(0.0f64)?;
    let arr = Array::new(&(0..10).collect::<Vec<i32>>())?;

    let p = Process::new(f, (num.clone(), arr.clone()));
    p.start()?;
    p.join()?;

    println!("{}", num.get()?);
    println!("{:?}", arr.to_vec()?);
    Ok(())
}
