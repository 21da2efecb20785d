//! Money in integer fen, defined once in `alipay-units`.

pub use alipay_units::{AmountError, AmountFen};
