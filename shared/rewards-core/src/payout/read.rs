//! Reading the ledger through the send service: one entry, a business id's attempts, a
//! recipient's payouts, the operator's listing. Nothing here calls Alipay or writes.

use crate::ids::{BusinessId, OutBizNo, Recipient};
use crate::payout::entry::PayoutEntry;
use crate::payout::error::SendError;
use crate::payout::listing::{ListRequest, PayoutPage};
use crate::payout::reason::{derive_out_biz_no, Reason};
use crate::payout::send::SendService;

impl SendService {
    /// One entry.
    ///
    /// # Errors
    /// [`SendError::NotFound`] or a store error.
    pub async fn get(&self, out_biz_no: &OutBizNo) -> Result<PayoutEntry, SendError> {
        self.payouts
            .get_payout(out_biz_no)
            .await?
            .ok_or(SendError::NotFound)
    }

    /// Every attempt of a business id, oldest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn by_business_id(
        &self,
        reason: Reason,
        business_id: &BusinessId,
    ) -> Result<Vec<PayoutEntry>, SendError> {
        let Some(ptr) = self.payouts.get_pointer(reason, business_id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for n in 1..=ptr.attempt_no {
            if let Some(e) = self
                .payouts
                .get_payout(&derive_out_biz_no(reason, business_id, n))
                .await?
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// A recipient's payouts, newest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn by_recipient(
        &self,
        who: &Recipient,
        limit: usize,
    ) -> Result<Vec<PayoutEntry>, SendError> {
        Ok(self.payouts.list_by_recipient(who, limit).await?)
    }

    /// The operator's listing, newest first, one page.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list(&self, request: &ListRequest) -> Result<PayoutPage, SendError> {
        Ok(self.payouts.list_payouts(request).await?)
    }
}
