//! Task runner for the workspace.
fn main() {}
