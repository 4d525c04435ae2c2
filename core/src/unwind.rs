//! Loops over user code that must finish even if one step panics.

/// Calls `each` on every item of `items`. If one call panics, the rest
/// are still made while the panic unwinds — as a slice drops every element
/// even when one element's `Drop` panics (a second panic then aborts, as
/// it does there). For dropping what a primitive holds when it goes away.
pub(crate) fn each_even_if_one_panics<I: Iterator, F: FnMut(I::Item)>(items: I, each: F) {
    /// The items not yet handed to `each`; dropped during an unwind, it
    /// hands them over.
    struct Rest<I: Iterator, F: FnMut(I::Item)>(I, F);
    impl<I: Iterator, F: FnMut(I::Item)> Drop for Rest<I, F> {
        fn drop(&mut self) {
            for item in self.0.by_ref() {
                (self.1)(item);
            }
        }
    }
    let mut rest = Rest(items, each);
    for item in rest.0.by_ref() {
        (rest.1)(item);
    }
}
