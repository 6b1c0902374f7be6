//! Managers and proxies: Python's `multiprocessing.managers`.
//!
//! A manager is a server process that holds shared objects; other processes, on this machine or
//! on others over TCP, use them through proxies. Values inside the manager are a
//! self-describing [`Object`] tree, so a managed `dict` holds mixed keys and values as in Python,
//! and typed proxies are views over it.

pub mod object;

pub use object::{Object, ObjectError, Token, WireObject, from_object, to_object};
