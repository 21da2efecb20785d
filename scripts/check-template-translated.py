#!/usr/bin/env python3
"""Checks template.yaml as AWS sees it: translated by samtranslator (the translator `sam validate` and
CloudFormation's SAM transform use), then asserted resource by resource. Each failure names the resource.

What real AWS enforces and the local stack (moto, local-stack) does not:
  - API Gateway needs a resource-policy permission to invoke every route's function and the Lambda
    authorizer (SAM adds none for an HTTP API authorizer unless EnableFunctionDefaultPermissions);
  - EventBridge Scheduler invokes asynchronously: only an EventInvokeConfig with an on-failure destination
    keeps a failed run (the schedule's DLQ sees delivery failures only);
  - an alarm without an action pages nobody;
  - reserved concurrency needs 100 unreserved executions left (new accounts have 10 or 50);
  - a fixed secret name collides with a second stack or a re-create;
  - the ledger table must survive a stack or console delete.

Usage: check-template-translated.py [TEMPLATE]   (run with the python of .venv-sam: samtranslator, samcli)
Exit status 1 with one line per failure.
"""

import copy
import fnmatch
import os
import re
import sys

from samcli.yamlhelper import yaml_parse
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator

# Values for the parameters without a default (what a deploy must give).
REQUIRED_PARAMETERS = {"AlipayAppId": "2021000000000001", "PublicBaseUrl": "https://rewards.example.com"}
# The launch plan the defaults are sized for (docs/deploy.md §0).
LAUNCH_CLAIMS_PER_MINUTE = 10_000
# Routes that move money: only a narrower role than the read routes may call them.
MONEY_ROUTES = {
    ("POST", "/envelopes"),
    ("POST", "/payouts/{outBizNo}/retry"),
    ("POST", "/campaigns"),
    ("POST", "/campaigns/{crowdNo}/status"),
}
TAG_KEY = "Application"
TAGGED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::Lambda::Function",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
}


def translate(path):
    with open(path, encoding="utf-8") as f:
        sam = yaml_parse(f.read())
    original = copy.deepcopy(sam)
    # As `sam validate` does: the code location is not the translator's concern.
    for res in sam.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            res.setdefault("Properties", {})["CodeUri"] = "s3://placeholder/code.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    out = Translator(managed_policy_map=None, sam_parser=parser.Parser()).translate(
        sam_template=sam, parameter_values=dict(REQUIRED_PARAMETERS), get_managed_policy_map=lambda: {}
    )
    return original, out


class Template:
    """The translated template with its parameters at their defaults (a deploy that sets only the required ones)."""

    def __init__(self, original, out):
        self.original = original
        self.out = out
        self.resources = out.get("Resources", {})
        self.params = {}
        for name, p in out.get("Parameters", {}).items():
            if "Default" in p:
                self.params[name] = str(p["Default"])
        self.params.update(REQUIRED_PARAMETERS)
        self.params["AWS::Region"] = "ap-southeast-1"
        self.conditions = out.get("Conditions", {})

    def of_type(self, ty):
        return [(k, v) for k, v in self.resources.items() if v.get("Type") == ty]

    def exists(self, logical_id):
        res = self.resources.get(logical_id)
        if res is None:
            return False
        cond = res.get("Condition")
        return cond is None or self.condition(cond)

    def condition(self, name):
        return bool(self.evaluate(self.conditions[name]))

    def evaluate(self, expr):
        """A condition expression or a scalar, with the default parameters."""
        if isinstance(expr, dict) and len(expr) == 1:
            (k, v), = expr.items()
            if k == "Ref":
                return self.params.get(v, v)
            if k == "Condition":
                return self.condition(v)
            if k == "Fn::Equals":
                return str(self.evaluate(v[0])) == str(self.evaluate(v[1]))
            if k == "Fn::Not":
                return not self.evaluate(v[0])
            if k == "Fn::And":
                return all(self.evaluate(x) for x in v)
            if k == "Fn::Or":
                return any(self.evaluate(x) for x in v)
        return expr

    def resolve(self, v):
        """`Fn::If` taken with the default parameters; `AWS::NoValue` dropped (returns None)."""
        if isinstance(v, dict):
            if set(v) == {"Fn::If"}:
                cond, yes, no = v["Fn::If"]
                return self.resolve(yes if self.condition(cond) else no)
            if v == {"Ref": "AWS::NoValue"}:
                return None
            out = {}
            for k, x in v.items():
                r = self.resolve(x)
                if r is not None:
                    out[k] = r
            return out
        if isinstance(v, list):
            return [r for r in (self.resolve(x) for x in v) if r is not None]
        return v

    def prop(self, logical_id, *path):
        node = self.resolve(self.resources[logical_id].get("Properties", {}))
        for key in path:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node


def refs(v):
    """Every logical id (or parameter) a value refers to: Ref, Fn::GetAtt, ${X} / ${X.Attr} in Fn::Sub."""
    found = set()

    def walk(x):
        if isinstance(x, dict):
            for k, y in x.items():
                if k == "Ref" and isinstance(y, str):
                    found.add(y)
                elif k == "Fn::GetAtt":
                    found.add(y[0] if isinstance(y, list) else y.split(".")[0])
                elif k == "Fn::Sub":
                    text, names = (y, {}) if isinstance(y, str) else (y[0], y[1])
                    for name in re.findall(r"\$\{([^}!][^}]*)\}", text):
                        if name in names:
                            walk(names[name])
                        else:
                            found.add(name.split(".")[0])
                    walk(names)
                else:
                    walk(y)
        elif isinstance(x, list):
            for y in x:
                walk(y)

    walk(v)
    return found


def sub_text(v):
    """The text of a Fn::Sub (with its variables' literal values substituted), or a plain string."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and "Fn::Sub" in v:
        y = v["Fn::Sub"]
        text, names = (y, {}) if isinstance(y, str) else (y[0], y[1])
        for name, value in names.items():
            if isinstance(value, str):
                text = text.replace("${" + name + "}", value)
        return text
    return ""


def as_list(v):
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


class Checks:
    def __init__(self, t):
        self.t = t
        self.failures = []

    def fail(self, resource, message):
        self.failures.append(f"{resource}: {message}")

    # -------------------------------------------------------------- routes and authorizers
    def api_routes(self):
        """(api, method, path, function, security) for every route of every HTTP API's OpenAPI body."""
        routes = []
        for api, res in self.t.of_type("AWS::ApiGatewayV2::Api"):
            body = res.get("Properties", {}).get("Body", {})
            for path, methods in body.get("paths", {}).items():
                for method, op in methods.items():
                    if not isinstance(op, dict):
                        continue
                    uri = op.get("x-amazon-apigateway-integration", {}).get("uri")
                    fns = [r for r in refs(uri) if self.t.resources.get(r, {}).get("Type") == "AWS::Lambda::Function"]
                    security = [name for s in op.get("security", []) for name in s]
                    m = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                    for fn in fns:
                        routes.append((api, m, path, fn, security))
        return routes

    def authorizers(self):
        """(api, name, function, has_credentials) for every Lambda authorizer."""
        found = []
        for api, res in self.t.of_type("AWS::ApiGatewayV2::Api"):
            schemes = res.get("Properties", {}).get("Body", {}).get("components", {}).get("securitySchemes", {})
            for name, scheme in schemes.items():
                auth = scheme.get("x-amazon-apigateway-authorizer")
                if not auth or "authorizerUri" not in auth:
                    continue
                fns = [r for r in refs(auth["authorizerUri"]) if self.t.resources.get(r, {}).get("Type") == "AWS::Lambda::Function"]
                for fn in fns:
                    found.append((api, name, fn, "authorizerCredentials" in auth))
        return found

    def permissions_for(self, fn, api):
        """The SourceArn texts of the permissions that let API Gateway invoke `fn` from `api`."""
        arns = []
        for pid, p in self.t.of_type("AWS::Lambda::Permission"):
            if not self.t.exists(pid):
                continue
            props = p.get("Properties", {})
            if fn not in refs(props.get("FunctionName")):
                continue
            if props.get("Principal") != "apigateway.amazonaws.com" or props.get("Action") != "lambda:InvokeFunction":
                continue
            if api not in refs(props.get("SourceArn")):
                continue
            arns.append(sub_text(props.get("SourceArn")))
        return arns

    def check_invoke_permissions(self):
        for api, method, path, fn, _ in self.api_routes():
            arns = self.permissions_for(fn, api)
            if not any(self._arn_covers(a, method, path) for a in arns):
                self.fail(fn, f"no AWS::Lambda::Permission lets apigateway.amazonaws.com invoke it for {method} {path} of {api}")
        auths = self.authorizers()
        if not auths:
            self.fail("HttpApi", "no Lambda authorizer found in the translated OpenAPI (expected SessionAuthorizer)")
        for api, name, fn, has_credentials in auths:
            if has_credentials:
                continue
            if not self.permissions_for(fn, api):
                self.fail(
                    fn,
                    f"authorizer {name} of {api}: no AWS::Lambda::Permission for apigateway.amazonaws.com with this API's "
                    "SourceArn (set EnableFunctionDefaultPermissions: true or a FunctionInvokeRole)",
                )

    @staticmethod
    def _arn_covers(arn, method, path):
        # arn: arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${__ApiId__}/<stage>/<METHOD>/<path>
        tail = arn.split(":")[-1]
        parts = tail.split("/", 3)
        if len(parts) < 3:
            return False
        _, _stage, m = parts[:3]
        rest = "/" + parts[3] if len(parts) > 3 else "/"
        route_path = re.sub(r"\{[^}]+\}", "*", path)
        return fnmatch.fnmatchcase(method, m.replace("ANY", "*")) and fnmatch.fnmatchcase(route_path, rest)

    # -------------------------------------------------------------- async invocations
    def async_targets(self):
        """Functions invoked asynchronously (Scheduler schedules, EventBridge rules), with who invokes them."""
        targets = {}
        for sid, s in self.t.of_type("AWS::Scheduler::Schedule"):
            arn = s.get("Properties", {}).get("Target", {}).get("Arn")
            for r in refs(arn):
                if self.t.resources.get(r, {}).get("Type") == "AWS::Lambda::Function":
                    targets.setdefault(r, []).append(sid)
        for rid, rule in self.t.of_type("AWS::Events::Rule"):
            for target in rule.get("Properties", {}).get("Targets", []):
                for r in refs(target.get("Arn")):
                    if self.t.resources.get(r, {}).get("Type") == "AWS::Lambda::Function":
                        targets.setdefault(r, []).append(rid)
        return targets

    def check_async_failures(self):
        configs = {}
        for cid, c in self.t.of_type("AWS::Lambda::EventInvokeConfig"):
            for r in refs(c.get("Properties", {}).get("FunctionName")):
                configs[r] = cid
        for fn, sources in sorted(self.async_targets().items()):
            cid = configs.get(fn)
            if cid is None:
                self.fail(fn, f"invoked asynchronously by {', '.join(sources)} but has no EventInvokeConfig: a failed run is dropped")
                continue
            retries = self.t.prop(cid, "MaximumRetryAttempts")
            if not isinstance(retries, int) or not 0 <= retries <= 2:
                self.fail(cid, f"MaximumRetryAttempts must be set, 0..2 (is {retries!r})")
            dest = self.t.prop(cid, "DestinationConfig", "OnFailure", "Destination")
            queues = [r for r in refs(dest) if self.t.resources.get(r, {}).get("Type") == "AWS::SQS::Queue"]
            if not queues:
                self.fail(cid, "no on-failure destination that is an SQS queue of this template")

    # -------------------------------------------------------------- alarms
    def alarm_metrics(self, aid):
        """(namespace, metric, dimension refs, statistic) of an alarm, plain or metric math."""
        props = self.t.prop(aid)
        found = []

        def dims(d):
            return {x.get("Name"): x.get("Value") for x in d or []}

        if props.get("MetricName"):
            found.append((props.get("Namespace"), props["MetricName"], dims(props.get("Dimensions")), props.get("ExtendedStatistic") or props.get("Statistic")))
        for m in props.get("Metrics", []) or []:
            stat = m.get("MetricStat")
            if stat:
                metric = stat.get("Metric", {})
                found.append((metric.get("Namespace"), metric.get("MetricName"), dims(metric.get("Dimensions")), stat.get("Stat")))
        return found

    def check_alarms(self):
        alarms = [aid for aid, _ in self.t.of_type("AWS::CloudWatch::Alarm") if self.t.exists(aid)]
        for aid in alarms:
            actions = self.t.prop(aid, "AlarmActions") or []
            if not actions:
                self.fail(aid, "no AlarmActions: it pages nobody")
            elif not any(self.t.resources.get(r, {}).get("Type") == "AWS::SNS::Topic" for r in refs(actions)):
                self.fail(aid, "AlarmActions name no SNS topic of this template")
        metrics = [(aid, m) for aid in alarms for m in self.alarm_metrics(aid)]

        def watched(namespace, names, dim, target):
            return any(
                ns == namespace and name in names and target in refs(d.get(dim))
                for _, (ns, name, d, _) in metrics
            )

        for fn, _ in self.t.of_type("AWS::Lambda::Function"):
            for metric in ("Errors", "Throttles"):
                if not watched("AWS/Lambda", {metric}, "FunctionName", fn):
                    self.fail(fn, f"no alarm on AWS/Lambda {metric}")
        for api, _ in self.t.of_type("AWS::ApiGatewayV2::Api"):
            if not watched("AWS/ApiGateway", {"5xx", "5XXError"}, "ApiId", api):
                self.fail(api, "no alarm on the API's 5xx")
            if not any(
                ns == "AWS/ApiGateway" and name == "Latency" and api in refs(d.get("ApiId")) and str(stat).lower() == "p99"
                for _, (ns, name, d, stat) in metrics
            ):
                self.fail(api, "no alarm on the API's p99 latency")
        for table, _ in self.t.of_type("AWS::DynamoDB::Table"):
            if not watched("AWS/DynamoDB", {"ThrottledRequests", "ReadThrottleEvents", "WriteThrottleEvents"}, "TableName", table):
                self.fail(table, "no alarm on DynamoDB throttling")
        for q, _ in self.t.of_type("AWS::SQS::Queue"):
            if not watched("AWS/SQS", {"ApproximateNumberOfMessagesVisible"}, "QueueName", q):
                self.fail(q, "no alarm on the queue's depth")
        for metric in ("UnresolvedPayouts", "PayoutsNeedingAttention"):
            if not any(ns == "Rewards" and name == metric for _, (ns, name, _, _) in metrics):
                self.fail("Rewards/" + metric, "no alarm on this metric")

    # -------------------------------------------------------------- data, logs, concurrency, secrets, keys
    def check_table(self):
        for table, res in self.t.of_type("AWS::DynamoDB::Table"):
            if self.t.prop(table, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") is not True:
                self.fail(table, "point-in-time recovery is off")
            if self.t.prop(table, "DeletionProtectionEnabled") is not True:
                self.fail(table, "DeletionProtectionEnabled is not true")
            for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
                if res.get(policy) != "Retain":
                    self.fail(table, f"{policy} is not Retain")

    def check_logs(self):
        for fn, _ in self.t.of_type("AWS::Lambda::Function"):
            group = [r for r in refs(self.t.prop(fn, "LoggingConfig", "LogGroup")) if self.t.resources.get(r, {}).get("Type") == "AWS::Logs::LogGroup"]
            if not group:
                self.fail(fn, "LoggingConfig.LogGroup names no log group of this template (Lambda's default group never expires)")
            elif not self.t.prop(group[0], "RetentionInDays"):
                self.fail(group[0], "no RetentionInDays")

    def check_concurrency(self):
        for fn, _ in self.t.of_type("AWS::Lambda::Function"):
            reserved = self.t.prop(fn, "ReservedConcurrentExecutions")
            if reserved is not None:
                self.fail(fn, f"reserves concurrency by default ({reserved!r}): the stack fails to create on an account with a quota below 100 + the reservation")

    def check_secrets(self):
        for sid, _ in self.t.of_type("AWS::SecretsManager::Secret"):
            name = self.t.prop(sid, "Name")
            if name is not None and "AWS::StackName" not in refs(name) and "${AWS::StackName}" not in sub_text(name):
                self.fail(sid, f"fixed secret name {self.t.evaluate(name)!r}: a second stack or a re-create collides (derive it from AWS::StackName or let CloudFormation name it)")

    def function_roles(self):
        roles = {}
        for fn, _ in self.t.of_type("AWS::Lambda::Function"):
            for r in refs(self.t.prop(fn, "Role")):
                roles[r] = fn
        return roles

    def check_keys(self):
        keys = [k for k, _ in self.t.of_type("AWS::KMS::Key")]
        if not keys:
            self.fail("AWS::KMS::Key", "no customer-managed KMS key in the template")
        # The Alipay keys secret: the one the functions find in ALIPAY_KEYS_SECRET_ID.
        secrets = set()
        for fn, _ in self.t.of_type("AWS::Lambda::Function"):
            secrets |= refs((self.t.prop(fn, "Environment", "Variables") or {}).get("ALIPAY_KEYS_SECRET_ID"))
        roles = self.function_roles()
        for sid in sorted(s for s in secrets if self.t.resources.get(s, {}).get("Type") == "AWS::SecretsManager::Secret"):
            key = [r for r in refs(self.t.prop(sid, "KmsKeyId")) if r in keys]
            if not key:
                self.fail(sid, "not encrypted with a customer-managed KMS key of this template (KmsKeyId)")
                continue
            for st in as_list(self.t.prop(key[0], "KeyPolicy", "Statement")):
                actions = as_list(st.get("Action"))
                if st.get("Effect") != "Allow" or not any(a in ("kms:*", "*", "kms:Decrypt") or a.startswith("kms:Decrypt") for a in actions):
                    continue
                principals = st.get("Principal")
                aws = as_list(principals.get("AWS")) if isinstance(principals, dict) else [principals]
                for p in aws:
                    named = refs(p)
                    if not named or not named <= set(roles):
                        self.fail(key[0], f"statement {st.get('Sid', '?')} lets {p!r} decrypt: only the functions' roles may")

    # -------------------------------------------------------------- who can call the IAM routes
    def check_operator_roles(self):
        iam_routes = {(m, p) for _, m, p, _, sec in self.api_routes() if "AWS_IAM" in sec}
        grants = {}  # policy -> set of (method, path) it grants
        for pid, _ in self.t.of_type("AWS::IAM::ManagedPolicy"):
            for st in as_list(self.t.prop(pid, "PolicyDocument", "Statement")):
                if st.get("Effect") != "Allow" or "execute-api:Invoke" not in as_list(st.get("Action")):
                    continue
                for resource in as_list(st.get("Resource")):
                    text = sub_text(resource)
                    tail = text.split(":")[-1].split("/", 3)
                    if len(tail) < 4:
                        self.fail(pid, f"execute-api:Invoke on {text!r} is not one route")
                        continue
                    for m, p in iam_routes:
                        if fnmatch.fnmatchcase(m, tail[2]) and fnmatch.fnmatchcase(re.sub(r"\{[^}]+\}", "*", p), "/" + tail[3]):
                            grants.setdefault(pid, set()).add((m, p))
        if not grants:
            self.fail("AWS::IAM::ManagedPolicy", "no managed policy grants execute-api:Invoke on the IAM routes (operator role)")
            return
        covered = set().union(*grants.values())
        for m, p in sorted(iam_routes - covered):
            self.fail("HttpApi", f"IAM route {m} {p} is granted by no operator policy")
        for pid, routes in grants.items():
            if routes & MONEY_ROUTES and routes - MONEY_ROUTES:
                self.fail(pid, f"grants money routes and other routes together: {sorted(routes)}")
        outputs = self.t.out.get("Outputs", {})
        for pid in grants:
            if not any(pid in refs(o.get("Value")) for o in outputs.values()):
                self.fail(pid, "not in the stack's outputs")

    # -------------------------------------------------------------- edge
    def check_edge(self):
        for did, _ in self.t.of_type("AWS::CloudFront::Distribution"):
            raw = self.t.resources[did].get("Properties", {}).get("DistributionConfig", {})
            price = raw.get("PriceClass")
            if isinstance(price, dict) and "Ref" in price:
                price_default = self.t.params.get(price["Ref"])
            else:
                self.fail(did, "PriceClass is not a parameter")
                price_default = price
            if price_default == "PriceClass_100":
                self.fail(did, "PriceClass defaults to PriceClass_100 (North America and Europe only)")
            behaviors = [raw.get("DefaultCacheBehavior", {})] + raw.get("CacheBehaviors", [])
            for b in behaviors:
                policies = [r for r in refs(b.get("CachePolicyId")) if self.t.resources.get(r, {}).get("Type") == "AWS::CloudFront::CachePolicy"]
                headers = []
                for cp in policies:
                    cfg = self.t.resources[cp]["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
                    headers += cfg.get("HeadersConfig", {}).get("Headers", [])
                if "Authorization" not in headers:
                    self.fail(did, "a cache behavior's cache policy does not forward Authorization (CloudFront drops it otherwise)")
        acls = [a for a, _ in self.t.of_type("AWS::WAFv2::WebACL") if self.t.resources[a].get("Properties", {}).get("Scope") == "CLOUDFRONT"]
        if acls:
            rules = self.t.out.get("Rules", {})
            enforced = any(
                "AWS::Region" in refs(a.get("Assert")) and "us-east-1" in repr(a.get("Assert"))
                for r in rules.values()
                for a in r.get("Assertions", [])
            )
            if not enforced:
                self.fail(acls[0], "CLOUDFRONT-scope web ACL without a Rules assertion that the region is us-east-1")

    # -------------------------------------------------------------- launch limits, tags
    def check_throttles(self):
        for stage, _ in self.t.of_type("AWS::ApiGatewayV2::Stage"):
            raw = self.t.resources[stage].get("Properties", {})
            settings = [("$default route", raw.get("DefaultRouteSettings", {}))] + list((raw.get("RouteSettings") or {}).items())
            for route, s in settings:
                for key in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
                    v = s.get(key)
                    if v is None:
                        continue
                    if not (isinstance(v, dict) and "Ref" in v):
                        self.fail(stage, f"{route} {key} is a fixed {v!r}, not a parameter")
                        continue
                    if route == "GET /alipay/pass-callback" and key == "ThrottlingRateLimit":
                        rate = float(self.t.params.get(v["Ref"], 0))
                        if rate < LAUNCH_CLAIMS_PER_MINUTE / 60:
                            self.fail(stage, f"{route} rate default {rate}/s is below the launch plan's {LAUNCH_CLAIMS_PER_MINUTE}/minute")

    def check_tags(self):
        for ty in sorted(TAGGED_TYPES):
            for rid, _ in self.t.of_type(ty):
                tags = self.t.prop(rid, "Tags") or []
                keys = {t.get("Key") for t in tags} if isinstance(tags, list) else set(tags)
                if TAG_KEY not in keys:
                    self.fail(rid, f"no {TAG_KEY} tag")

    def run(self):
        for check in (
            self.check_invoke_permissions,
            self.check_async_failures,
            self.check_alarms,
            self.check_table,
            self.check_logs,
            self.check_concurrency,
            self.check_secrets,
            self.check_keys,
            self.check_operator_roles,
            self.check_edge,
            self.check_throttles,
            self.check_tags,
        ):
            check()
        return self.failures


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    original, out = translate(path)
    failures = Checks(Template(original, out)).run()
    for f in failures:
        print(f"check-template: {path}: {f}", file=sys.stderr)
    if failures:
        print(f"check-template: {len(failures)} failure(s) in the translated {path}", file=sys.stderr)
        sys.exit(1)
    print(f"check-template: translated {path} passes the deploy checks", file=sys.stderr)


if __name__ == "__main__":
    main()
