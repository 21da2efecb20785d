//! The operator's view of the ledger: listing filters, an opaque page cursor, and the counts of
//! unresolved entries behind the alarm.

use crate::ids::{CrowdNo, OutBizNo};
use crate::payout::entry::{PayoutEntry, PayoutStateName};
use crate::payout::error::SendError;
use crate::payout::rail::RailName;
use crate::payout::reason::Reason;
use crate::time::{BadDate, Timestamp};

/// What the operator's listing keeps (every field optional; all given fields must match).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutFilter {
    /// Only this state.
    pub state: Option<PayoutStateName>,
    /// Only this campaign.
    pub crowd_no: Option<CrowdNo>,
    /// Only this reason.
    pub reason: Option<Reason>,
    /// Only this rail.
    pub rail: Option<RailName>,
    /// Only entries created within `[from, until)` (a Beijing calendar day).
    pub created: Option<(Timestamp, Timestamp)>,
}

impl PayoutFilter {
    /// True when `e` passes every given condition.
    pub fn matches(&self, e: &PayoutEntry) -> bool {
        self.state.is_none_or(|s| e.state.kind() == s)
            && self
                .crowd_no
                .as_ref()
                .is_none_or(|c| e.rail.crowd_no() == Some(c))
            && self.reason.is_none_or(|r| e.reason == r)
            && self.rail.is_none_or(|r| e.rail.name() == r)
            && self
                .created
                .is_none_or(|(from, until)| e.created_at >= from && e.created_at < until)
    }
}

/// `[start, end)` of a Beijing calendar day `yyyy-MM-dd`.
///
/// # Errors
/// [`BadDate`] when the text is not a real date in that form.
pub fn beijing_day(text: &str) -> Result<(Timestamp, Timestamp), BadDate> {
    if text.len() != 10 {
        return Err(BadDate);
    }
    let start = Timestamp::parse_beijing(&format!("{text} 00:00:00"))?;
    Ok((start, start.plus_hours(24)))
}

/// Where the next page starts: the last entry of the previous page (newest-first order is
/// `(created_at, out_biz_no)` descending). On the wire it is the opaque text
/// `{13-digit createdAt}.{outBizNo}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutCursor {
    /// The last entry's creation time.
    pub created_at: Timestamp,
    /// The last entry's number.
    pub out_biz_no: OutBizNo,
}

impl PayoutCursor {
    /// The cursor after `e`.
    pub fn after(e: &PayoutEntry) -> Self {
        PayoutCursor {
            created_at: e.created_at,
            out_biz_no: e.out_biz_no.clone(),
        }
    }

    /// The wire text.
    pub fn encode(&self) -> String {
        format!(
            "{:013}.{}",
            self.created_at.millis().max(0),
            self.out_biz_no
        )
    }

    /// Parses the wire text.
    pub fn parse(text: &str) -> Option<Self> {
        let (at, no) = text.split_once('.')?;
        if at.len() != 13 || !at.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(PayoutCursor {
            created_at: Timestamp(at.parse().ok()?),
            out_biz_no: OutBizNo::parse(no).ok()?,
        })
    }
}

/// The query of `GET /payouts` (untrusted text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListInput {
    /// A wire state name.
    pub state: Option<String>,
    /// A campaign.
    pub crowd_no: Option<String>,
    /// `points_exchange` | `referral`.
    pub reason: Option<String>,
    /// `campaign` | `transfer`.
    pub rail: Option<String>,
    /// `yyyy-MM-dd`, Beijing time.
    pub day: Option<String>,
    /// From the previous page's `nextCursor`.
    pub cursor: Option<String>,
    /// Page size, 1–100 (default 50).
    pub limit: Option<String>,
}

/// A validated listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    /// What to keep.
    pub filter: PayoutFilter,
    /// Where to start.
    pub cursor: Option<PayoutCursor>,
    /// Page size.
    pub limit: usize,
}

impl ListInput {
    /// Parses every parameter.
    ///
    /// # Errors
    /// [`SendError::BadInput`] naming the parameter.
    pub fn validate(&self) -> Result<ListRequest, SendError> {
        let bad = |field| SendError::BadInput {
            field,
            source: None,
        };
        let state = match &self.state {
            Some(s) => Some(PayoutStateName::parse(s).ok_or(bad("state"))?),
            None => None,
        };
        let crowd_no = match &self.crowd_no {
            Some(c) => Some(CrowdNo::parse(c).map_err(|e| SendError::BadInput {
                field: "crowdNo",
                source: Some(e),
            })?),
            None => None,
        };
        let reason = match &self.reason {
            Some(r) => Some(Reason::parse(r).ok_or(bad("reason"))?),
            None => None,
        };
        let rail = match &self.rail {
            Some(r) => Some(RailName::parse(r).ok_or(bad("rail"))?),
            None => None,
        };
        let created = match &self.day {
            Some(d) => Some(beijing_day(d).map_err(|_| bad("day"))?),
            None => None,
        };
        let cursor = match &self.cursor {
            Some(c) => Some(PayoutCursor::parse(c).ok_or(bad("cursor"))?),
            None => None,
        };
        let limit = match &self.limit {
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or(bad("limit"))?,
            None => 50,
        };
        Ok(ListRequest {
            filter: PayoutFilter {
                state,
                crowd_no,
                reason,
                rail,
                created,
            },
            cursor,
            limit,
        })
    }
}

/// One page of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayoutPage {
    /// Newest first.
    pub entries: Vec<PayoutEntry>,
    /// Present when more entries may follow.
    pub next: Option<PayoutCursor>,
}

/// Unresolved entries in the ledger (the metric behind the alarm).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnresolvedCounts {
    /// PENDING, UNKNOWN or NEEDS_ATTENTION.
    pub unresolved: usize,
    /// Of those, NEEDS_ATTENTION.
    pub needs_attention: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn state_names_round_trip() {
        for s in PayoutStateName::ALL {
            assert_eq!(PayoutStateName::parse(s.as_str()), Some(s));
        }
        assert_eq!(PayoutStateName::parse("SETTLED"), None);
        assert_eq!(PayoutStateName::parse("sent"), None);
    }

    #[test]
    fn a_beijing_day_is_24_hours_from_local_midnight() {
        let (from, until) = beijing_day("2026-11-29").unwrap();
        assert_eq!(from.to_beijing(), "2026-11-29 00:00:00");
        assert_eq!(until.to_beijing(), "2026-11-30 00:00:00");
        assert!(beijing_day("2026-02-30").is_err());
        assert!(beijing_day("2026-11-29 00:00:00").is_err());
        assert!(beijing_day("").is_err());
    }

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let c = PayoutCursor {
            created_at: Timestamp(1_764_000_000_000),
            out_biz_no: OutBizNo::parse("pe2_ab").unwrap(),
        };
        assert_eq!(PayoutCursor::parse(&c.encode()), Some(c));
        for bad in [
            "",
            ".",
            "1.pe_a",
            "abcdefghijklm.pe_a",
            "1764000000000.",
            "1764000000000.a#b",
        ] {
            assert_eq!(PayoutCursor::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn list_input_names_the_bad_parameter() {
        use crate::error::DomainError;
        let ok = ListInput {
            state: Some("NEEDS_ATTENTION".into()),
            crowd_no: Some("C1".into()),
            reason: Some("referral".into()),
            rail: Some("transfer".into()),
            day: Some("2026-11-29".into()),
            cursor: Some("1764000000000.pe_a".into()),
            limit: Some("10".into()),
        }
        .validate()
        .unwrap();
        assert_eq!(ok.limit, 10);
        assert_eq!(ok.filter.state, Some(PayoutStateName::NeedsAttention));
        assert_eq!(ListInput::default().validate().unwrap().limit, 50);
        // The default input with one parameter set wrong is refused with that parameter's code.
        let refused = |set: &dyn Fn(&mut ListInput), want: &str| {
            let mut input = ListInput::default();
            set(&mut input);
            assert_eq!(input.validate().unwrap_err().code(), want, "{input:?}");
        };
        refused(&|i| i.state = Some("settled".into()), "invalid_state");
        refused(&|i| i.crowd_no = Some("a#b".into()), "invalid_crowd_no");
        refused(&|i| i.reason = Some("gift".into()), "invalid_reason");
        refused(&|i| i.day = Some("2026-13-01".into()), "invalid_day");
        refused(&|i| i.cursor = Some("x".into()), "invalid_cursor");
        for limit in ["0", "101", "-1", "ten"] {
            refused(&|i| i.limit = Some(limit.into()), "invalid_limit");
        }
    }

    proptest! {
        #[test]
        fn cursor_parser_never_panics(text in ".{0,80}") {
            let _ = PayoutCursor::parse(&text);
        }

        #[test]
        fn list_input_never_panics(
            state in ".{0,20}", crowd in ".{0,20}", day in ".{0,12}", cursor in ".{0,30}", limit in ".{0,5}"
        ) {
            let _ = ListInput {
                state: Some(state), crowd_no: Some(crowd), reason: None, rail: None, day: Some(day),
                cursor: Some(cursor), limit: Some(limit),
            }.validate();
        }
    }
}
