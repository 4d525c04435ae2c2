//! Helpers shared by kasync's end-to-end tests (in `tests/tests/`).
