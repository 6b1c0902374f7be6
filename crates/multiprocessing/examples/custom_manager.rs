//! Customized managers: a type of one's own, registered with a manager and used through a proxy.
//!
//! ```python
//! from multiprocessing.managers import BaseManager
//!
//! class MathsClass:
//!     def add(self, x, y):
//!         return x + y
//!     def mul(self, x, y):
//!         return x * y
//!
//! class MyManager(BaseManager):
//!     pass
//!
//! MyManager.register('Maths', MathsClass)
//!
//! if __name__ == '__main__':
//!     with MyManager() as manager:
//!         maths = manager.Maths()
//!         print(maths.add(4, 3))         # prints 7
//!         print(maths.mul(7, 8))         # prints 56
//! ```
//!
//! Prints `7` and `56`. `#[managed]` on the `impl` block is Python's class registration: it
//! generates the table the manager's server calls the methods by, and `MathsClassProxy`, whose
//! methods mirror the type's and return `Result`s (each call is a round trip to the server).
//! Python calls the class to make one; here the `#[constructor]` does. `register_type` is
//! `MyManager.register('Maths', MathsClass)`, and `create_as` is `manager.Maths()`.

use multiprocessing::managers::{BaseManager, managed};

/// Python's `MathsClass`: lives in the manager's server process.
pub struct MathsClass;

#[managed]
impl MathsClass {
    /// What `manager.Maths()` runs in the server.
    #[constructor]
    fn new() -> Self {
        MathsClass
    }

    /// `x + y`.
    pub fn add(&self, x: i64, y: i64) -> i64 {
        x + y
    }

    /// `x * y`.
    pub fn mul(&self, x: i64, y: i64) -> i64 {
        x * y
    }
}

fn main() -> Result<(), multiprocessing::Error> {
    let manager = BaseManager::builder()
        .register_type::<MathsClass>("Maths")
        .start()?;
    let maths: MathsClassProxy = manager.create_as("Maths", Vec::new())?;
    println!("{}", maths.add(4, 3)?); // prints 7
    println!("{}", maths.mul(7, 8)?); // prints 56
    Ok(())
}
