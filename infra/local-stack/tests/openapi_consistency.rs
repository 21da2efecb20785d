//! `openapi.yaml` against `template.yaml` and the handlers: the document has exactly the HttpApi routes of
//! the template (same method and path), each with the security scheme of the route's auth (SigV4 for
//! `AWS_IAM`, the bearer session token for the Lambda authorizer, none for `NONE`), and every route's
//! function crate names its route key (the handlers dispatch on strings like `"POST /templates"`).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use local_stack::template::{self, AuthKind};
use serde_norway::Value;
use support::{read, root};

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// `"METHOD /path"` → the names of the security schemes of the operation (empty = public).
fn openapi_routes(doc: &Value) -> BTreeMap<String, Vec<String>> {
    let schemes = |v: Option<&Value>| -> Option<Vec<String>> {
        let list = v?.as_sequence()?;
        Some(
            list.iter()
                .filter_map(Value::as_mapping)
                .flat_map(|m| m.keys().filter_map(Value::as_str).map(str::to_string))
                .collect(),
        )
    };
    let global = schemes(doc.get("security")).unwrap_or_default();
    let paths = doc
        .get("paths")
        .and_then(Value::as_mapping)
        .expect("openapi.yaml has paths");
    let mut out = BTreeMap::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path is a string");
        let item = item.as_mapping().expect("path item is a mapping");
        for (method, op) in item {
            let Some(method) = method.as_str().filter(|m| METHODS.contains(m)) else {
                continue;
            };
            let security = schemes(op.get("security")).unwrap_or_else(|| global.clone());
            let key = format!("{} {path}", method.to_ascii_uppercase());
            assert!(
                out.insert(key.clone(), security).is_none(),
                "{key} twice in openapi.yaml"
            );
        }
    }
    out
}

fn scheme_of(auth: &AuthKind) -> Vec<String> {
    match auth {
        AuthKind::Iam => vec!["sigv4".to_string()],
        AuthKind::Lambda(_) => vec!["sessionToken".to_string()],
        AuthKind::None => Vec::new(),
        other => panic!("no security scheme for {other:?}: extend openapi.yaml and this test"),
    }
}

#[test]
fn openapi_documents_exactly_the_template_routes_with_their_auth() {
    let stack = template::parse(&read("template.yaml"), &Default::default()).expect("template");
    let doc: Value = serde_norway::from_str(&read("openapi.yaml")).expect("openapi.yaml parses");
    let documented = openapi_routes(&doc);
    let declared: BTreeMap<String, Vec<String>> = stack
        .routes
        .iter()
        .map(|r| (r.route_key(), scheme_of(&r.auth)))
        .collect();
    let d: BTreeSet<&String> = documented.keys().collect();
    let t: BTreeSet<&String> = declared.keys().collect();
    assert_eq!(
        d.difference(&t).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "in openapi.yaml but not in template.yaml"
    );
    assert_eq!(
        t.difference(&d).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "in template.yaml but not in openapi.yaml"
    );
    for (key, schemes) in &declared {
        assert_eq!(&documented[key], schemes, "security of {key}");
    }
    let defined = doc
        .pointer_like(&["components", "securitySchemes"])
        .and_then(Value::as_mapping)
        .expect("components.securitySchemes");
    for s in ["sigv4", "sessionToken"] {
        assert!(defined.contains_key(s), "security scheme {s} is defined");
    }
}

#[test]
fn every_route_key_is_named_by_its_function_crate() {
    let stack = template::parse(&read("template.yaml"), &Default::default()).expect("template");
    for r in &stack.routes {
        let src = root().join("functions").join(&r.function).join("src");
        let mut text = String::new();
        for entry in std::fs::read_dir(&src)
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
            .flatten()
        {
            if entry.path().extension().is_some_and(|x| x == "rs") {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        let key = r.route_key();
        assert!(
            text.contains(&key),
            "functions/{}/src does not mention its route `{key}`",
            r.function
        );
    }
}

/// Every operation answers problem+json errors with the shared `Problem` schema.
#[test]
fn problem_schema_has_the_convention_fields() {
    let doc: Value = serde_norway::from_str(&read("openapi.yaml")).expect("openapi.yaml parses");
    let required: BTreeSet<String> = doc
        .pointer_like(&["components", "schemas", "Problem", "required"])
        .and_then(Value::as_sequence)
        .expect("Problem.required")
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    for f in ["type", "title", "status", "detail", "code"] {
        assert!(required.contains(f), "Problem requires {f}");
    }
}

trait PointerLike {
    fn pointer_like(&self, keys: &[&str]) -> Option<&Value>;
}

impl PointerLike for Value {
    fn pointer_like(&self, keys: &[&str]) -> Option<&Value> {
        keys.iter().try_fold(self, |v, k| v.get(*k))
    }
}

/// Every public route (`Authorizer: NONE`) has its own stage throttling, and every limit is a template
/// parameter with a default (sized from the launch plan, docs/deploy.md §0), so a deploy can resize it.
#[test]
fn public_routes_are_throttled() {
    let stack = template::parse(&read("template.yaml"), &Default::default()).expect("template");
    let doc: Value = serde_norway::from_str(&read("template.yaml")).expect("yaml");
    let api = doc
        .pointer_like(&["Resources", "HttpApi", "Properties"])
        .expect("HttpApi properties");
    let limit = |v: Option<&Value>, k: &str| -> f64 {
        let v = v
            .and_then(|v| v.get(k))
            .unwrap_or_else(|| panic!("{k} missing"));
        let Value::Tagged(tagged) = v else {
            panic!("{k} is a fixed {v:?}, not a !Ref to a parameter");
        };
        assert_eq!(tagged.tag.to_string(), "!Ref", "{k}");
        let name = tagged.value.as_str().expect("parameter name");
        doc.pointer_like(&["Parameters", name, "Default"])
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("parameter {name} has no numeric Default"))
    };
    let default = api.get("DefaultRouteSettings");
    assert!(limit(default, "ThrottlingRateLimit") > 0.0);
    assert!(limit(default, "ThrottlingBurstLimit") > 0.0);
    let public: Vec<String> = stack
        .routes
        .iter()
        .filter(|r| r.auth == AuthKind::None)
        .map(|r| r.route_key())
        .collect();
    assert!(!public.is_empty());
    for key in &public {
        let settings = api.get("RouteSettings").and_then(|s| s.get(key.as_str()));
        assert!(
            settings.is_some(),
            "public route {key} has no RouteSettings"
        );
        let rate = limit(settings, "ThrottlingRateLimit");
        let burst = limit(settings, "ThrottlingBurstLimit");
        assert!(
            rate > 0.0 && burst >= rate,
            "{key}: rate {rate}, burst {burst}"
        );
    }
}
