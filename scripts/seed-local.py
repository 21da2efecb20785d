#!/usr/bin/env python3
"""Creates the local DynamoDB table and the secrets in the moto server (idempotent).

The table's keys, GSI, TTL and point-in-time recovery are read from template.yaml's RewardsTable, so the
template stays the one source of truth. Run with the project venv's python (boto3 comes with moto).

Environment: AWS_ENDPOINT_URL (the moto server), AWS_REGION, TABLE_NAME, ALIPAY_KEYS_SECRET_ID,
SESSION_KEY_SECRET_ID; the key files default to tests/vectors/keys.
"""
import base64
import json
import os
import secrets
import sys

import boto3
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short tags (!Ref, !Sub, ...) as plain values."""


def _any_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CfnLoader.add_multi_constructor("!", _any_tag)


def table_props(template_path):
    with open(template_path, encoding="utf-8") as f:
        doc = yaml.load(f, Loader=CfnLoader)
    for res in doc["Resources"].values():
        if res.get("Type") == "AWS::DynamoDB::Table":
            return res["Properties"]
    sys.exit("seed: no AWS::DynamoDB::Table in the template")


def main():
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    table = os.environ.get("TABLE_NAME", "rewards-local")
    keys_secret = os.environ.get("ALIPAY_KEYS_SECRET_ID", "rewards/alipay-keys")
    session_secret = os.environ.get("SESSION_KEY_SECRET_ID", "rewards/session-key")
    template = os.environ.get("TEMPLATE", os.path.join(ROOT, "template.yaml"))
    keys_dir = os.environ.get("KEYS_DIR", os.path.join(ROOT, "tests", "vectors", "keys"))
    kw = dict(endpoint_url=endpoint, region_name=region,
              aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
              aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    ddb = boto3.client("dynamodb", **kw)
    sm = boto3.client("secretsmanager", **kw)

    p = table_props(template)
    if table not in ddb.list_tables().get("TableNames", []):
        args = dict(
            TableName=table,
            AttributeDefinitions=p["AttributeDefinitions"],
            KeySchema=p["KeySchema"],
            BillingMode=p.get("BillingMode", "PAY_PER_REQUEST"),
        )
        if p.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        ddb.create_table(**args)
        ddb.get_waiter("table_exists").wait(TableName=table)
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"], "Enabled": True})
        if p.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})
        print(f"seed: created table {table}")
    else:
        print(f"seed: table {table} exists")

    def read(name):
        with open(os.path.join(keys_dir, name), encoding="utf-8") as f:
            return f.read()

    # The session-token HMAC key: base64 of 48 random bytes. It is the separate SessionKeySecret of
    # template.yaml, and also the keys secret's optional "session_key" field (read by rewards-app).
    session_key = base64.b64encode(secrets.token_bytes(48)).decode()
    values = {
        keys_secret: json.dumps({
            "app_private_key": read("app_private_pkcs8.pem"),
            "alipay_public_key": read("alipay_public_spki.pem"),
            "session_key": session_key,
        }),
        session_secret: session_key,
    }
    for name, value in values.items():
        try:
            sm.create_secret(Name=name, SecretString=value)
            print(f"seed: created secret {name}")
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=name, SecretString=value)
            print(f"seed: secret {name} updated")


if __name__ == "__main__":
    main()
