//! Time as epoch milliseconds with Beijing-time text, defined once in `alipay-units`.

pub use alipay_units::{BadDate, Timestamp};
