//! Alipass (支付宝卡包) APIs: `alipay.pass.template.add`, `.template.update`, `.instance.add`,
//! `.instance.update`.
//!
//! These answer `code=10000` plus their own `success` (`"true"`/`"false"`) and a `result` that is a
//! JSON **string**. All three levels are checked: `code` (by `execute`), then `success`, then `result`
//! is parsed. A `success="true"` whose `result` cannot be read is [`Outcome::Unknown`]: the pass may
//! exist, we just cannot tell which.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{json, ApiRequest};
use crate::de::{embedded_json, json_biz_api};
use crate::outcome::{Failure, Outcome, UnknownReason};

/// The raw pass response node after `code=10000`.
#[derive(Debug, Clone, Deserialize)]
pub struct PassNode {
    /// `success`: `"true"` or `"false"` (a JSON boolean is accepted too).
    #[serde(default, deserialize_with = "crate::de::opt_text")]
    pub success: Option<String>,
    /// `result`: a JSON string (an embedded object is accepted too).
    #[serde(default)]
    pub result: Option<Value>,
}

/// `result`, parsed. Field spellings seen in the wild are all accepted (`tpl_id`/`tplId`,
/// `passId`/`pass_id`, `operation`/`operate`, …).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PassResult {
    /// `tpl_id` (template APIs).
    pub tpl_id: Option<String>,
    /// `tpl_params`: the `$var$` names the template needs (template APIs).
    pub tpl_params: Vec<String>,
    /// `passId` (instance APIs).
    pub pass_id: Option<String>,
    /// `serialNumber` (instance APIs).
    pub serial_number: Option<String>,
    /// `operation` or `operate` (`ADD`, `UPDATE`, …).
    pub operation: Option<String>,
    /// `errorCode`.
    pub error_code: Option<String>,
    /// `errorMsg`.
    pub error_msg: Option<String>,
    /// The whole parsed `result`.
    pub raw: Value,
}

fn text_field(obj: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match obj.get(*n)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn names_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ (Value::Array(_) | Value::Object(_))) => names_list(Some(&inner)),
            _ => s
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect(),
        },
        _ => Vec::new(),
    }
}

impl PassResult {
    /// Reads a parsed `result` object.
    pub fn from_value(raw: Value) -> Self {
        Self {
            tpl_id: text_field(&raw, &["tpl_id", "tplId"]),
            tpl_params: names_list(raw.get("tpl_params").or_else(|| raw.get("tplParams"))),
            pass_id: text_field(&raw, &["passId", "pass_id"]),
            serial_number: text_field(&raw, &["serialNumber", "serial_number"]),
            operation: text_field(&raw, &["operation", "operate"]),
            error_code: text_field(&raw, &["errorCode", "error_code"]),
            error_msg: text_field(&raw, &["errorMsg", "error_msg"]),
            raw,
        }
    }
}

/// Checks `success` then parses `result`.
pub fn check_pass_node(node: PassNode) -> Outcome<PassResult> {
    let success = node.success.as_deref().map(str::trim) == Some("true");
    let parsed = match node.result {
        None | Some(Value::Null) => None,
        Some(v) => match embedded_json(v) {
            Ok(v @ Value::Object(_)) => Some(Ok(PassResult::from_value(v))),
            Ok(_) => Some(Err("result is not a JSON object".to_string())),
            Err(e) => Some(Err(e)),
        },
    };
    if success {
        return match parsed {
            Some(Ok(r)) => Outcome::Success(r),
            Some(Err(e)) => Outcome::Unknown(UnknownReason::Unparsable(e)),
            None => Outcome::Unknown(UnknownReason::Unparsable("success without result".into())),
        };
    }
    let (error_code, error_msg) = match parsed {
        Some(Ok(r)) => (r.error_code, r.error_msg),
        _ => (None, None),
    };
    if error_code
        .as_deref()
        .is_some_and(crate::outcome::is_throttle_sub_code)
    {
        return Outcome::Unknown(UnknownReason::Throttled {
            code: "10000".into(),
            sub_code: error_code,
        });
    }
    let system = error_code.as_deref().is_some_and(|c| {
        let c = c.to_ascii_uppercase();
        c.contains("SYSTEM_ERROR") || c.contains("UNKNOW")
    });
    if system {
        return Outcome::Unknown(UnknownReason::Platform {
            code: "10000".into(),
            sub_code: error_code,
            sub_msg: error_msg,
        });
    }
    Outcome::Failed(Failure::api(error_code, error_msg))
}

/// A created or updated template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateResult {
    /// `tpl_id`.
    pub tpl_id: String,
    /// The `$var$` names that `instance.add` must supply.
    pub tpl_params: Vec<String>,
}

fn template_result(r: PassResult) -> Outcome<TemplateResult> {
    match r.tpl_id {
        Some(tpl_id) => Outcome::Success(TemplateResult {
            tpl_id,
            tpl_params: r.tpl_params,
        }),
        None => Outcome::Unknown(UnknownReason::Unparsable("result has no tpl_id".into())),
    }
}

/// `alipay.pass.template.add`.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateAdd {
    /// `unique_id`: the merchant's uniqueness key; the platform answers an earlier `tpl_id` for a repeat.
    pub unique_id: String,
    /// `tpl_content`: `{"logo","icon","strip","content": <pass.json>}`, embedded as a JSON object
    /// exactly as given (keys are never renamed).
    pub tpl_content: Value,
}

json_biz_api!(
    TemplateAdd: "alipay.pass.template.add",
    PassNode => TemplateResult,
    |node| check_pass_node(node).and_then(template_result)
);

/// `alipay.pass.template.update`.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateUpdate {
    /// `tpl_id`.
    pub tpl_id: String,
    /// `tpl_content`, same structure as for add.
    pub tpl_content: Value,
}

json_biz_api!(
    TemplateUpdate: "alipay.pass.template.update",
    PassNode => TemplateResult,
    |node| check_pass_node(node).and_then(template_result)
);

/// How the pass's owner is identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognition {
    /// `recognition_type=2`: the UID issuance component's `userId` and `token`.
    Uid {
        /// `user_id` (2088…).
        user_id: String,
        /// `user_token`: the `token` from the mcallbackUrl query (single use).
        user_token: String,
    },
}

/// `alipay.pass.instance.add`.
#[derive(Debug, Clone)]
pub struct InstanceAdd {
    /// `tpl_id`.
    pub tpl_id: String,
    /// `tpl_params`: a JSON object of `$var$` values (`serialNumber` must be unique per template).
    pub tpl_params: serde_json::Map<String, Value>,
    /// `recognition_type` + `recognition_info`.
    pub recognition: Recognition,
}

#[derive(Serialize)]
struct InstanceAddBiz<'a> {
    tpl_id: &'a str,
    tpl_params: &'a serde_json::Map<String, Value>,
    recognition_type: &'static str,
    recognition_info: UidInfo<'a>,
}

#[derive(Serialize)]
struct UidInfo<'a> {
    user_id: &'a str,
    user_token: &'a str,
}

/// A pass as the instance APIs report it in `result`; `Id` is `String` where the `passId` is
/// required (add), `Option<String>` where the result may be sparse (update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassInstance<Id> {
    /// `passId` (feed to `my.openVoucherDetail`).
    pub pass_id: Id,
    /// `serialNumber`, when reported.
    pub serial_number: Option<String>,
    /// `operation`/`operate` (`ADD`, `UPDATE`), when reported.
    pub operation: Option<String>,
}

/// An issued pass.
pub type PassIssued = PassInstance<String>;

/// An updated pass (the result may be sparse).
pub type PassUpdated = PassInstance<Option<String>>;

impl PassUpdated {
    fn from_result(r: PassResult) -> Self {
        Self {
            pass_id: r.pass_id,
            serial_number: r.serial_number,
            operation: r.operation,
        }
    }
}

impl ApiRequest for InstanceAdd {
    const METHOD: &'static str = "alipay.pass.instance.add";
    type Response = PassNode;
    type Output = PassIssued;
    fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
        let Recognition::Uid {
            user_id,
            user_token,
        } = &self.recognition;
        json(&InstanceAddBiz {
            tpl_id: &self.tpl_id,
            tpl_params: &self.tpl_params,
            recognition_type: "2",
            recognition_info: UidInfo {
                user_id,
                user_token,
            },
        })
    }
    fn finish(node: PassNode) -> Outcome<PassIssued> {
        check_pass_node(node).and_then(|r| {
            let pass = PassUpdated::from_result(r);
            match pass.pass_id {
                Some(pass_id) => Outcome::Success(PassIssued {
                    pass_id,
                    serial_number: pass.serial_number,
                    operation: pass.operation,
                }),
                None => Outcome::Unknown(UnknownReason::Unparsable("result has no passId".into())),
            }
        })
    }
}

/// A pass status that `instance.update` can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PassStatus {
    /// `USED`.
    Used,
    /// `CLOSED`.
    Closed,
}

/// Whose pass an update is for: `user_id`, or `open_id` for apps on the open_id standard. The
/// 2023-03 API model marks both "新接入商户必填" (required for newly onboarded merchants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassHolder {
    /// `user_id` (2088…).
    UserId(String),
    /// `open_id`.
    OpenId(String),
}

/// `alipay.pass.instance.update`: the pass is named by serial **and** its user. The deprecated
/// `verify_code` / `verify_type` (历史遗留，已废弃) are never sent.
#[derive(Debug, Clone)]
pub struct InstanceUpdate {
    /// `serial_number`.
    pub serial_number: String,
    /// `channel_id` (the app id, or the merchant's when an agent issued on its behalf).
    pub channel_id: String,
    /// `user_id` or `open_id` of the pass's holder.
    pub holder: PassHolder,
    /// `tpl_params`: new `$var$` values.
    pub tpl_params: Option<serde_json::Map<String, Value>>,
    /// `status`.
    pub status: Option<PassStatus>,
}

#[derive(Serialize)]
struct UpdateBiz<'a> {
    serial_number: &'a str,
    channel_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tpl_params: Option<&'a serde_json::Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<PassStatus>,
}

impl ApiRequest for InstanceUpdate {
    const METHOD: &'static str = "alipay.pass.instance.update";
    type Response = PassNode;
    type Output = PassUpdated;
    fn biz_content(&self) -> Result<Option<String>, serde_json::Error> {
        let (user_id, open_id) = match &self.holder {
            PassHolder::UserId(u) => (Some(u.as_str()), None),
            PassHolder::OpenId(o) => (None, Some(o.as_str())),
        };
        json(&UpdateBiz {
            serial_number: &self.serial_number,
            channel_id: &self.channel_id,
            user_id,
            open_id,
            tpl_params: self.tpl_params.as_ref(),
            status: self.status,
        })
    }
    fn finish(node: PassNode) -> Outcome<PassUpdated> {
        check_pass_node(node).map(PassUpdated::from_result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureKind;

    fn vector(id: &str) -> Value {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/sign_cases.json"
        ))
        .unwrap();
        let all: Value = serde_json::from_str(&text).unwrap();
        all["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    }

    fn reference_biz(case: &Value) -> String {
        let sts = case["reference_java_rules"]["string_to_sign"]
            .as_str()
            .unwrap();
        let start = sts.find("biz_content=").unwrap() + "biz_content=".len();
        let end = sts.find("&charset=").unwrap();
        sts[start..end].to_string()
    }

    #[test]
    fn instance_update_names_the_holder_and_no_deprecated_field() {
        let mut req = InstanceUpdate {
            serial_number: "S1".into(),
            channel_id: "2021000000000001".into(),
            holder: PassHolder::UserId("2088000000000001".into()),
            tpl_params: None,
            status: Some(PassStatus::Used),
        };
        assert_eq!(
            req.biz_content().unwrap().unwrap(),
            r#"{"serial_number":"S1","channel_id":"2021000000000001","user_id":"2088000000000001","status":"USED"}"#
        );
        req.holder = PassHolder::OpenId("074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5".into());
        let biz = req.biz_content().unwrap().unwrap();
        assert!(biz.contains(r#""open_id":"074a1"#), "{biz}");
        assert!(
            !biz.contains("user_id") && !biz.contains("verify_"),
            "{biz}"
        );
    }

    #[test]
    fn template_add_biz_content_matches_the_vector() {
        let case = vector("pass_template_add_object");
        let req = TemplateAdd {
            unique_id: case["biz_content"]["unique_id"].as_str().unwrap().into(),
            tpl_content: case["biz_content"]["tpl_content"].clone(),
        };
        assert_eq!(req.biz_content().unwrap().unwrap(), reference_biz(&case));
    }

    #[test]
    fn instance_add_biz_content_matches_the_vector() {
        let case = vector("pass_instance_add");
        let biz = &case["biz_content"];
        let req = InstanceAdd {
            tpl_id: biz["tpl_id"].as_str().unwrap().into(),
            tpl_params: biz["tpl_params"].as_object().unwrap().clone(),
            recognition: Recognition::Uid {
                user_id: biz["recognition_info"]["user_id"].as_str().unwrap().into(),
                user_token: biz["recognition_info"]["user_token"]
                    .as_str()
                    .unwrap()
                    .into(),
            },
        };
        assert_eq!(req.biz_content().unwrap().unwrap(), reference_biz(&case));
    }

    fn node(json_text: &str) -> PassNode {
        serde_json::from_str(json_text).unwrap()
    }

    #[test]
    fn three_levels_are_checked() {
        let ok = node(
            r#"{"success":"true","result":"{\"passId\":\"P1\",\"serialNumber\":\"S1\",\"operation\":\"ADD\"}"}"#,
        );
        assert_eq!(
            InstanceAdd::finish(ok),
            Outcome::Success(PassIssued {
                pass_id: "P1".into(),
                serial_number: Some("S1".into()),
                operation: Some("ADD".into())
            })
        );
        let failed = node(
            r#"{"success":"false","result":"{\"errorCode\":\"USER_TOKEN_INVALID\",\"errorMsg\":\"bad\"}"}"#,
        );
        match InstanceAdd::finish(failed) {
            Outcome::Failed(f) => {
                assert_eq!(f.kind, FailureKind::Api);
                assert_eq!(f.error_code.as_deref(), Some("USER_TOKEN_INVALID"));
                assert_eq!(f.error_msg.as_deref(), Some("bad"));
            }
            other => panic!("{other:?}"),
        }
        let garbled = node(r#"{"success":"true","result":"{not json"}"#);
        assert!(matches!(
            InstanceAdd::finish(garbled),
            Outcome::Unknown(UnknownReason::Unparsable(_))
        ));
        let no_pass = node(r#"{"success":true,"result":{"serialNumber":"S"}}"#);
        assert!(matches!(InstanceAdd::finish(no_pass), Outcome::Unknown(_)));
        let system = node(r#"{"success":"false","result":"{\"errorCode\":\"SYSTEM_ERROR\"}"}"#);
        assert!(matches!(
            InstanceAdd::finish(system),
            Outcome::Unknown(UnknownReason::Platform { .. })
        ));
    }

    #[test]
    fn operate_and_tpl_params_spellings() {
        let r = PassResult::from_value(
            serde_json::json!({"operate":"UPDATE","tpl_params":"[\"a\",\"b\"]","tplId":"T"}),
        );
        assert_eq!(r.operation.as_deref(), Some("UPDATE"));
        assert_eq!(r.tpl_params, ["a", "b"]);
        assert_eq!(r.tpl_id.as_deref(), Some("T"));
        let r = PassResult::from_value(serde_json::json!({"tpl_params":{"x":"","y":""}}));
        assert_eq!(r.tpl_params, ["x", "y"]);
    }
}
