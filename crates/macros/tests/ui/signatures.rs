//! Every method signature `#[managed]` cannot proxy is an error naming the method.

use multiprocessing_managers::managed;

pub struct Store;

#[managed]
impl Store {
    pub fn generic<T: Into<i64>>(&self, x: T) -> i64 {
        x.into()
    }

    pub fn with_impl(&self, items: impl Iterator<Item = u8>) -> usize {
        items.count()
    }

    pub fn fill(&self, out: &mut Vec<u8>) {
        out.push(1);
    }

    pub fn consume(self) {}

    pub fn boxed(self: Box<Self>) {}

    pub fn pattern(&self, (a, b): (u8, u8)) -> u8 {
        a + b
    }

    pub fn nested(&self, names: Vec<&str>) -> usize {
        names.len()
    }

    pub fn borrowed(&self) -> &str {
        "inside"
    }

    pub async fn later(&self) {}

    pub unsafe fn risky(&self) {}

    #[returns_proxy]
    pub fn child(&self) -> Store {
        Store
    }

    #[returns_proxy(name = "Store")]
    pub fn other_child(&self) -> Store {
        Store
    }

    #[exposed]
    pub fn no_receiver() {}

    pub fn from_proxy(&self) {}

    // Skipped methods may have any signature.
    #[skip]
    pub fn skipped<'a>(&'a mut self, x: impl Fn(&'a str)) -> &'a str {
        x("ok");
        "ok"
    }
}

fn main() {}
