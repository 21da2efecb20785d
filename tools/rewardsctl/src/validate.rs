//! `template validate FILE`: the server's own rules (`rewards_core::template_body` and
//! `rewards_core::template::validate_template`), offline, with every problem at its JSON path,
//! its line and column in the file, and what to change. The same locating is used for the
//! `errors` of an `invalid_template` problem the server answers to `template create|update`.

use crate::spans::Spans;
use rewards_core::template::{TemplateIssue, TemplatePolicy};
use rewards_core::template_body::{split_template_body, TemplateBody};
use serde::Serialize;
use serde_json::Value;

/// One problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Located {
    /// The JSON pointer in the file as written (a bare pass.json has no `/content`).
    pub pointer: String,
    /// The pointer in the template content, as the server reports it.
    pub tpl_pointer: String,
    /// 1-based line of the value, or of its nearest existing parent when the field is missing.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// The rule's stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What to change.
    pub fix: String,
}

/// What reading a template file gave.
pub enum FileCheck {
    /// Not JSON, or not a template body at all: one problem, where the parser stopped.
    Unreadable(Located),
    /// The body, its issues (empty when valid) located in the text.
    Checked {
        /// The split body.
        body: TemplateBody,
        /// Every issue.
        issues: Vec<Located>,
    },
}

/// What to change for an issue, from its stable code (the message says what is wrong).
pub fn fix_for(issue: &TemplateIssue, policy: Option<&TemplatePolicy>) -> String {
    let field = issue
        .pointer
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .replace("~1", "/")
        .replace("~0", "~");
    match issue.code.as_str() {
        "required" => format!("add \"{field}\" to this object"),
        "wrong_type" => format!("change \"{field}\" to the type named"),
        "empty" => format!("give \"{field}\" a value"),
        "not_a_variable" => "write exactly one variable, e.g. \"$serialNumber$\"".into(),
        "callback_mismatch" => match policy {
            Some(p) => format!("set it to \"{}\"", p.callback_url),
            None => "set it to this deployment's <PublicBaseUrl>/alipay/pass-callback".into(),
        },
        "bad_date" => "write \"yyyy-MM-dd HH:mm:ss\" (Beijing time) or a $variable$ such as \"$activeTime$\"".into(),
        "bad_url" => "write an http(s) URL".into(),
        "too_large" => "shrink the template below 65000 bytes (shorter texts, fewer fields)".into(),
        "missing_rule" => format!(
            "add \"paramRules\": {{\"{field}\": {{\"kind\": \"fixed\", \"value\": \"…\"}}}} (or now, nowPlus, serial, userId, appId)"
        ),
        "unknown_variable" => format!("remove paramRules.{field}, or use ${field}$ in the template"),
        "bad_rule" => "correct the rule as the message says".into(),
        _ => "see the message".into(),
    }
}

/// Locates issues (pointers into the template content) in the file text.
pub fn locate(
    body: &TemplateBody,
    spans: &Spans,
    issues: &[TemplateIssue],
    policy: Option<&TemplatePolicy>,
) -> Vec<Located> {
    issues
        .iter()
        .map(|issue| {
            let pointer = body.body_pointer(&issue.pointer);
            let at = spans.locate(&pointer).map(|(p, _)| p);
            Located {
                tpl_pointer: issue.pointer.clone(),
                line: at.map(|p| p.line),
                column: at.map(|p| p.column),
                code: issue.code.clone(),
                message: issue.message.clone(),
                fix: fix_for(issue, policy),
                pointer,
            }
        })
        .collect()
}

/// Parses and validates a template file's text with the server's rules.
pub fn check_text(text: &str, policy: &TemplatePolicy) -> FileCheck {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return FileCheck::Unreadable(Located {
                pointer: String::new(),
                tpl_pointer: String::new(),
                line: Some(e.line()),
                column: Some(e.column()),
                code: "not_json".into(),
                message: format!("not valid JSON: {e}"),
                fix: "correct the JSON syntax at this place".into(),
            })
        }
    };
    let body = match split_template_body(value) {
        Ok(b) => b,
        Err(e) => {
            return FileCheck::Unreadable(Located {
                pointer: String::new(),
                tpl_pointer: String::new(),
                line: Some(1),
                column: Some(1),
                code: rewards_core::DomainError::code(&e).into(),
                message: e.to_string(),
                fix: "write a pass.json object, or {\"logo\",\"content\": <pass.json>}, with optional \"paramRules\"".into(),
            })
        }
    };
    let spans = Spans::of(text);
    let issues = match body.validate(policy) {
        Ok(()) => Vec::new(),
        Err(issues) => locate(&body, &spans, &issues, Some(policy)),
    };
    FileCheck::Checked { body, issues }
}

/// `FILE:LINE:COLUMN: POINTER CODE: MESSAGE; FIX`, the form editors and terminals link.
pub fn render(file: &str, issue: &Located) -> String {
    let place = match (issue.line, issue.column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        _ => file.to_owned(),
    };
    let pointer = if issue.pointer.is_empty() {
        "(document)"
    } else {
        &issue.pointer
    };
    format!(
        "{place}: {pointer} {}: {}; fix: {}",
        issue.code, issue.message, issue.fix
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TemplatePolicy {
        TemplatePolicy {
            callback_url: "http://127.0.0.1:3000/alipay/pass-callback".into(),
            default_logo: None,
        }
    }

    fn seed() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../infra/local-stack/fixtures/pass.json"
        ))
        .unwrap()
    }

    fn issues(text: &str) -> Vec<Located> {
        match check_text(text, &policy()) {
            FileCheck::Checked { issues, .. } => issues,
            FileCheck::Unreadable(one) => vec![one],
        }
    }

    #[test]
    fn the_seed_template_is_valid() {
        assert_eq!(issues(&seed()), vec![]);
    }

    #[test]
    fn a_missing_field_is_shown_at_its_parent_with_the_fix() {
        let text = seed().replace("    \"title\": \"新人专享券\",\n", "");
        let found = issues(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        let i = &found[0];
        assert_eq!(i.pointer, "/evoucherInfo/title");
        assert_eq!(i.tpl_pointer, "/content/evoucherInfo/title");
        assert_eq!((i.line, i.column), (Some(4), Some(19)));
        assert_eq!(i.code, "required");
        assert_eq!(i.fix, "add \"title\" to this object");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = seed()
            .replace("\"$serialNumber$\"", "\"SN-1\"")
            .replace(
                "http://127.0.0.1:3000/alipay/pass-callback",
                "https://elsewhere.example/cb",
            )
            .replace(
                "\"startDate\": \"$activeTime$\"",
                "\"startDate\": \"tomorrow\"",
            );
        let found = issues(&text);
        let summary: Vec<(String, String, Option<usize>)> = found
            .iter()
            .map(|i| (i.pointer.clone(), i.code.clone(), i.line))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("/evoucherInfo/startDate".into(), "bad_date".into(), Some(8)),
                (
                    "/merchant/mcallbackUrl".into(),
                    "callback_mismatch".into(),
                    Some(38)
                ),
                (
                    "/fileInfo/serialNumber".into(),
                    "not_a_variable".into(),
                    Some(51)
                ),
            ]
        );
        assert!(found[1]
            .fix
            .contains("http://127.0.0.1:3000/alipay/pass-callback"));
    }

    #[test]
    fn syntax_errors_and_non_objects_are_located() {
        let found = issues("{\n  \"logo\": \"x\",\n}");
        assert_eq!(found[0].code, "not_json");
        assert_eq!(found[0].line, Some(3));
        let found = issues("[1]");
        assert_eq!(found[0].code, "body_invalid");
    }

    #[test]
    fn rules_are_located_under_param_rules() {
        let text = seed().replacen(
            "{\n",
            "{\n  \"paramRules\": {\"nope\": {\"kind\": \"fixed\", \"value\": \"x\"}},\n",
            1,
        );
        let found = issues(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pointer, "/paramRules/nope");
        assert_eq!(found[0].code, "unknown_variable");
        assert_eq!((found[0].line, found[0].column), (Some(2), Some(26)));
        assert!(render("p.json", &found[0])
            .starts_with("p.json:2:26: /paramRules/nope unknown_variable: "));
    }
}
