//! Helpers of the core's test suites.
#![allow(dead_code)]

pub mod heap;
