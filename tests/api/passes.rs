//! Passes end to end: template creator, claim callback, pass store, tunnel reader.
use integration_tests::{new_user_id, TestApp};
use serde_json::json;

#[tokio::test]
async fn a_claimed_pass_is_stored_by_user_and_read_back() {
    let app = TestApp::new();
    let tpl = app.create_template("新人专享券").await;
    let user = new_user_id();
    let claim = app.claim(&tpl, &user).await;
    assert_eq!(claim.status, 200, "{claim:?}");
    let answer = &claim.body["body"];
    assert_eq!(answer["success"], true, "{claim:?}");
    let pass_id = answer["passId"].as_str().unwrap().to_string();
    assert!(answer["serialNumber"].as_str().is_some());

    let listed = app.get(&format!("/passes/{pass_id}")).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["userId"], json!(user));
}
