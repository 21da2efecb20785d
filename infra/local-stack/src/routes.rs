//! HTTP API route matching: literal segments, `{param}` segments, a trailing greedy `{proxy+}`, the `ANY`
//! method and the `$default` route, with API Gateway's "most specific route wins" rule.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::template::RouteSpec;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Compiled {
    index: usize,
    any_method: bool,
    is_default: bool,
    segments: Vec<Segment>,
}

/// A matched route with its decoded path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// The route from the template.
    pub route: &'a RouteSpec,
    /// `{name}` → decoded value (a greedy parameter keeps its slashes).
    pub path_params: BTreeMap<String, String>,
}

/// The compiled route table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<RouteSpec>,
    compiled: Vec<Compiled>,
}

fn split(path: &str) -> Vec<&str> {
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn compile(path: &str) -> Vec<Segment> {
    split(path)
        .into_iter()
        .map(|s| {
            if let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                match inner.strip_suffix('+') {
                    Some(name) => Segment::Greedy(name.to_string()),
                    None => Segment::Param(inner.to_string()),
                }
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

impl Router {
    /// Compiles the routes.
    pub fn new(routes: Vec<RouteSpec>) -> Self {
        let compiled = routes
            .iter()
            .enumerate()
            .map(|(index, r)| Compiled {
                index,
                any_method: r.method == "ANY",
                is_default: r.path == "$default",
                segments: if r.path == "$default" {
                    Vec::new()
                } else {
                    compile(&r.path)
                },
            })
            .collect();
        Self { routes, compiled }
    }

    /// The routes, in template order.
    pub fn routes(&self) -> &[RouteSpec] {
        &self.routes
    }

    /// Finds the most specific route for `method` and the raw (still percent-encoded) `path`.
    pub fn find(&self, method: &str, path: &str) -> Option<RouteMatch<'_>> {
        let parts = split(path);
        let method = method.to_ascii_uppercase();
        let mut best: Option<(&Compiled, BTreeMap<String, String>)> = None;
        for c in &self.compiled {
            let route = &self.routes[c.index];
            if !c.any_method && route.method != method {
                continue;
            }
            let params = if c.is_default {
                Some(BTreeMap::new())
            } else {
                match_segments(&c.segments, &parts)
            };
            let Some(params) = params else { continue };
            let better = match &best {
                None => true,
                Some((b, _)) => more_specific(c, b) == Ordering::Greater,
            };
            if better {
                best = Some((c, params));
            }
        }
        best.map(|(c, path_params)| RouteMatch {
            route: &self.routes[c.index],
            path_params,
        })
    }
}

fn match_segments(pattern: &[Segment], parts: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, seg) in pattern.iter().enumerate() {
        match seg {
            Segment::Greedy(name) => {
                if i >= parts.len() {
                    return None;
                }
                params.insert(name.clone(), decode(&parts[i..].join("/")));
                return Some(params);
            }
            Segment::Literal(lit) => {
                let part = parts.get(i)?;
                if part != lit && decode(part) != *lit {
                    return None;
                }
            }
            Segment::Param(name) => {
                let part = parts.get(i)?;
                if part.is_empty() {
                    return None;
                }
                params.insert(name.clone(), decode(part));
            }
        }
    }
    (pattern.len() == parts.len()).then_some(params)
}

/// `Greater` when `a` is the more specific route: not `$default`, then segment by segment literal > param >
/// greedy, then more segments, then an exact method over `ANY`.
fn more_specific(a: &Compiled, b: &Compiled) -> Ordering {
    if a.is_default != b.is_default {
        return if a.is_default {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    for (sa, sb) in a.segments.iter().zip(&b.segments) {
        match sa.rank().cmp(&sb.rank()) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match a.segments.len().cmp(&b.segments.len()) {
        Ordering::Equal => {}
        other => return other,
    }
    // An exact method beats ANY.
    b.any_method.cmp(&a.any_method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::AuthKind;

    fn r(method: &str, path: &str, f: &str) -> RouteSpec {
        RouteSpec {
            method: method.into(),
            path: path.into(),
            function: f.into(),
            auth: AuthKind::None,
        }
    }

    /// The function a request goes to, if any route takes it.
    fn target<'a>(rt: &'a Router, method: &str, path: &str) -> Option<&'a str> {
        rt.find(method, path).map(|m| m.route.function.as_str())
    }

    fn router() -> Router {
        Router::new(vec![
            r("GET", "/templates", "list"),
            r("POST", "/templates", "create"),
            r("GET", "/templates/{templateId}", "get"),
            r("GET", "/users/{userId}/passes", "passes"),
            r("GET", "/users/me/passes", "mine"),
            r("ANY", "/proxy/{proxy+}", "proxy"),
            r("GET", "/proxy/{proxy+}", "proxy-get"),
            r("GET", "/proxy/fixed/{x}", "fixed"),
        ])
    }

    #[test]
    fn literal_routes_by_method() {
        let rt = router();
        assert_eq!(target(&rt, "GET", "/templates"), Some("list"));
        assert_eq!(target(&rt, "post", "/templates"), Some("create"));
        assert_eq!(target(&rt, "GET", "/templates/"), Some("list"));
        assert!(rt.find("DELETE", "/templates").is_none());
        assert!(rt.find("GET", "/nope").is_none());
        assert!(rt.find("GET", "/").is_none());
    }

    #[test]
    fn params_are_decoded() {
        let rt = router();
        let m = rt.find("GET", "/templates/a%20b").unwrap();
        assert_eq!(m.route.function, "get");
        assert_eq!(m.path_params["templateId"], "a b");
        let m = rt.find("GET", "/users/2088/passes").unwrap();
        assert_eq!(m.path_params["userId"], "2088");
        assert!(rt.find("GET", "/templates/a/b").is_none());
        assert!(rt.find("GET", "/users//passes").is_none());
    }

    #[test]
    fn literal_beats_param_and_param_beats_greedy() {
        let rt = router();
        assert_eq!(target(&rt, "GET", "/users/me/passes"), Some("mine"));
        assert_eq!(target(&rt, "GET", "/proxy/fixed/1"), Some("fixed"));
        let m = rt.find("GET", "/proxy/a/b/c").unwrap();
        assert_eq!(m.route.function, "proxy-get", "exact method beats ANY");
        assert_eq!(m.path_params["proxy"], "a/b/c");
        let m = rt.find("DELETE", "/proxy/a").unwrap();
        assert_eq!(m.route.function, "proxy");
        assert!(rt.find("GET", "/proxy").is_none(), "greedy needs a segment");
    }

    #[test]
    fn default_route_is_last_resort() {
        let mut routes = router().routes().to_vec();
        routes.push(r("ANY", "$default", "fallback"));
        let rt = Router::new(routes);
        assert_eq!(target(&rt, "GET", "/nope"), Some("fallback"));
        assert_eq!(target(&rt, "GET", "/templates"), Some("list"));
    }

    #[test]
    fn project_template_routes_resolve() {
        let text = include_str!("../../../template.yaml");
        let stack = crate::template::parse(text, &Default::default()).unwrap();
        let rt = Router::new(stack.routes.clone());
        let cases = [
            ("GET", "/templates", "template-creator"),
            ("POST", "/templates", "template-creator"),
            ("PUT", "/templates/t1", "template-creator"),
            ("GET", "/alipay/pass-callback", "pass-callback"),
            ("GET", "/users/u1/passes", "tunnel-reader"),
            ("GET", "/channelData/pull", "tunnel-reader"),
            ("GET", "/passes/p1", "tunnel-reader"),
            ("POST", "/passes/p1/status", "template-creator"),
            ("POST", "/campaigns", "campaign-creator"),
            ("GET", "/campaigns/c1", "campaign-creator"),
            ("POST", "/campaigns/c1/status", "campaign-creator"),
            ("POST", "/envelopes", "send-trigger"),
            ("GET", "/envelopes/o1", "send-trigger"),
            ("GET", "/users/u1/envelopes", "send-trigger"),
            ("POST", "/session", "session"),
        ];
        for (m, p, f) in cases {
            assert_eq!(target(&rt, m, p), Some(f), "{m} {p}");
        }
    }
}
