//! `#[managed]` goes on one inherent, non-generic block, and its constructor returns `Self`.

use multiprocessing_managers::managed;

pub struct Generic<T>(T);

#[managed]
impl<T: 'static> Generic<T> {
    pub fn get(&self) -> u8 {
        0
    }
}

pub trait Named {
    fn name(&self) -> String;
}

pub struct Plain;

#[managed]
impl Named for Plain {
    fn name(&self) -> String {
        "plain".into()
    }
}

pub struct Made;

#[managed]
impl Made {
    #[constructor]
    pub fn make() -> u8 {
        0
    }

    #[constructor]
    pub fn with_self(&self) -> Self {
        Made
    }
}

pub struct Twice;

#[managed]
impl Twice {
    #[constructor]
    pub fn one() -> Self {
        Twice
    }

    #[constructor]
    pub fn two() -> Result<Twice, String> {
        Ok(Twice)
    }

    #[skip]
    #[exposed]
    pub fn both(&self) {}
}

#[managed(proxi = Name)]
impl Plain {}

fn main() {}
