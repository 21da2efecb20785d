//! The project's `template.yaml` against the workspace: every crate under `functions/` has its function
//! resource (logical id `<PascalCase>Function`, binary = crate name), every route and authorizer points at a
//! function of the template, and every function is built the way the deployment expects.

use std::path::{Path, PathBuf};

use local_stack::template::{self, AuthKind};
use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

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

fn template_text() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml at the repo root")
}

#[test]
fn every_function_crate_has_its_resource() {
    let stack = template::parse(&template_text(), &Default::default()).expect("template parses");
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
    let stack = template::parse(&template_text(), &Default::default()).expect("template parses");
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
    let doc: Value = serde_norway::from_str(&template_text()).expect("yaml");
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
    assert_eq!(count, 8, "the eight functions of docs/CONVENTIONS.md");
}
