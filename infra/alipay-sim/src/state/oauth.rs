//! `alipay.system.oauth.token` and the auth codes the simulated user hands out.

use serde_json::json;
use time::OffsetDateTime;

use super::helpers::{beijing, is_user_id};
use super::{Biz, Reply, State};

impl State {
    /// Mints a single-use auth code for `user_id`.
    pub fn mint_auth_code(&mut self, user_id: &str) -> String {
        let code = self.token_text("code_", user_id);
        self.auth_codes.insert(code.clone(), user_id.to_string());
        self.open_id_for(user_id);
        code
    }

    /// `alipay.system.oauth.token` (parameters are top-level, not in biz_content).
    pub fn oauth_token(&mut self, params: &Biz, now: OffsetDateTime) -> Reply {
        let grant = params.text("grant_type");
        let user_id = match grant.as_deref() {
            Some("authorization_code") => {
                let Some(code) = params.text("code") else {
                    return Reply::gateway("40002", "isv.code-invalid", "授权码code无效");
                };
                if let Some(u) = self.auth_codes.remove(&code) {
                    u
                } else if let Some(u) = code.strip_prefix("sim_code_").filter(|u| is_user_id(u)) {
                    u.to_string()
                } else {
                    return Reply::gateway("40002", "isv.code-invalid", "授权码code无效");
                }
            }
            Some("refresh_token") => {
                match params
                    .text("refresh_token")
                    .and_then(|t| self.refresh_tokens.get(&t))
                {
                    Some(u) => u.clone(),
                    None => {
                        return Reply::gateway(
                            "40002",
                            "isv.refresh-token-invalid",
                            "刷新令牌refresh_token无效",
                        )
                    }
                }
            }
            _ => return Reply::gateway("40002", "isv.grant-type-invalid", "不支持的grant_type"),
        };
        let open_id = self.open_id_for(&user_id);
        let access_token = self.token_text("authusrB", &user_id);
        let refresh_token = self.token_text("authusrR", &user_id);
        self.refresh_tokens
            .insert(refresh_token.clone(), user_id.clone());
        Reply::ok(json!({
            "user_id": user_id,
            "open_id": open_id,
            "access_token": access_token,
            "expires_in": 1_296_000,
            "refresh_token": refresh_token,
            "re_expires_in": 2_592_000,
            "auth_start": beijing(now),
        }))
    }
}
