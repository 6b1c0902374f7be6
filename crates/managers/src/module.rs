//! [`Module`]: a named set of functions living in a manager, called by name through a proxy
//! (Python's `register('operator', get_operator_module)`, which shares a module whose public
//! functions are the exposed methods).
//!
//! A module holds no state: each call runs one of its functions on the arguments and sends the
//! result back. Its exposed methods are its function names, sorted (Python's `_exposed_`), so
//! the server refuses any other name before the module sees it.
//!
//! ```
//! use multiprocessing_managers::module::Module;
//! use multiprocessing_managers::{BaseManager, Object, Raised, Shared, operator};
//!
//! // Python's `def get_operator_module(): return operator`.
//! fn get_operator_module(_: Vec<Object>) -> Result<Box<dyn Shared>, Raised> {
//!     Ok(Box::new(operator::module()))
//! }
//!
//! let manager = BaseManager::builder()
//!     .register("operator", get_operator_module)
//!     .start()
//!     .unwrap();
//! let op = manager.create("operator", Vec::new()).unwrap();
//! let sum = op.call_method("add", vec![23.into(), 45.into()]).unwrap();
//! assert_eq!(sum.to_string(), "68");
//! let power = op.call_method("pow", vec![2.into(), 94.into()]).unwrap();
//! assert_eq!(power.to_string(), "19807040628566084398385987584");
//! assert_eq!(op.repr().unwrap(), "<module 'operator' (built-in)>");
//! // Python's `op._exposed_`: the function names, sorted; the server refuses any other.
//! let exposed = op.exposed().unwrap().unwrap();
//! assert_eq!((exposed.len(), &exposed[..2]), (55, &["abs".to_string(), "add".to_string()][..]));
//! assert!(op.call_method("__init__", vec![]).is_err());
//! ```
//!
//! A module of one's own is a list of plain functions, each taking the call's arguments:
//!
//! ```
//! use multiprocessing_managers::module::Module;
//! use multiprocessing_managers::{Caller, Exception, Object, Outcome, Raised, Shared};
//!
//! fn double(args: Vec<Object>) -> Result<Object, Raised> {
//!     match args.as_slice() {
//!         [Object::Int(n)] => Ok(Object::Int(n * 2)),
//!         _ => Err(Raised::new(Exception::TypeError, "double() takes one int")),
//!     }
//! }
//! fn hello(_: Vec<Object>) -> Result<Object, Raised> {
//!     Ok("hello".into())
//! }
//!
//! let mut m = Module::new("tools").function("hello", hello).function("double", double);
//! assert_eq!(m.exposed(), ["double", "hello"]); // sorted, as Python's `_exposed_`
//! assert_eq!(m.call_function("double", vec![21.into()]).unwrap(), Object::Int(42));
//! let e = m.call_function("triple", vec![]).unwrap_err();
//! assert_eq!(e.to_string(), "AttributeError: module 'tools' has no attribute 'triple'");
//! // As a shared object, the same through `Shared::call`.
//! let out = m.call("hello", vec![], Caller::new(1, 1)).unwrap();
//! assert!(matches!(out, Outcome::Return(Object::Str(s)) if s == "hello"));
//! ```

use std::fmt;

use crate::object::Object;
use crate::protocol::{Exception, Raised};
use crate::shared::{Caller, Outcome, Shared};

/// One function of a [`Module`]: the call's arguments in, a value or one of Python's
/// exceptions out.
pub type Function = fn(Vec<Object>) -> Result<Object, Raised>;

/// A named set of functions, shared in a manager and called by name ([module docs](self)).
///
/// Its exposed methods ([`exposed`](Self::exposed)) are its function names, sorted; its `repr`
/// is Python's for a built-in module (`<module 'operator' (built-in)>`); it holds no data, so
/// its value (a proxy's `get_value`) is `None` (Python fails to pickle a module there).
#[derive(Clone)]
#[doc(alias = "ModuleType")]
pub struct Module {
    name: String,
    /// Sorted; `functions[i]` is the function named `names[i]`.
    names: Vec<&'static str>,
    functions: Vec<Function>,
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("functions", &self.names)
            .finish()
    }
}

impl Module {
    /// A module named `name`, without functions yet.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Module {
        Module {
            name: name.into(),
            names: Vec::new(),
            functions: Vec::new(),
        }
    }

    /// A module named `name` with the given functions (a later one replaces an earlier one of
    /// the same name).
    ///
    /// ```
    /// use multiprocessing_managers::module::{Function, Module};
    /// use multiprocessing_managers::{Object, Raised};
    /// fn none(_: Vec<Object>) -> Result<Object, Raised> { Ok(Object::None) }
    /// const FUNCTIONS: &[(&str, Function)] = &[("b", none), ("a", none)];
    /// assert_eq!(Module::from_functions("m", FUNCTIONS).exposed(), ["a", "b"]);
    /// ```
    #[must_use]
    pub fn from_functions(
        name: impl Into<String>,
        functions: &[(&'static str, Function)],
    ) -> Module {
        functions
            .iter()
            .fold(Module::new(name), |m, &(n, f)| m.function(n, f))
    }

    /// The module with `f` added as `name` (replacing a function of that name).
    #[must_use]
    pub fn function(mut self, name: &'static str, f: Function) -> Module {
        match self.names.binary_search(&name) {
            Ok(i) => self.functions[i] = f,
            Err(i) => {
                self.names.insert(i, name);
                self.functions.insert(i, f);
            }
        }
        self
    }

    /// The module's name (Python's `__name__`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of its functions, sorted: the methods a proxy may call (Python's
    /// `_exposed_`).
    #[doc(alias = "_exposed_")]
    #[must_use]
    pub fn exposed(&self) -> &[&'static str] {
        &self.names
    }

    /// The function named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Function> {
        self.names
            .binary_search(&name)
            .ok()
            .map(|i| self.functions[i])
    }

    /// Calls the function named `name` with `args`; an unknown name is Python's
    /// `AttributeError: module 'operator' has no attribute 'x'`.
    ///
    /// # Errors
    /// What the function raises, or the `AttributeError`.
    #[doc(alias = "getattr")]
    pub fn call_function(&self, name: &str, args: Vec<Object>) -> Result<Object, Raised> {
        match self.get(name) {
            Some(f) => f(args),
            None => Err(Raised::new(
                Exception::AttributeError,
                format!("module '{}' has no attribute '{name}'", self.name),
            )),
        }
    }
}

impl Shared for Module {
    fn call(&mut self, method: &str, args: Vec<Object>, _: Caller) -> Result<Outcome, Raised> {
        self.call_function(method, args).map(Outcome::Return)
    }

    fn value(&self) -> Object {
        Object::None
    }

    /// `<module 'operator' (built-in)>`: the functions are compiled into the executable, as a
    /// built-in module's are.
    fn repr(&self) -> String {
        format!("<module {} (built-in)>", Object::Str(self.name.clone()))
    }

    fn exposed(&self) -> Option<&[&'static str]> {
        Some(&self.names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(args: Vec<Object>) -> Result<Object, Raised> {
        Ok(args.into_iter().next().unwrap_or_default())
    }

    fn second(args: Vec<Object>) -> Result<Object, Raised> {
        Ok(args.into_iter().nth(1).unwrap_or_default())
    }

    #[test]
    fn functions_are_sorted_replaced_and_called_by_name() {
        let m = Module::new("m")
            .function("z", first)
            .function("a", first)
            .function("z", second);
        assert_eq!(m.exposed(), ["a", "z"]);
        assert_eq!(Shared::exposed(&m), Some(&["a", "z"][..]));
        let args = || vec![Object::Int(1), Object::Int(2)];
        assert_eq!(m.call_function("a", args()).unwrap(), Object::Int(1));
        assert_eq!(m.call_function("z", args()).unwrap(), Object::Int(2));
        let e = m.call_function("b", args()).unwrap_err();
        assert_eq!(e.exception, Exception::AttributeError);
        assert_eq!(e.message, "module 'm' has no attribute 'b'");
    }

    #[test]
    fn repr_and_value_are_pythons() {
        let mut m = Module::from_functions("it's", &[("f", first)]);
        assert_eq!(m.repr(), r#"<module "it's" (built-in)>"#);
        assert_eq!(m.value(), Object::None);
        let out = m
            .call("f", vec![Object::Int(7)], Caller::new(1, 1))
            .unwrap();
        assert!(matches!(out, Outcome::Return(Object::Int(7))));
    }
}
