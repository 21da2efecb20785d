//! Pass templates as merchants bring them: a hosted platform's pass.json without a logo, the serial
//! rule that must stay the claim's own, the per-user limit.
use integration_tests::{root, TestApp, DEFAULT_LOGO};
use serde_json::{json, Value};

/// The template of the product brief: the pass.json a merchant posts to a hosted pass platform today
/// (`evoucherInfo`, `merchant`, `fileInfo`, `platform`, `style`), no logo beside it.
fn hosted_platform_pass(app: &TestApp, title: &str) -> Value {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/hosted-platform-pass.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["merchant"]["mcallbackUrl"] = json!(format!("{}/alipay/pass-callback", app.api));
    v["evoucherInfo"]["title"] = json!(title);
    v
}

#[tokio::test]
async fn a_hosted_platform_pass_json_without_a_logo_is_accepted_with_the_deployment_logo() {
    let app = TestApp::new();
    let brief = hosted_platform_pass(&app, "托管平台券");
    assert!(brief.get("logo").is_none() && brief.get("icon").is_none());
    let created = app.post("/templates", &brief).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["template"]["tplContent"]["logo"], DEFAULT_LOGO);
    assert_eq!(created.body["perUserLimit"], 1);
    // Alipay received the logo too, and the template issues passes.
    let tpl = created.body["templateId"].as_str().unwrap();
    let sim = app.sim_get("/sim/templates").await;
    let at_alipay = sim.body.as_array().cloned().unwrap_or_else(|| {
        sim.body["templates"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    });
    let stored = at_alipay
        .iter()
        .find(|t| t["tpl_id"] == json!(tpl))
        .unwrap();
    assert_eq!(stored["tpl_content"]["logo"], DEFAULT_LOGO);
    let claim = app.claim(tpl, &integration_tests::new_user_id()).await;
    assert_eq!(claim.body["body"]["success"], true, "{claim:?}");
    // The merchant's own logo (or icon) is kept when given.
    let mut own = hosted_platform_pass(&app, "自带图标券");
    own["icon"] = json!("https://merchant.example/icon.png");
    let created = app.post("/templates", &own).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        created.body["template"]["tplContent"]["logo"],
        "https://merchant.example/icon.png"
    );
}

#[tokio::test]
async fn a_serial_number_rule_other_than_the_claim_serial_is_refused() {
    let app = TestApp::new();
    for rule in [
        json!({"kind": "userId"}),
        json!({"kind": "fixed", "value": "SN-1"}),
        json!({"kind": "now"}),
    ] {
        let mut body = app.pass_template("序列号规则券");
        body["paramRules"] = json!({"serialNumber": rule});
        let refused = app.post("/templates", &body).await;
        assert_eq!(refused.status, 400, "{rule}: {refused:?}");
        assert_eq!(refused.content_type, "application/problem+json");
        assert_eq!(refused.body["code"], "invalid_template");
        assert!(
            refused
                .has_issue(|e| e["pointer"] == "/rules/serialNumber" && e["code"] == "serial_rule"),
            "{rule}: {refused:?}"
        );
    }
    let mut body = app.pass_template("序列号规则券");
    body["paramRules"] = json!({"serialNumber": {"kind": "serial"}});
    assert_eq!(app.post("/templates", &body).await.status, 201);
}

#[tokio::test]
async fn per_user_limit_is_stored_and_bounded() {
    let app = TestApp::new();
    let mut body = app.pass_template("限领三张券");
    body["perUserLimit"] = json!(3);
    let created = app.post("/templates", &body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["perUserLimit"], 3);
    let tpl = created.body["templateId"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/templates/{tpl}")).await.body["perUserLimit"],
        3
    );
    for bad in [json!(0), json!(101), json!(-1), json!("2"), json!(1.5)] {
        let mut body = app.pass_template("限领坏值券");
        body["perUserLimit"] = bad.clone();
        let refused = app.post("/templates", &body).await;
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
        assert!(
            ["invalid_template", "invalid_per_user_limit"]
                .contains(&refused.body["code"].as_str().unwrap()),
            "{bad}: {refused:?}"
        );
    }
}
