//! The project's `template.yaml` against the workspace: every crate under `functions/` has its function
//! resource (logical id `<PascalCase>Function`, binary = crate name), every route and authorizer points at a
//! function of the template, and every function is built the way the deployment expects.

mod support;

use std::path::Path;

use local_stack::template::{self, AuthKind};
use serde_norway::Value;
use support::{read, root};

fn pascal(name: &str) -> String {
    name.split('-')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `name = "..."` of a crate's `[package]`.
fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package {
            if let Some(v) = line.strip_prefix("name") {
                let v = v.trim_start().strip_prefix('=')?.trim().trim_matches('"');
                return Some(v.to_string());
            }
        }
    }
    None
}

#[test]
fn every_function_crate_has_its_resource() {
    let stack =
        template::parse(&read("template.yaml"), &Default::default()).expect("template parses");
    let dir = root().join("functions");
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let manifest = entry.path().join("Cargo.toml");
        if manifest.is_file() {
            let name = package_name(&manifest)
                .unwrap_or_else(|| panic!("{} has no package name", manifest.display()));
            let folder = entry.file_name().to_string_lossy().to_string();
            assert_eq!(name, folder, "crate name = folder under functions/");
            crates.push(name);
        }
    }
    for name in &crates {
        let f = stack.function(name).unwrap_or_else(|| {
            panic!("functions/{name} has no AWS::Serverless::Function in template.yaml")
        });
        assert_eq!(f.name, *name);
        assert_eq!(
            f.logical_id,
            format!("{}Function", pascal(name)),
            "logical id of {name}"
        );
    }
    let not_yet: Vec<&str> = stack
        .functions
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| !crates.iter().any(|c| c == n))
        .collect();
    if !not_yet.is_empty() {
        eprintln!("note: template functions without a crate under functions/ yet: {not_yet:?}");
    }
}

#[test]
fn every_route_and_authorizer_has_a_function() {
    let stack =
        template::parse(&read("template.yaml"), &Default::default()).expect("template parses");
    assert!(!stack.routes.is_empty());
    for r in &stack.routes {
        assert!(
            stack.function(&r.function).is_some(),
            "route {} -> unknown function {}",
            r.route_key(),
            r.function
        );
        if let AuthKind::Lambda(a) = &r.auth {
            let spec = stack
                .authorizers
                .get(a)
                .unwrap_or_else(|| panic!("route {} uses unknown authorizer {a}", r.route_key()));
            assert!(stack.function(&spec.function).is_some());
        }
    }
    let mut keys: Vec<String> = stack.routes.iter().map(|r| r.route_key()).collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "duplicate route keys");
}

#[test]
fn functions_are_built_for_provided_al2023_arm64() {
    let doc: Value = serde_norway::from_str(&read("template.yaml")).expect("yaml");
    let globals = doc.get("Globals").and_then(|g| g.get("Function"));
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources");
    let mut count = 0;
    for (id, res) in resources {
        if res.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        count += 1;
        let id = id.as_str().unwrap_or_default();
        let prop = |k: &str| {
            res.get("Properties")
                .and_then(|p| p.get(k))
                .or_else(|| globals.and_then(|g| g.get(k)))
                .cloned()
        };
        assert_eq!(
            prop("Runtime"),
            Some(Value::from("provided.al2023")),
            "{id} Runtime"
        );
        assert_eq!(
            prop("Handler"),
            Some(Value::from("bootstrap")),
            "{id} Handler"
        );
        assert_eq!(prop("CodeUri"), Some(Value::from(".")), "{id} CodeUri");
        let arch = prop("Architectures").and_then(|a| a.as_sequence().cloned());
        assert_eq!(arch, Some(vec![Value::from("arm64")]), "{id} Architectures");
        let meta = res.get("Metadata");
        assert_eq!(
            meta.and_then(|m| m.get("BuildMethod"))
                .and_then(Value::as_str),
            Some("rust-cargolambda"),
            "{id} BuildMethod"
        );
        assert!(
            meta.and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .is_some(),
            "{id} BuildProperties.Binary"
        );
    }
    assert_eq!(count, 9, "the nine functions of docs/CONVENTIONS.md");
}

/// The `dynamodb:LeadingKeys` of every DynamoDB statement of a function's inline policies, with the
/// statement's actions. Panics on a table-wide grant (a SAM `DynamoDB*Policy` template, or a DynamoDB
/// statement without a `LeadingKeys` condition).
fn table_grants(doc: &Value, function: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let policies = doc
        .get("Resources")
        .and_then(|r| r.get(function))
        .and_then(|f| f.get("Properties"))
        .and_then(|p| p.get("Policies"))
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Sequence(s)) => s
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => vec![],
        }
    };
    let mut grants = Vec::new();
    for policy in &policies {
        if let Some(m) = policy.as_mapping() {
            for (k, _) in m {
                let name = k.as_str().unwrap_or_default();
                assert!(
                    !name.starts_with("DynamoDB"),
                    "{function}: {name} grants the whole table; scope it with dynamodb:LeadingKeys"
                );
            }
        }
        let statements = policy
            .get("Statement")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        for st in &statements {
            let actions = strings(st.get("Action"));
            if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                continue;
            }
            assert!(
                !actions
                    .iter()
                    .any(|a| a == "dynamodb:Scan" || a == "dynamodb:*"),
                "{function}: a Scan carries no partition key, so LeadingKeys would not limit it"
            );
            let keys = strings(
                st.get("Condition")
                    .and_then(|c| c.get("ForAllValues:StringLike"))
                    .and_then(|c| c.get("dynamodb:LeadingKeys")),
            );
            assert!(
                !keys.is_empty(),
                "{function}: a DynamoDB statement without a dynamodb:LeadingKeys condition"
            );
            grants.push((actions, keys));
        }
    }
    grants
}

#[test]
fn every_function_reaches_only_its_own_item_kinds() {
    let doc: Value = serde_norway::from_str(&read("template.yaml")).expect("yaml");
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources");
    for (id, res) in resources {
        if res.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function") {
            table_grants(&doc, id.as_str().unwrap_or_default());
        }
    }
    let money = ["PAYOUT#", "BIZ#", "DUE#", "IDEM#", "CAMP#", "SLOT#"];
    for public in ["PassCallbackFunction", "TunnelReaderFunction"] {
        for (_, keys) in table_grants(&doc, public) {
            for k in keys {
                assert!(
                    !money.iter().any(|m| k.starts_with(m)) && k != "*",
                    "{public} reaches {k}: the public and read paths must not touch the cash ledger"
                );
            }
        }
    }
    // The public notify route changes payout entries that exist, nothing else (no pointer, no
    // campaign, no new entry: it cannot start a payment).
    for (_, keys) in table_grants(&doc, "AlipayNotifyFunction") {
        for k in keys {
            assert!(
                k == "PAYOUT#*" || k == "DUE#*",
                "AlipayNotifyFunction reaches {k}"
            );
        }
    }
    for (actions, _) in table_grants(&doc, "TunnelReaderFunction") {
        for a in actions {
            assert!(
                a == "dynamodb:GetItem" || a == "dynamodb:Query",
                "tunnel-reader is read only: {a}"
            );
        }
    }
}

#[test]
fn the_session_authorizer_does_not_cache_a_decision_made_on_more_than_its_identity() {
    // The decision depends on the path's userId and the `key` parameter; the cache key would be the
    // Authorization header only.
    let doc: Value = serde_norway::from_str(&read("template.yaml")).expect("yaml");
    let ttl = doc
        .get("Resources")
        .and_then(|r| r.get("HttpApi"))
        .and_then(|a| a.get("Properties"))
        .and_then(|p| p.get("Auth"))
        .and_then(|a| a.get("Authorizers"))
        .and_then(|a| a.get("SessionAuthorizer"))
        .and_then(|a| a.get("Identity"))
        .and_then(|i| i.get("ReauthorizeEvery"))
        .and_then(Value::as_u64);
    assert_eq!(ttl, Some(0));
}
