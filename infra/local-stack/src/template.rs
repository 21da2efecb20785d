//! Reads an AWS SAM `template.yaml` into what the local stack needs: the functions (binary, environment,
//! timeout, memory, reserved concurrency), the HTTP API routes (method, path, function, auth kind) and the
//! Lambda authorizers.
//!
//! CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, `!Join`, ...) are kept as YAML tagged values
//! (`serde_norway`) and resolved against local values: parameters take their override or their `Default`,
//! pseudo parameters take local values (`us-east-1`, account `123456789012`), a `!Ref` to a resource gives
//! its name property (`TableName`, `Name`, ...) or else its logical id, and `!GetAtt X.Arn` of a function
//! gives a local Lambda ARN. Values that cannot be resolved locally are left out with a warning.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

/// The local account id used for ARNs and `requestContext.accountId`.
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";
/// The default region when neither the template overrides nor the environment give one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Errors while reading a template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file is not valid YAML.
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// The YAML has an unexpected shape.
    #[error("template: {0}")]
    Shape(String),
}

/// How a route is protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthKind {
    /// No authorization at the gateway (`Authorizer: NONE`).
    None,
    /// IAM (SigV4) authorization (`Authorizer: AWS_IAM`).
    Iam,
    /// A Lambda authorizer, by its name under the API's `Auth.Authorizers`.
    Lambda(String),
    /// A JWT authorizer (not emulated: requests are let through with a warning).
    Jwt(String),
}

/// One HTTP API route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// The path with `{param}` and `{proxy+}` parts, or `$default`.
    pub path: String,
    /// The function (binary) name that serves the route.
    pub function: String,
    /// The route's authorization.
    pub auth: AuthKind,
}

impl RouteSpec {
    /// The route key as API Gateway writes it: `GET /templates/{templateId}` or `$default`.
    pub fn route_key(&self) -> String {
        if self.path == "$default" {
            "$default".to_string()
        } else {
            format!("{} {}", self.method, self.path)
        }
    }
}

/// A Lambda authorizer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerSpec {
    /// The authorizer's name in the template.
    pub name: String,
    /// The function (binary) name that implements it.
    pub function: String,
    /// Header names of the identity source (`$request.header.<name>`); missing ones give 401.
    pub identity_headers: Vec<String>,
    /// Query parameter names of the identity source (`$request.querystring.<name>`).
    pub identity_query: Vec<String>,
    /// Whether the authorizer answers `{"isAuthorized": bool, "context": {...}}`.
    pub simple_responses: bool,
    /// The payload format version (`2.0` or `1.0`).
    pub payload_version: String,
}

/// One function of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// The logical id (`TemplateCreatorFunction`).
    pub logical_id: String,
    /// The binary name (`template-creator`), from `Metadata.BuildProperties.Binary`.
    pub name: String,
    /// The resolved environment (Globals merged with the function's own variables).
    pub env: BTreeMap<String, String>,
    /// Timeout in seconds (default 3, as in Lambda).
    pub timeout_secs: u64,
    /// Memory in MB (default 128).
    pub memory_mb: u64,
    /// `ReservedConcurrentExecutions`, if set.
    pub reserved_concurrency: Option<u64>,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`), if set.
    pub log_format: Option<String>,
}

/// What the local stack takes from a template.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    /// Every `AWS::Serverless::Function`, in file order.
    pub functions: Vec<FunctionSpec>,
    /// Every `HttpApi` event route, in file order.
    pub routes: Vec<RouteSpec>,
    /// Lambda authorizers by name.
    pub authorizers: BTreeMap<String, AuthorizerSpec>,
    /// Things that could not be resolved locally (printed at startup).
    pub warnings: Vec<String>,
}

impl Stack {
    /// The function with this binary name or logical id.
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions
            .iter()
            .find(|f| f.name == name || f.logical_id == name)
    }
}

/// Values used to resolve intrinsic functions locally.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// Parameter overrides (take precedence over `Default`).
    pub parameters: BTreeMap<String, String>,
    /// The region for `AWS::Region`.
    pub region: String,
    /// The local HTTP API base URL (`http://127.0.0.1:3000`), used for `AWS::Serverless::HttpApi` references.
    pub api_url: String,
}

impl Default for ResolveContext {
    fn default() -> Self {
        Self {
            parameters: BTreeMap::new(),
            region: DEFAULT_REGION.to_string(),
            api_url: "http://127.0.0.1:3000".to_string(),
        }
    }
}

/// Parses template text.
pub fn parse(text: &str, ctx: &ResolveContext) -> Result<Stack, TemplateError> {
    let doc: Value = serde_norway::from_str(text)?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError::Shape("no Resources mapping".into()))?;
    let resolver = Resolver::new(&doc, ctx);
    let mut stack = Stack::default();
    let globals = doc
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(Value::as_mapping)
        .cloned()
        .unwrap_or_default();

    // Logical id -> binary name, first pass (authorizers and routes refer to functions by logical id).
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (id, res) in resources {
        let (Some(id), Some(ty)) = (id.as_str(), res.get("Type").and_then(Value::as_str)) else {
            continue;
        };
        if ty == "AWS::Serverless::Function" {
            names.insert(id.to_string(), binary_name(id, res));
        }
    }

    for (id, res) in resources {
        let (Some(id), Some(ty)) = (id.as_str(), res.get("Type").and_then(Value::as_str)) else {
            continue;
        };
        match ty {
            "AWS::Serverless::Function" => {
                let props = res
                    .get("Properties")
                    .and_then(Value::as_mapping)
                    .cloned()
                    .unwrap_or_default();
                let name = names.get(id).cloned().unwrap_or_else(|| id.to_string());
                let f = function_spec(id, &name, &globals, &props, &resolver, &mut stack.warnings);
                routes_of(&name, &props, resources, &mut stack);
                stack.functions.push(f);
            }
            "AWS::Serverless::HttpApi" => {
                authorizers_of(id, res, &names, &mut stack);
            }
            _ => {}
        }
    }
    Ok(stack)
}

/// The binary name: `Metadata.BuildProperties.Binary` (or `Metadata.Binary`), else the logical id in
/// kebab-case without the `Function` suffix.
fn binary_name(id: &str, res: &Value) -> String {
    let meta = res.get("Metadata");
    meta.and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .or_else(|| meta.and_then(|m| m.get("Binary")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kebab(id.strip_suffix("Function").unwrap_or(id)))
}

fn kebab(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn prop<'a>(props: &'a Mapping, globals: &'a Mapping, key: &str) -> Option<&'a Value> {
    props.get(key).or_else(|| globals.get(key))
}

fn function_spec(
    id: &str,
    name: &str,
    globals: &Mapping,
    props: &Mapping,
    resolver: &Resolver<'_>,
    warnings: &mut Vec<String>,
) -> FunctionSpec {
    let number = |key: &str| -> Option<u64> {
        prop(props, globals, key).and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            other => resolver.resolve(other).and_then(|s| s.parse().ok()),
        })
    };
    let mut env = BTreeMap::new();
    for source in [globals, props] {
        let vars = source
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping);
        for (k, v) in vars.into_iter().flatten() {
            let Some(k) = k.as_str() else { continue };
            match resolver.resolve(v) {
                Some(s) => {
                    env.insert(k.to_string(), s);
                }
                None => {
                    env.remove(k);
                    warnings.push(format!(
                        "{id}: environment variable {k} cannot be resolved locally; set it in local-stack's environment"
                    ));
                }
            }
        }
    }
    let log_format = prop(props, globals, "LoggingConfig")
        .and_then(|l| l.get("LogFormat"))
        .and_then(|v| resolver.resolve(v));
    FunctionSpec {
        logical_id: id.to_string(),
        name: name.to_string(),
        env,
        timeout_secs: number("Timeout").unwrap_or(3),
        memory_mb: number("MemorySize").unwrap_or(128),
        reserved_concurrency: props
            .get("ReservedConcurrentExecutions")
            .and_then(|v| match v {
                Value::Number(n) => n.as_u64(),
                other => resolver.resolve(other).and_then(|s| s.parse().ok()),
            }),
        log_format,
    }
}

fn routes_of(function: &str, props: &Mapping, resources: &Mapping, stack: &mut Stack) {
    let Some(events) = props.get("Events").and_then(Value::as_mapping) else {
        return;
    };
    for ev in events.values() {
        if ev.get("Type").and_then(Value::as_str) != Some("HttpApi") {
            continue;
        }
        let p = ev.get("Properties");
        let method = p
            .and_then(|p| p.get("Method"))
            .and_then(Value::as_str)
            .unwrap_or("ANY")
            .to_ascii_uppercase();
        let method = if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
            "ANY".to_string()
        } else {
            method
        };
        let path = p
            .and_then(|p| p.get("Path"))
            .and_then(Value::as_str)
            .unwrap_or("$default")
            .to_string();
        let api_id = p.and_then(|p| p.get("ApiId")).and_then(ref_target);
        let explicit = p
            .and_then(|p| p.get("Auth"))
            .and_then(|a| a.get("Authorizer"))
            .and_then(Value::as_str);
        let api_auth = api_id
            .as_deref()
            .and_then(|api| resources.get(api))
            .and_then(|api| api.get("Properties"))
            .and_then(|p| p.get("Auth"));
        let default_auth = api_auth
            .and_then(|a| a.get("DefaultAuthorizer"))
            .and_then(Value::as_str);
        let auth = match explicit.or(default_auth) {
            None | Some("NONE") => AuthKind::None,
            Some("AWS_IAM") => AuthKind::Iam,
            Some(name) => {
                let is_jwt = api_auth
                    .and_then(|a| a.get("Authorizers"))
                    .and_then(|a| a.get(name))
                    .is_some_and(|a| a.get("JwtConfiguration").is_some());
                if is_jwt {
                    stack.warnings.push(format!(
                        "route {method} {path}: JWT authorizer {name} is not emulated; requests pass unchecked"
                    ));
                    AuthKind::Jwt(name.to_string())
                } else {
                    AuthKind::Lambda(name.to_string())
                }
            }
        };
        stack.routes.push(RouteSpec {
            method,
            path,
            function: function.to_string(),
            auth,
        });
    }
}

fn authorizers_of(api_id: &str, res: &Value, names: &BTreeMap<String, String>, stack: &mut Stack) {
    let Some(auths) = res
        .get("Properties")
        .and_then(|p| p.get("Auth"))
        .and_then(|a| a.get("Authorizers"))
        .and_then(Value::as_mapping)
    else {
        return;
    };
    for (name, a) in auths {
        let Some(name) = name.as_str() else { continue };
        let Some(arn) = a.get("FunctionArn") else {
            continue; // JWT authorizer
        };
        let Some(target) = getatt_target(arn) else {
            stack.warnings.push(format!(
                "{api_id}: authorizer {name}: FunctionArn is not !GetAtt <Function>.Arn"
            ));
            continue;
        };
        let Some(function) = names.get(&target) else {
            stack.warnings.push(format!(
                "{api_id}: authorizer {name}: {target} is not a function of this template"
            ));
            continue;
        };
        let identity = a.get("Identity");
        let list = |key: &str| -> Vec<String> {
            identity
                .and_then(|i| i.get(key))
                .and_then(Value::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let payload_version = a
            .get("AuthorizerPayloadFormatVersion")
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => {
                    let s = n.to_string();
                    if s.contains('.') {
                        s
                    } else {
                        format!("{s}.0")
                    }
                }
                _ => "2.0".to_string(),
            })
            .unwrap_or_else(|| "2.0".to_string());
        stack.authorizers.insert(
            name.to_string(),
            AuthorizerSpec {
                name: name.to_string(),
                function: function.clone(),
                identity_headers: list("Headers"),
                identity_query: list("QueryStrings"),
                simple_responses: a
                    .get("EnableSimpleResponses")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                payload_version,
            },
        );
    }
}

/// The tag name without `!`, and the tagged value; long forms (`{"Ref": x}`, `{"Fn::Sub": x}`) too.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            Some((tag.trim_start_matches('!').to_string(), &t.value))
        }
        Value::Mapping(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" {
                Some(("Ref".to_string(), inner))
            } else {
                k.strip_prefix("Fn::").map(|f| (f.to_string(), inner))
            }
        }
        _ => None,
    }
}

/// The logical id in `!Ref X`.
fn ref_target(v: &Value) -> Option<String> {
    match intrinsic(v)? {
        (tag, inner) if tag == "Ref" => inner.as_str().map(str::to_string),
        _ => None,
    }
}

/// The logical id in `!GetAtt X.Arn` / `[X, Arn]`.
fn getatt_target(v: &Value) -> Option<String> {
    let (tag, inner) = intrinsic(v)?;
    if tag != "GetAtt" {
        return None;
    }
    match inner {
        Value::String(s) => s.split('.').next().map(str::to_string),
        Value::Sequence(seq) => seq.first().and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

struct Resolver<'a> {
    doc: &'a Value,
    ctx: &'a ResolveContext,
}

impl<'a> Resolver<'a> {
    fn new(doc: &'a Value, ctx: &'a ResolveContext) -> Self {
        Self { doc, ctx }
    }

    fn resolve(&self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            _ => {
                let (tag, inner) = intrinsic(v)?;
                match tag.as_str() {
                    "Ref" => self.reference(inner.as_str()?),
                    "Sub" => self.sub(inner),
                    "GetAtt" => {
                        let (id, attr) = match inner {
                            Value::String(s) => s.split_once('.')?,
                            Value::Sequence(seq) => (seq.first()?.as_str()?, seq.get(1)?.as_str()?),
                            _ => return None,
                        };
                        self.get_att(id, attr)
                    }
                    "Join" => {
                        let seq = inner.as_sequence()?;
                        let delim = seq.first()?.as_str()?;
                        let parts = seq.get(1)?.as_sequence()?;
                        let parts: Option<Vec<String>> =
                            parts.iter().map(|p| self.resolve(p)).collect();
                        Some(parts?.join(delim))
                    }
                    _ => None,
                }
            }
        }
    }

    fn resource(&self, id: &str) -> Option<&'a Value> {
        self.doc.get("Resources")?.get(id)
    }

    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::Region" => return Some(self.ctx.region.clone()),
            "AWS::AccountId" => return Some(LOCAL_ACCOUNT_ID.to_string()),
            "AWS::StackName" => return Some("local".to_string()),
            "AWS::StackId" => {
                return Some(format!(
                    "arn:aws:cloudformation:{}:{LOCAL_ACCOUNT_ID}:stack/local/local",
                    self.ctx.region
                ))
            }
            "AWS::Partition" => return Some("aws".to_string()),
            "AWS::URLSuffix" => return Some("amazonaws.com".to_string()),
            "AWS::NoValue" => return None,
            _ => {}
        }
        if let Some(v) = self.ctx.parameters.get(name) {
            return Some(v.clone());
        }
        if let Some(p) = self.doc.get("Parameters").and_then(|p| p.get(name)) {
            return p.get("Default").and_then(|d| self.resolve(d));
        }
        let res = self.resource(name)?;
        let ty = res.get("Type").and_then(Value::as_str).unwrap_or_default();
        if ty == "AWS::Serverless::HttpApi" || ty == "AWS::ApiGatewayV2::Api" {
            return Some("local".to_string());
        }
        let props = res.get("Properties");
        for key in [
            "TableName",
            "Name",
            "QueueName",
            "FunctionName",
            "BucketName",
        ] {
            if let Some(v) = props.and_then(|p| p.get(key)).and_then(|v| self.resolve(v)) {
                return Some(v);
            }
        }
        Some(name.to_string())
    }

    fn get_att(&self, id: &str, attr: &str) -> Option<String> {
        let res = self.resource(id)?;
        let ty = res.get("Type").and_then(Value::as_str).unwrap_or_default();
        let region = &self.ctx.region;
        match (ty, attr) {
            ("AWS::Serverless::Function", "Arn") => Some(format!(
                "arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{}",
                binary_name(id, res)
            )),
            ("AWS::DynamoDB::Table", "Arn") => Some(format!(
                "arn:aws:dynamodb:{region}:{LOCAL_ACCOUNT_ID}:table/{}",
                self.reference(id)?
            )),
            ("AWS::SQS::Queue", "QueueName") => self.reference(id),
            _ => Some(format!("local:{id}.{attr}")),
        }
    }

    fn sub(&self, inner: &Value) -> Option<String> {
        let (template, vars) = match inner {
            Value::String(s) => (s.as_str(), None),
            Value::Sequence(seq) => (seq.first()?.as_str()?, seq.get(1)?.as_mapping()),
            _ => return None,
        };
        // The execute-api endpoint of the template's own HTTP API is the local front.
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = &after[..end];
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
                continue;
            }
            if let Some(v) = vars.and_then(|m| m.get(name)) {
                out.push_str(&self.resolve(v)?);
            } else if let Some((id, attr)) = name.split_once('.') {
                out.push_str(&self.get_att(id, attr)?);
            } else if self.is_http_api(name) && rest.starts_with(".execute-api.") {
                // https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix} -> the local front.
                let tail_end = rest
                    .find("${AWS::URLSuffix}")
                    .map(|i| i + "${AWS::URLSuffix}".len())
                    .or_else(|| rest.find(".com").map(|i| i + 4))?;
                rest = &rest[tail_end..];
                let trimmed = out
                    .strip_suffix("https://")
                    .or_else(|| out.strip_suffix("http://"))
                    .unwrap_or(&out)
                    .to_string();
                out = trimmed;
                out.push_str(&self.ctx.api_url);
            } else {
                out.push_str(&self.reference(name)?);
            }
        }
        out.push_str(rest);
        Some(out)
    }

    fn is_http_api(&self, id: &str) -> bool {
        self.resource(id)
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "AWS::Serverless::HttpApi" || t == "AWS::ApiGatewayV2::Api")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"
Parameters:
  AppId:
    Type: String
  Gateway:
    Type: String
    Default: https://gw.example/gateway.do
  Cap:
    Type: Number
    Default: 4
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    LoggingConfig:
      LogFormat: JSON
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        APP_ID: !Ref AppId
        GATEWAY: !Ref Gateway
        CALLBACK: !Sub "${Base}/cb"
        API: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/x"
        ODD: !If [Cond, a, b]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: rewards
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: AWS_IAM
        Authorizers:
          Sess:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity:
              Headers: [Authorization]
  EchoFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: echo-bin
    Properties:
      Timeout: 2
      ReservedConcurrentExecutions: !Ref Cap
      Environment:
        Variables:
          EXTRA: "1"
          ARN: !GetAtt AuthFunction.Arn
      Events:
        A:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: get
            Path: /a/{id}
        B:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: POST
            Path: /b
            Auth:
              Authorizer: NONE
        C:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: GET
            Path: /c
            Auth:
              Authorizer: Sess
        Sched:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
  AuthFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 1
"#;

    fn ctx() -> ResolveContext {
        let mut c = ResolveContext::default();
        c.parameters
            .insert("Base".into(), "http://127.0.0.1:1".into());
        c.api_url = "http://127.0.0.1:3000".into();
        c
    }

    #[test]
    fn parses_functions_with_globals_and_tags() {
        let s = parse(MINI, &ctx()).unwrap();
        assert_eq!(s.functions.len(), 2);
        let echo = s.function("echo-bin").unwrap();
        assert_eq!(echo.logical_id, "EchoFunction");
        assert_eq!(echo.timeout_secs, 2);
        assert_eq!(echo.memory_mb, 256);
        assert_eq!(echo.reserved_concurrency, Some(4));
        assert_eq!(echo.log_format.as_deref(), Some("JSON"));
        assert_eq!(echo.env["TABLE_NAME"], "rewards");
        assert_eq!(echo.env["GATEWAY"], "https://gw.example/gateway.do");
        assert_eq!(echo.env["CALLBACK"], "http://127.0.0.1:1/cb");
        assert_eq!(echo.env["API"], "http://127.0.0.1:3000/x");
        assert_eq!(echo.env["EXTRA"], "1");
        assert_eq!(
            echo.env["ARN"],
            "arn:aws:lambda:us-east-1:123456789012:function:auth"
        );
        assert!(!echo.env.contains_key("APP_ID"), "no default, no override");
        assert!(!echo.env.contains_key("ODD"));
        assert!(s.warnings.iter().any(|w| w.contains("ODD")));
        let auth = s.function("AuthFunction").unwrap();
        assert_eq!(auth.name, "auth");
        assert_eq!(auth.timeout_secs, 1);
        assert_eq!(auth.reserved_concurrency, None);
    }

    #[test]
    fn parses_routes_and_auth() {
        let s = parse(MINI, &ctx()).unwrap();
        assert_eq!(s.routes.len(), 3);
        assert_eq!(s.routes[0].method, "GET");
        assert_eq!(s.routes[0].path, "/a/{id}");
        assert_eq!(s.routes[0].auth, AuthKind::Iam, "the API's default");
        assert_eq!(s.routes[0].route_key(), "GET /a/{id}");
        assert_eq!(s.routes[1].auth, AuthKind::None);
        assert_eq!(s.routes[2].auth, AuthKind::Lambda("Sess".into()));
        let a = &s.authorizers["Sess"];
        assert_eq!(a.function, "auth");
        assert_eq!(a.identity_headers, vec!["Authorization".to_string()]);
        assert!(a.simple_responses);
        assert_eq!(a.payload_version, "2.0");
    }

    #[test]
    fn rejects_non_yaml_and_missing_resources() {
        assert!(parse("a: [", &ctx()).is_err());
        assert!(parse("Parameters: {}", &ctx()).is_err());
    }

    #[test]
    fn kebab_case_fallback() {
        assert_eq!(kebab("TemplateCreator"), "template-creator");
        assert_eq!(kebab("Session"), "session");
    }
}
