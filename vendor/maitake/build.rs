// Part of https://github.com/rust-lang/rust/issues/97708 workaround
fn main() {}
