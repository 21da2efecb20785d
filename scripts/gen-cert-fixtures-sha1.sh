#!/usr/bin/env bash
# The SHA-1 chain of the certificate-mode fixtures: a root signed with sha1WithRSA and a leaf it signed
# with sha1WithRSA (Alipay's older root does this), for the chain check's tests. Run from the repo root.
set -euo pipefail
out=shared/alipay-protocol/tests/certs
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/root.key" -sha1 -days 7300 \
  -subj '/C=CN/O=Test Legacy/CN=Test Legacy SHA1 Root' -set_serial 77 -out "$out/sha1_root.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$tmp/leaf.key" -subj '/C=CN/O=Test Alipay/CN=Legacy Leaf' \
  -out "$tmp/leaf.csr" 2>/dev/null
openssl x509 -req -in "$tmp/leaf.csr" -CA "$out/sha1_root.pem" -CAkey "$tmp/root.key" -set_serial 78 \
  -days 3650 -sha1 -out "$out/sha1_leaf.pem" 2>/dev/null
