//! Schedule events (EventBridge): which plan, which slot, and running the slot to a campaign.

use super::*;
use serde_json::Value;

/// A schedule event read: the plan and the slot it fires for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleEvent {
    /// The plan, as validated.
    pub plan: SchedulePlan,
    /// The slot: the event's own `slot`, else the Beijing date of its `scheduledTime` (or `time`),
    /// else of now (a hand-fired event).
    pub slot: String,
}

/// Why a schedule event cannot run (the invocation fails and dead-letters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadScheduleEvent(String);

/// The plan as an operator writes it in `template.yaml` (yuan strings, days).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanInput {
    name: String,
    coupon_name: String,
    prize_type: PrizeType,
    total_money: String,
    total_num: u32,
    prize_msg: String,
    #[serde(default)]
    duration_days: Option<u32>,
    #[serde(default)]
    duration_hours: Option<u32>,
    merchant_link: String,
    #[serde(default)]
    send_frequency: Option<String>,
}

/// A plan without a duration lasts a week.
const DEFAULT_DURATION_HOURS: u32 = 7 * 24;

impl ScheduleEvent {
    /// Reads `{"kind":"campaign-plan","scheduledTime"?,"time"?,"slot"?,"plan":{…}}`.
    ///
    /// # Errors
    /// [`BadScheduleEvent`] when the plan is missing or invalid.
    pub fn from_json(event: &Value, now: Timestamp) -> Result<Self, BadScheduleEvent> {
        Ok(Self {
            plan: plan_of(event)?,
            slot: slot_of(event, now),
        })
    }
}

fn slot_of(event: &Value, now: Timestamp) -> String {
    if let Some(slot) = event.get("slot").and_then(Value::as_str) {
        return slot.to_string();
    }
    let at = event
        .get("scheduledTime")
        .or_else(|| event.get("time"))
        .and_then(Value::as_str)
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)))
        .unwrap_or(now);
    at.beijing_date()
}

fn plan_of(event: &Value) -> Result<SchedulePlan, BadScheduleEvent> {
    let bad = |text: String| BadScheduleEvent(text);
    let input: PlanInput =
        serde_json::from_value(event.get("plan").cloned().unwrap_or(Value::Null))
            .map_err(|e| bad(format!("schedule event has no valid plan: {e}")))?;
    Ok(SchedulePlan {
        plan_id: input.name,
        coupon_name: input.coupon_name,
        prize_type: input.prize_type,
        total_money: AmountFen::parse_yuan(&input.total_money)
            .map_err(|e| bad(format!("plan.totalMoney: {e}")))?,
        total_num: input.total_num,
        prize_msg: input.prize_msg,
        duration_hours: input
            .duration_hours
            .or(input.duration_days.map(|d| d.saturating_mul(24)))
            .unwrap_or(DEFAULT_DURATION_HOURS),
        merchant_link: input.merchant_link,
        send_frequency: input
            .send_frequency
            .map(|f| SendFrequency::parse(&f).map_err(|e| bad(format!("plan.sendFrequency: {e}"))))
            .transpose()?,
    })
}

impl CampaignService {
    /// Runs a schedule slot to its campaign, however often the event is delivered. When an earlier
    /// create's answer was lost ([`CampaignError::SlotUnknown`]) the campaign is looked up by the
    /// slot's coupon name (`list.query`): found → recorded; none → the slot is freed and created
    /// now; several → left for a person (an error, so the invocation fails and dead-letters).
    ///
    /// # Errors
    /// [`CampaignError`].
    #[tracing::instrument(skip_all, fields(plan_id = %plan.plan_id, slot = %slot))]
    pub async fn run_slot(
        &self,
        plan: &SchedulePlan,
        slot: &str,
    ) -> Result<SlotOutcome, CampaignError> {
        match self.create_for_slot(plan, slot).await {
            Err(CampaignError::SlotUnknown) => match self.reconcile_slot(plan, slot).await? {
                Some(c) => Ok(SlotOutcome::AlreadyCreated(c)),
                None => self.create_for_slot(plan, slot).await,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn plan() -> Value {
        json!({"name": "weekly", "couponName": "Weekly", "prizeType": "fixed", "totalMoney": "10.00",
               "totalNum": 5, "prizeMsg": "hi", "merchantLink": "https://example.com"})
    }

    #[test]
    fn the_slot_is_the_beijing_date_of_the_scheduled_time() {
        let now = Timestamp(0);
        let at = |event: Value| ScheduleEvent::from_json(&event, now).unwrap().slot;
        // 17:00 UTC is the next day in Beijing.
        let evening = json!({"scheduledTime": "2024-03-04T17:00:00Z", "plan": plan()});
        assert_eq!(at(evening), "2024-03-05");
        assert_eq!(
            at(json!({"time": "2024-03-04T01:00:00Z", "plan": plan()})),
            "2024-03-04"
        );
        assert_eq!(at(json!({"slot": "manual-1", "plan": plan()})), "manual-1");
        // Hand-fired (or unreadable time): the date of now.
        assert_eq!(at(json!({"plan": plan()})), "1970-01-01");
        assert_eq!(
            at(json!({"time": "yesterday", "plan": plan()})),
            "1970-01-01"
        );
    }

    #[test]
    fn plans_are_read_in_yuan_and_days() {
        let read = |p: Value| ScheduleEvent::from_json(&json!({ "plan": p }), Timestamp(0));
        let e = read(plan()).unwrap();
        assert_eq!(e.plan.total_money, AmountFen::parse_yuan("10").unwrap());
        assert_eq!(e.plan.duration_hours, 7 * 24);
        let mut days = plan();
        days["durationDays"] = json!(2);
        assert_eq!(read(days.clone()).unwrap().plan.duration_hours, 48);
        days["durationHours"] = json!(5);
        assert_eq!(
            read(days).unwrap().plan.duration_hours,
            5,
            "hours win over days"
        );
        let mut bad = plan();
        bad["totalMoney"] = json!("ten");
        assert!(read(bad)
            .unwrap_err()
            .to_string()
            .starts_with("plan.totalMoney"));
        let no_plan = ScheduleEvent::from_json(&json!({}), Timestamp(0)).unwrap_err();
        assert!(no_plan
            .to_string()
            .starts_with("schedule event has no valid plan"));
    }
}
