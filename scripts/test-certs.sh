#!/usr/bin/env bash
# Makes the certificates the TLS tests use, with the openssl CLI, into DIR:
#   ca.crt ca.key            a test CA
#   server.crt server.key    signed by it, for localhost and 127.0.0.1 (RSA: TLS 1.3's RSA-PSS path)
#   expired.crt              the same key, its validity over a day ago
#   client.crt client.key    signed by the CA, for clientAuth (mutual TLS)
#   wrong-ca.crt             another CA, which signed none of them
# Usage: scripts/test-certs.sh DIR. Test material only: nothing here is secret.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
ca_ext=(-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign")
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -subj /CN=cpipe-test-ca -days 30 "${ca_ext[@]}" 2>/dev/null
openssl req -x509 "${ec[@]}" -keyout wrong-ca.key -out wrong-ca.crt -subj /CN=cpipe-wrong-ca -days 30 "${ca_ext[@]}" \
  2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext
printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >client.ext
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
openssl req "${ec[@]}" -keyout client.key -out client.csr -subj /CN=cpipe-test-client 2>/dev/null
sign() { # csr, out, days, extfile
  openssl x509 -req -in "$1" -CA ca.crt -CAkey ca.key -CAcreateserial -days "$3" -extfile "$4" -out "$2" 2>/dev/null
}
sign server.csr server.crt 30 server.ext
sign server.csr expired.crt -1 server.ext
sign client.csr client.crt 30 client.ext
rm -f ./*.csr ./*.ext ca.srl wrong-ca.key
