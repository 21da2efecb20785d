//! The one table that classifies every documented error code of the two transfer APIs
//! ([`CODE_TABLE`], [`classify`], [`classify_unsigned`]).

/// What an answer of the transfer APIs means for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferClass {
    /// `code=10000`: Alipay holds the order (its `status` says whether it is paid).
    Success,
    /// Alipay may or may not hold the order: resolve with common.query or a re-send of the same
    /// out_biz_no with the same parameters.
    Unknown,
    /// Not done now (balance, quota): the same request with the same number may succeed later; a
    /// person should look. (Alipay's rate limit is [`TransferClass::Unknown`]: nobody need look.)
    RetryLater,
    /// The payee or the input is wrong: this order will never be paid.
    Definite,
    /// The merchant's setup is wrong (product not signed, certificate, signature): a person must
    /// fix it; never retried by itself.
    Configuration,
    /// common.query: a signed `ORDER_NOT_EXIST`; Alipay holds no order with this number.
    NoSuchOrder,
}

/// Which API a row of [`CODE_TABLE`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferApi {
    /// `alipay.fund.trans.uni.transfer`.
    Transfer,
    /// `alipay.fund.trans.common.query`.
    Query,
}

/// Where a row applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Both APIs.
    Both,
    /// Only this API.
    Only(TransferApi),
}

impl Scope {
    /// Whether a row of this scope applies to `api`.
    pub fn covers(self, api: TransferApi) -> bool {
        match self {
            Scope::Both => true,
            Scope::Only(only) => only == api,
        }
    }
}

/// One group of the table: gateway `code`s or `sub_code`s with the same scope and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeGroup {
    /// Where its codes apply.
    pub scope: Scope,
    /// Their class.
    pub class: TransferClass,
    /// Gateway `code`s (`10000`, `20000`, `40001`…) or `sub_code`s (`PAYEE_NOT_EXIST`, …).
    pub codes: &'static [&'static str],
}

const fn group(scope: Scope, class: TransferClass, codes: &'static [&'static str]) -> CodeGroup {
    CodeGroup {
        scope,
        class,
        codes,
    }
}

use Scope::{Both, Only};
use TransferApi::{Query, Transfer};
use TransferClass::{
    Configuration as Config, Definite, NoSuchOrder, RetryLater, Success as Ok10000, Unknown as Unk,
};

/// Every documented code of uni.transfer and common.query, classified, grouped by class and scope
/// as the same table in docs/protocol.md is. Gateway `code`s first, then `sub_code`s. Decisions are
/// matched on `sub_code` only, never on `sub_msg`. A `sub_code` not in this table: see [`classify`]
/// (retry-later for uni.transfer, unknown for common.query).
pub const CODE_TABLE: &[CodeGroup] = &[
    // Gateway codes.
    group(Both, Ok10000, &["10000"]),
    group(
        Both,
        Unk,
        &[
            "20000", // service unavailable (isp.unknow-error)
            "10003", // still processing
        ],
    ),
    group(
        Both,
        Definite,
        &[
            "40001", // missing required parameter: never accepted
            "40002", // invalid parameter: never accepted
            "40003", // insufficient conditions
        ],
    ),
    // Insufficient permissions (API not signed for this app).
    group(Both, Config, &["40006"]),
    // Gateway sub_codes that name a setup problem.
    group(
        Both,
        Config,
        &[
            "isv.missing-app-cert-sn",
            "isv.app-cert-not-exist",
            "isv.invalid-signature",
            "isv.invalid-app-id",
            "isv.insufficient-isv-permissions",
            "isv.insufficient-user-permissions",
        ],
    ),
    // Unknown: never a definite answer.
    group(
        Both,
        Unk,
        &[
            "SYSTEM_ERROR",
            "ACQ.SYSTEM_ERROR",
            "isp.unknow-error",
            "aop.unknow-error",
        ],
    ),
    // Alipay's rate limit (crate::THROTTLE_CODES, crate::THROTTLE_SUB_CODES): not executed now.
    // The client answers these `Unknown(Throttled)` before any table is read; the rows keep the
    // table complete. Unknown, not retry-later: nothing for a person to look at, and the same
    // number is sent again once the order is known not to exist.
    group(Both, Unk, &["40005", "RESOURCE_LIMIT_EXCEED"]),
    group(Only(Transfer), Unk, &["PAYMENT_INFO_INCONSISTENCY"]),
    group(Only(Query), NoSuchOrder, &["ORDER_NOT_EXIST"]),
    // Not done now; the same request later.
    group(
        Only(Transfer),
        RetryLater,
        &[
            "BALANCE_IS_NOT_ENOUGH",
            "PAYER_BALANCE_NOT_ENOUGH",
            "EXCEED_LIMIT_DM_AMOUNT",
            "EXCEED_LIMIT_DM_MAX_AMOUNT",
            "EXCEED_LIMIT_MM_AMOUNT",
            "EXCEED_LIMIT_DC_RECEIVED",
            "PAYCARD_UNABLE_PAYMENT",
            "PAYER_STATUS_ERROR",
        ],
    ),
    // Definite: the payee or the input.
    group(
        Only(Transfer),
        Definite,
        &[
            "PAYEE_NOT_EXIST",
            "PAYEE_ACCOUNT_NOT_EXSIT",
            "PAYEE_ACCOUNT_STATUS_ERROR",
            "PAYEE_USERINFO_STATUS_ERROR",
            "PAYEE_USER_INFO_ERROR",
            "PAYEE_ACC_OCUPIED",
            "PAYEE_NOT_RELNAME_CERTIFY",
            "PERMIT_NON_BANK_LIMIT_PAYEE",
            "PERM_AML_NOT_REALNAME_REV",
            "EXCEED_LIMIT_UNRN_DM_AMOUNT",
            "RELEASE_USER_FORBBIDEN_RECIEVE",
            "PAYEE_USER_TYPE_ERROR",
            "PERMIT_CHECK_RECEIVE_LIMIT",
            "PAYER_PAYEE_CANNOT_SAME",
            "EXCEED_LIMIT_SM_MIN_AMOUNT",
            "EXCEED_LIMIT_SM_AMOUNT",
            "EXCEED_LIMIT_PERSONAL_SM_AMOUNT",
            "REMARK_HAS_SENSITIVE_WORD",
            "SECURITY_CHECK_FAILED",
            "NOT_IN_WHITE_LIST",
        ],
    ),
    group(Both, Definite, &["INVALID_PARAMETER"]),
    // Configuration: the merchant's contract or setup.
    group(Both, Config, &["PRODUCT_NOT_SIGN"]),
    group(Only(Transfer), Config, &["NO_ACCOUNT_PAYMENT_PERMISSION"]),
];

fn lookup(api: TransferApi, code: &str) -> Option<TransferClass> {
    CODE_TABLE
        .iter()
        .find(|g| g.scope.covers(api) && g.codes.contains(&code))
        .map(|g| g.class)
}

/// The class of a **signed** answer of `api` with gateway `code` and `sub_code`. The `sub_code`
/// decides when the table knows it; otherwise the `code`. Anything the table does not know:
/// uni.transfer → [`TransferClass::RetryLater`] (Alipay processed and refused it for a reason we
/// cannot read: the order is not paid now, the business id is not freed, a person looks, and a
/// later re-send uses the same number), common.query → [`TransferClass::Unknown`] (nothing learnt).
///
/// An unsigned answer is never classified here except as [`classify_unsigned`] says.
pub fn classify(api: TransferApi, code: &str, sub_code: Option<&str>) -> TransferClass {
    if crate::outcome::is_throttle(code, sub_code)
        || crate::outcome::is_platform_unknown(code, sub_code)
    {
        return TransferClass::Unknown;
    }
    if let Some(class) = sub_code.and_then(|s| lookup(api, s)) {
        return class;
    }
    // 40004 (Business Failed) is not a row: its sub_code decides, and one the table does not know
    // falls through to the default below.
    match lookup(api, code) {
        Some(class) => class,
        None => match api {
            TransferApi::Transfer => TransferClass::RetryLater,
            TransferApi::Query => TransferClass::Unknown,
        },
    }
}

/// The class of an **unsigned** answer: only the gateway refusals `40001`/`40002`/`40003`/`40006`
/// (the request was never accepted, so nothing can have happened) are read, as definite; every
/// other unsigned answer is unknown (its content is not trusted, so neither `ORDER_NOT_EXIST` nor a
/// payee refusal can be believed).
pub fn classify_unsigned(code: Option<&str>) -> TransferClass {
    match code {
        Some("40001" | "40002" | "40003" | "40006") => TransferClass::Definite,
        _ => TransferClass::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One assertion per code and API: the table says what `classify` answers.
    #[test]
    fn every_row_classifies_as_the_table_says() {
        for g in CODE_TABLE {
            for api in [Transfer, Query].into_iter().filter(|&a| g.scope.covers(a)) {
                for &code in g.codes {
                    let (code, sub) = if code.chars().all(|c| c.is_ascii_digit()) {
                        (code, None)
                    } else {
                        ("40004", Some(code))
                    };
                    assert_eq!(
                        classify(api, code, sub),
                        g.class,
                        "{code} {sub:?} on {api:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_money_rules_hold() {
        let cases = [
            // Never definite: the platform does not know.
            (Transfer, "40004", Some("SYSTEM_ERROR"), Unk),
            (Transfer, "40004", Some("PAYMENT_INFO_INCONSISTENCY"), Unk),
            (Transfer, "20000", Some("isp.unknow-error"), Unk),
            (Query, "40004", Some("ORDER_NOT_EXIST"), NoSuchOrder),
            // ORDER_NOT_EXIST is a query answer; on uni.transfer it is not in the table.
            (Transfer, "40004", Some("ORDER_NOT_EXIST"), RetryLater),
            // Unknown sub_codes.
            (Transfer, "40004", Some("SOMETHING_NEW"), RetryLater),
            (Query, "40004", Some("SOMETHING_NEW"), Unk),
            (Transfer, "40004", None, RetryLater),
            // A gateway refusal with an unlisted isv sub_code keeps the code's class.
            (Transfer, "40002", Some("isv.invalid-arguments"), Definite),
            (Transfer, "40002", Some("isv.invalid-signature"), Config),
        ];
        for (api, code, sub_code, class) in cases {
            assert_eq!(
                classify(api, code, sub_code),
                class,
                "{code} {sub_code:?} on {api:?}"
            );
        }
        // Unsigned answers.
        for c in ["40001", "40002", "40003", "40006"] {
            assert_eq!(classify_unsigned(Some(c)), Definite);
        }
        assert_eq!(classify_unsigned(Some("40004")), Unk);
        assert_eq!(classify_unsigned(Some("10000")), Unk);
        assert_eq!(classify_unsigned(None), Unk);
    }

    #[test]
    fn every_code_is_in_the_table_once_per_api() {
        for api in [Transfer, Query] {
            let mut seen = std::collections::HashSet::new();
            for g in CODE_TABLE.iter().filter(|g| g.scope.covers(api)) {
                for &code in g.codes {
                    assert!(seen.insert(code), "{code} twice for {api:?}");
                }
            }
        }
    }
}
