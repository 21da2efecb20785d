//! How the gateway answers one call ([`Reply`]) and the `biz_content` reader ([`Biz`]).

use serde_json::{json, Map, Value};

/// How the gateway answers one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `code=10000 msg=Success` plus these fields, under `<method>_response`.
    Ok(Map<String, Value>),
    /// An error inside the method node (`40004 Business Failed`, …).
    Business {
        /// `code`.
        code: &'static str,
        /// `msg`.
        msg: &'static str,
        /// `sub_code`.
        sub_code: String,
        /// `sub_msg`.
        sub_msg: String,
    },
    /// A gateway-level `error_response`.
    Gateway {
        /// `code`.
        code: &'static str,
        /// `msg`.
        msg: &'static str,
        /// `sub_code`.
        sub_code: String,
        /// `sub_msg`.
        sub_msg: String,
    },
}

impl Reply {
    /// `40004 Business Failed` with a sub_code and sub_msg.
    pub fn business(sub_code: &str, sub_msg: impl Into<String>) -> Self {
        Reply::Business {
            code: "40004",
            msg: "Business Failed",
            sub_code: sub_code.into(),
            sub_msg: sub_msg.into(),
        }
    }

    /// `40005 Call Limited` in the API's node, without a sub_code: the rate limit's answer (the
    /// code and msg of the generic table, alipay-protocol.md §2.3, which lists no sub_code for it).
    pub fn call_limited() -> Self {
        Reply::Business {
            code: "40005",
            msg: "Call Limited",
            sub_code: String::new(),
            sub_msg: String::new(),
        }
    }

    /// `40004 INVALID_PARAMETER` naming the field.
    pub fn invalid(field: &str, why: &str) -> Self {
        Reply::business("INVALID_PARAMETER", format!("参数有误: {field} {why}"))
    }

    /// A gateway-level error.
    pub fn gateway(code: &'static str, sub_code: &str, sub_msg: impl Into<String>) -> Self {
        let msg = match code {
            "40001" => "Missing Required Arguments",
            "40002" => "Invalid Arguments",
            "40003" => "Insufficient Conditions",
            "40004" => "Business Failed",
            "20000" => "Service Currently Unavailable",
            _ => "Invalid Arguments",
        };
        Reply::Gateway {
            code,
            msg,
            sub_code: sub_code.into(),
            sub_msg: sub_msg.into(),
        }
    }

    pub(super) fn ok(fields: Value) -> Self {
        match fields {
            Value::Object(m) => Reply::Ok(m),
            _ => Reply::Ok(Map::new()),
        }
    }

    /// Pass APIs: `success="true"` and `result` as a JSON string.
    pub(super) fn pass_ok(result: Value) -> Self {
        Reply::ok(json!({"success": "true", "result": result.to_string()}))
    }

    /// Pass APIs: `code=10000`, `success="false"`, `result` with `errorCode`/`errorMsg`.
    pub(super) fn pass_fail(error_code: &str, error_msg: impl Into<String>) -> Self {
        let result = json!({"errorCode": error_code, "errorMsg": error_msg.into()});
        Reply::ok(json!({"success": "false", "result": result.to_string()}))
    }

    /// cash.trigger: `code=10000`, `trigger_result="false"`, `error_msg`.
    pub(super) fn trigger_fail(error_msg: &str) -> Self {
        Reply::ok(json!({"trigger_result": "false", "error_msg": error_msg}))
    }
}

/// `biz_content` as an object, with lenient readers.
#[derive(Debug, Clone, Default)]
pub struct Biz(pub Map<String, Value>);

impl Biz {
    /// A scalar field as text; empty is absent.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub(super) fn required(&self, key: &str) -> Result<String, Reply> {
        self.text(key)
            .ok_or_else(|| Reply::invalid(key, "不能为空"))
    }

    /// An object field, given as an object or as a JSON string holding one.
    pub(super) fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, Reply> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok(Some(m)),
                _ => Err(Reply::invalid(key, "不是合法的JSON对象")),
            },
            Some(_) => Err(Reply::invalid(key, "不是合法的JSON对象")),
        }
    }
}
