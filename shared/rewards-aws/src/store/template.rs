//! Templates: `TPL#{templateId}` / `META`, listed newest first on gsi1 `TPL`.

use super::item::{item, list_by_creation, META};
use super::DynamoStore;
use async_trait::async_trait;
use rewards_core::ids::TemplateId;
use rewards_core::ports::TemplateStore;
use rewards_core::template::TemplateRecord;
use rewards_core::StoreError;

fn template_pk(id: &TemplateId) -> String {
    format!("TPL#{id}")
}

#[async_trait]
impl TemplateStore for DynamoStore {
    async fn put_template(&self, t: &TemplateRecord) -> Result<(), StoreError> {
        let mut it = item(template_pk(&t.template_id), META.into(), t)?;
        list_by_creation(&mut it, "TPL", t.created_at, &t.template_id);
        self.put_plain(it).await
    }

    async fn get_template(&self, id: &TemplateId) -> Result<Option<TemplateRecord>, StoreError> {
        self.get_record(template_pk(id)).await
    }

    async fn list_templates(&self, limit: usize) -> Result<Vec<TemplateRecord>, StoreError> {
        self.list_gsi1("TPL".into(), None, limit).await
    }
}
