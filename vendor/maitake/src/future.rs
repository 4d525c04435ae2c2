pub(crate) mod yield_future;
pub use self::yield_future::{yield_now, Yield};
