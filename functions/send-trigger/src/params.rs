//! The path and query parameters of the envelope and payout routes.
use lambda_http::Request;
use lambda_http_kit::{path_param, query_param, Problem};
use rewards_core::ids::{OpenId, OutBizNo, UserId};
use rewards_core::payout::{ListInput, Recipient};

pub fn out_biz_no(req: &Request) -> Result<OutBizNo, Problem> {
    OutBizNo::parse(&path_param(req, "outBizNo")?)
        .map_err(|e| Problem::bad_request("invalid_out_biz_no", e.to_string()))
}

pub fn recipient(req: &Request) -> Result<Recipient, Problem> {
    let text = path_param(req, "userId")?;
    Ok(match UserId::parse(&text) {
        Ok(u) => Recipient::UserId(u),
        Err(_) => Recipient::OpenId(
            OpenId::parse(&text)
                .map_err(|e| Problem::bad_request("invalid_user_id", e.to_string()))?,
        ),
    })
}

pub fn list_input(req: &Request) -> ListInput {
    let q = |name| query_param(req, name);
    ListInput {
        state: q("state"),
        crowd_no: q("crowdNo"),
        reason: q("reason"),
        rail: q("rail"),
        day: q("day"),
        cursor: q("cursor"),
        limit: q("limit"),
    }
}
