//! The macro's compile errors, each naming the method (or block) at fault.

#[test]
fn signatures_that_cannot_be_proxied_are_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
