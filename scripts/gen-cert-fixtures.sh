#!/usr/bin/env bash
# Regenerates the certificate-mode fixtures (test-only CA hierarchy) and their expected SNs.
# Expected values come from the openssl CLI (RFC 2253 issuer, serial) + Python's md5, independently of
# our Rust code. Run from the repo root; commit the results.
set -euo pipefail
out=shared/alipay-protocol/tests/certs
keys=tests/vectors/keys
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$out"
subj_root='/C=CN/O=Test Financial/OU=Certification Authority/CN=Test Root CA R1'
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/root.key" -sha256 -days 7300 -subj "$subj_root" -set_serial 0x00ff01 -out root_rsa256.pem 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ec.key" -sha256 -days 7300 -subj '/C=CN/O=Test Financial/CN=Test ECC Root' -set_serial 7 -out root_ec.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/root1.key" -sha1 -days 7300 -subj '/C=CN/O=Test\, Inc./OU=Legacy/CN=Test SHA1 Root' -set_serial 123456789012345678901234567890 -out root_rsa1.pem 2>/dev/null
cat root_rsa256.pem root_ec.pem root_rsa1.pem > root_bundle.pem
# Class 2 CA signs the Alipay public-key cert; Class 1 signs the app cert.
for class in 1 2; do
  openssl req -newkey rsa:2048 -nodes -keyout "$tmp/class$class.key" -subj "/C=CN/O=Test Financial/OU=Certification Authority/CN=Test Certification Authority Class $class R1" -out "$tmp/class$class.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$tmp/ca.ext"
  openssl x509 -req -in "$tmp/class$class.csr" -CA root_rsa256.pem -CAkey "$tmp/root.key" -set_serial "$((class + 100))" -days 3650 -sha256 -extfile "$tmp/ca.ext" -out "class$class.pem" 2>/dev/null
done
openssl req -new -key "../../../../$keys/alipay_private_pkcs8.pem" -subj '/C=CN/O=Test Alipay/OU=Alipay/CN=2088000000000001' -out "$tmp/alipay.csr"
openssl x509 -req -in "$tmp/alipay.csr" -CA class2.pem -CAkey "$tmp/class2.key" -set_serial 42665287695059973067612265679949416627 -days 3650 -sha256 -out alipay_cert.pem 2>/dev/null
openssl req -new -key "../../../../$keys/app_private_pkcs8.pem" -subj '/C=CN/O=Test Merchant/OU=Alipay/CN=2021000000000001' -out "$tmp/app.csr"
openssl x509 -req -in "$tmp/app.csr" -CA class1.pem -CAkey "$tmp/class1.key" -set_serial 0x2019091767145019 -days 3650 -sha256 -out app_cert.pem 2>/dev/null
sn() {
  local issuer serial
  issuer=$(openssl x509 -in "$1" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
  serial=$(openssl x509 -in "$1" -noout -serial | sed 's/^serial=//')
  python3 -c 'import hashlib,sys; print(hashlib.md5((sys.argv[1]+str(int(sys.argv[2],16))).encode()).hexdigest())' "$issuer" "$serial"
}
cat > expected.json <<JSON
{
  "app_cert_sn": "$(sn app_cert.pem)",
  "alipay_cert_sn": "$(sn alipay_cert.pem)",
  "alipay_root_cert_sn": "$(sn root_rsa256.pem)_$(sn root_rsa1.pem)",
  "app_cert_issuer_rfc2253": "$(openssl x509 -in app_cert.pem -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')",
  "root_rsa1_issuer_rfc2253": "$(openssl x509 -in root_rsa1.pem -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//' | sed 's/\\/\\\\/g')"
}
JSON
cat expected.json
# A legacy chain for the chain check: a SHA-1 signed root and a leaf it signed with SHA-1 (Alipay's
# older root signs with sha1WithRSA).
cd - >/dev/null
"$(dirname "$0")/gen-cert-fixtures-sha1.sh"
