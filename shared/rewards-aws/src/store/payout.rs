//! The payout ledger: business pointers (`BIZ#{reason}#{businessId}` / `META` with
//! `attempt_no`), payouts (`PAYOUT#{outBizNo}` / `META` with `fence`, `state`; gsi1 by recipient,
//! gsi2 `PAYOUTS` for the operator's listing) and due markers (`DUE#PAYOUT` / `{outBizNo}` with
//! `due_at`, `state`, present while unresolved), kept in step by transactions.

use super::item::{
    attr_s, build_err, decode, item, n, put_when, s, ts, unavailable, Item, TxFailure, META,
    PLACEHOLDER_TABLE,
};
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use rewards_core::ids::{BusinessId, OutBizNo};
use rewards_core::payout::{
    BizPointer, ListRequest, PayoutCursor, PayoutEntry, PayoutFilter, PayoutPage, PayoutStateName,
    RailName, Reason, Recipient, UnresolvedCounts,
};
use rewards_core::ports::{CasOutcome, PayoutStore};
use rewards_core::{StoreError, Timestamp};
use std::collections::HashMap;

const DUE_PK: &str = "DUE#PAYOUT";
/// The `gsi2` partition of every payout entry (the operator's listing, newest first).
const PAYOUTS_PK: &str = "PAYOUTS";

fn payout_pk(o: &OutBizNo) -> String {
    format!("PAYOUT#{o}")
}

fn pointer_pk(reason: Reason, b: &BusinessId) -> String {
    format!("BIZ#{}#{}", reason.as_str(), b)
}

fn payout_item(e: &PayoutEntry) -> Result<Item, StoreError> {
    let mut it = item(payout_pk(&e.out_biz_no), META.into(), e)?;
    it.insert("fence".into(), s(e.fence.clone()));
    it.insert("state".into(), s(e.state.name()));
    it.insert("gsi1pk".into(), s(e.recipient.index_key()));
    it.insert(
        "gsi1sk".into(),
        s(format!("PAYOUT#{}#{}", ts(e.created_at), e.out_biz_no)),
    );
    it.insert("gsi2pk".into(), s(PAYOUTS_PK));
    it.insert(
        "gsi2sk".into(),
        s(payout_listing_key(e.created_at, &e.out_biz_no)),
    );
    if let Some(crowd_no) = e.rail.crowd_no() {
        it.insert("crowd_no".into(), s(crowd_no.to_string()));
    }
    it.insert("rail".into(), s(e.rail.name().as_str()));
    it.insert("reason".into(), s(e.reason.as_str()));
    Ok(it)
}

fn payout_listing_key(created_at: Timestamp, out_biz_no: &OutBizNo) -> String {
    format!("{}#{}", ts(created_at), out_biz_no)
}

fn due_write(e: &PayoutEntry) -> Result<TransactWriteItem, StoreError> {
    Ok(match e.due_at() {
        Some(due) => TransactWriteItem::builder()
            .put(
                Put::builder()
                    .set_item(Some(HashMap::from([
                        ("pk".to_owned(), s(DUE_PK)),
                        ("sk".to_owned(), s(e.out_biz_no.to_string())),
                        ("due_at".to_owned(), n(due.millis())),
                        ("state".to_owned(), s(e.state.name())),
                    ])))
                    .table_name(PLACEHOLDER_TABLE)
                    .build()
                    .map_err(build_err)?,
            )
            .build(),
        None => TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .key("pk", s(DUE_PK))
                    .key("sk", s(e.out_biz_no.to_string()))
                    .table_name(PLACEHOLDER_TABLE)
                    .build()
                    .map_err(build_err)?,
            )
            .build(),
    })
}

#[async_trait]
impl PayoutStore for DynamoStore {
    async fn get_pointer(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Option<BizPointer>, StoreError> {
        self.get_record(pointer_pk(reason, business_id)).await
    }

    async fn start_attempt(
        &self,
        entry: &PayoutEntry,
        expected_attempt: Option<u32>,
    ) -> Result<bool, StoreError> {
        let pointer = entry.pointer();
        let mut ptr = item(
            pointer_pk(pointer.reason, &pointer.business_id),
            META.into(),
            &pointer,
        )?;
        ptr.insert("attempt_no".into(), n(i64::from(pointer.attempt_no)));
        let ptr_put = match expected_attempt {
            None => put_when(ptr, "attribute_not_exists(pk)", &[])?,
            Some(a) => put_when(ptr, "attempt_no = :a", &[(":a", n(i64::from(a)))])?,
        };
        let items = vec![
            ptr_put,
            put_when(payout_item(entry)?, "attribute_not_exists(pk)", &[])?,
            due_write(entry)?,
        ];
        match self.transact("start_attempt", items).await {
            Ok(()) => Ok(true),
            Err(TxFailure::Condition) => Ok(false),
            Err(TxFailure::Other(err)) => Err(err),
        }
    }

    async fn get_payout(&self, out_biz_no: &OutBizNo) -> Result<Option<PayoutEntry>, StoreError> {
        self.get_record(payout_pk(out_biz_no)).await
    }

    async fn cas_payout(
        &self,
        entry: &PayoutEntry,
        expected_fence: &str,
    ) -> Result<CasOutcome<PayoutEntry>, StoreError> {
        let items = vec![
            put_when(
                payout_item(entry)?,
                "fence = :f",
                &[(":f", s(expected_fence))],
            )?,
            due_write(entry)?,
        ];
        match self.transact("cas_payout", items).await {
            Ok(()) => Ok(CasOutcome::Written),
            Err(TxFailure::Condition) => {
                Ok(CasOutcome::Lost(self.get_payout(&entry.out_biz_no).await?))
            }
            Err(TxFailure::Other(err)) => {
                // A transaction conflict may hide a lost race: report it as lost if the fence moved.
                match self.get_payout(&entry.out_biz_no).await? {
                    Some(cur) if cur.fence == entry.fence => Ok(CasOutcome::Written),
                    Some(cur) if cur.fence != expected_fence => Ok(CasOutcome::Lost(Some(cur))),
                    _ => Err(err),
                }
            }
        }
    }

    async fn list_due(&self, now: Timestamp, limit: usize) -> Result<Vec<PayoutEntry>, StoreError> {
        let mut due: Vec<(i64, String)> = self
            .due_markers(Some(now))
            .await?
            .iter()
            .filter_map(|it| {
                let sk = attr_s(it, "sk").cloned()?;
                let at = it.get("due_at")?.as_n().ok()?.parse::<i64>().ok()?;
                Some((at, sk))
            })
            .collect();
        due.sort();
        let mut out = Vec::new();
        for (_, out_biz_no) in due {
            if out.len() >= limit {
                break;
            }
            let Ok(o) = OutBizNo::parse(&out_biz_no) else {
                continue;
            };
            if let Some(e) = self.get_payout(&o).await? {
                if e.due_at().is_some_and(|d| d <= now) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    async fn unresolved_counts(&self) -> Result<UnresolvedCounts, StoreError> {
        let mut counts = UnresolvedCounts::default();
        for it in self.due_markers(None).await? {
            counts.unresolved += 1;
            if attr_s(&it, "state").map(String::as_str)
                == Some(PayoutStateName::NeedsAttention.as_str())
            {
                counts.needs_attention += 1;
            }
        }
        Ok(counts)
    }

    /// One `gsi2` partition holds every entry, sorted by creation; the filters other than the day
    /// are filter expressions, so a sparse filter reads more than it returns: the loop stops after
    /// [`LISTING_READ_PAGES`] reads and hands back a cursor.
    async fn list_payouts(&self, request: &ListRequest) -> Result<PayoutPage, StoreError> {
        let limit = request.limit.clamp(1, 1000);
        let query = ListingQuery::new(&request.filter);
        let mut start: Option<Item> = request.cursor.as_ref().map(listing_start_key);
        let mut entries: Vec<PayoutEntry> = Vec::new();
        let mut more = false;
        for _ in 0..LISTING_READ_PAGES {
            let want = limit - entries.len();
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("gsi2")
                .key_condition_expression(query.key_condition.clone())
                .set_filter_expression(query.filter.clone())
                .set_expression_attribute_values(Some(query.values.clone()))
                .set_expression_attribute_names(query.names.clone())
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(want.max(25)).unwrap_or(1000))
                .send()
                .await
                .map_err(|e| unavailable("query payouts", &e))?;
            let items = page.items.unwrap_or_default();
            let n = items.len();
            for (i, it) in items.iter().enumerate() {
                if entries.len() == limit {
                    // Items left on this page: the next page starts after the last one kept.
                    more = i < n;
                    break;
                }
                entries.push(decode(it)?);
            }
            if entries.len() == limit {
                more = more || page.last_evaluated_key.is_some_and(|k| !k.is_empty());
                break;
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => {
                    start = Some(k);
                    more = true;
                }
                _ => {
                    more = false;
                    break;
                }
            }
        }
        // Stopped on the read budget with a partial page: resume after the last key read, which
        // is not an entry we return; resume after the last entry we return instead (re-reading a
        // few filtered-out items is harmless).
        let next = if more {
            entries
                .last()
                .map(PayoutCursor::after)
                .or_else(|| start.as_ref().and_then(cursor_of_key))
        } else {
            None
        };
        Ok(PayoutPage { entries, next })
    }

    async fn list_by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, StoreError> {
        self.list_gsi1(who.index_key(), Some("PAYOUT#"), limit)
            .await
    }
}

impl DynamoStore {
    /// Every due marker (every unresolved payout), or only those due by `due_by`, all pages.
    async fn due_markers(&self, due_by: Option<Timestamp>) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :k")
                .expression_attribute_values(":k", s(DUE_PK))
                .set_exclusive_start_key(start.take());
            req = match due_by {
                Some(now) => req
                    .filter_expression("due_at <= :now")
                    .expression_attribute_values(":now", n(now.millis())),
                // Only the state is counted.
                None => req
                    .projection_expression("#s")
                    .expression_attribute_names("#s", "state"),
            };
            let page = req.send().await.map_err(|e| unavailable("query due", &e))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }
}

/// Reads per listing request before a sparse filter hands back a partial page with a cursor.
const LISTING_READ_PAGES: usize = 10;

/// The listing's query on gsi2: the day as a key condition, the other filters as a filter
/// expression.
struct ListingQuery {
    key_condition: String,
    filter: Option<String>,
    values: HashMap<String, AttributeValue>,
    names: Option<HashMap<String, String>>,
}

impl ListingQuery {
    fn new(filter: &PayoutFilter) -> Self {
        let mut cond = String::from("gsi2pk = :p");
        let mut values: HashMap<String, AttributeValue> =
            HashMap::from([(":p".into(), s(PAYOUTS_PK))]);
        let mut names: HashMap<String, String> = HashMap::new();
        if let Some((from, until)) = filter.created {
            cond.push_str(" AND gsi2sk BETWEEN :from AND :until");
            values.insert(":from".into(), s(ts(from)));
            // `until` is exclusive: every key of the day sorts below `{until-1}#~`.
            values.insert(
                ":until".into(),
                s(format!("{}#~", ts(Timestamp(until.millis() - 1)))),
            );
        }
        let mut filters = Vec::new();
        if let Some(state) = filter.state {
            filters.push("#st = :st");
            names.insert("#st".into(), "state".into());
            values.insert(":st".into(), s(state.as_str()));
        }
        if let Some(crowd) = &filter.crowd_no {
            filters.push("crowd_no = :c");
            values.insert(":c".into(), s(crowd.to_string()));
        }
        if let Some(rail) = filter.rail {
            // Items written before the transfer rail carry no `rail` and are campaign entries.
            filters.push(match rail {
                RailName::Campaign => "(attribute_not_exists(#rl) OR #rl = :rl)",
                RailName::Transfer => "#rl = :rl",
            });
            names.insert("#rl".into(), "rail".into());
            values.insert(":rl".into(), s(rail.as_str()));
        }
        if let Some(reason) = filter.reason {
            filters.push("#r = :r");
            names.insert("#r".into(), "reason".into());
            values.insert(":r".into(), s(reason.as_str()));
        }
        ListingQuery {
            key_condition: cond,
            filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
            values,
            names: (!names.is_empty()).then_some(names),
        }
    }
}

/// The gsi2 key the listing resumes after.
fn listing_start_key(c: &PayoutCursor) -> Item {
    HashMap::from([
        ("pk".to_owned(), s(payout_pk(&c.out_biz_no))),
        ("sk".to_owned(), s(META)),
        ("gsi2pk".to_owned(), s(PAYOUTS_PK)),
        (
            "gsi2sk".to_owned(),
            s(payout_listing_key(c.created_at, &c.out_biz_no)),
        ),
    ])
}

/// The cursor of a gsi2 key (`{createdAt}#{outBizNo}`).
fn cursor_of_key(k: &Item) -> Option<PayoutCursor> {
    let key = attr_s(k, "gsi2sk")?;
    let (at, no) = key.split_once('#')?;
    Some(PayoutCursor {
        created_at: Timestamp(at.parse().ok()?),
        out_biz_no: OutBizNo::parse(no).ok()?,
    })
}
