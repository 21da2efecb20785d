//! The template store.

use super::fixtures::*;
use crate::ids::*;
use crate::ports::*;

/// Put, get, list newest first with a limit.
pub async fn templates<S: TemplateStore + ?Sized>(store: &S) {
    store.put_template(&tpl("a", 1_000)).await.unwrap();
    store.put_template(&tpl("b", 2_000)).await.unwrap();
    assert_eq!(
        store
            .get_template(&TemplateId::parse("a").unwrap())
            .await
            .unwrap(),
        Some(tpl("a", 1_000))
    );
    assert_eq!(
        store
            .get_template(&TemplateId::parse("zz").unwrap())
            .await
            .unwrap(),
        None
    );
    let list = store.list_templates(10).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|t| t.template_id.as_str())
            .collect::<Vec<_>>(),
        vec!["b", "a"]
    );
    assert_eq!(store.list_templates(1).await.unwrap().len(), 1);
}
