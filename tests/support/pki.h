#pragma once

// A throw-away PKI made with the openssl command at test time, for every TLS test (broker
// listeners, aiot's MQTT client, HTTPS). Header-only.
//
// CAs "ca" and "otherca"; server certificates "server" (by ca) and "server2" (by otherca) for
// localhost / 127.0.0.1; client certificates "alice" (by ca), "mallory" (CN alice, by otherca),
// "expired" (CN alice, by ca, expired yesterday) and "sanonly" (no CN, SAN DNS:bob.devices, by
// ca). Each as <name>.pem and <name>.key in the directory.
#include <string>

#include "tests/support/run.h"

namespace aiot::test_support {

inline std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Makes the PKI above in `dir`; exit code 0 on success, else what openssl said.
inline RunResult MakePki(const std::string& dir) {
  const std::string script = R"(set -e; cd ')" + dir + R"('
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1.key"; }
ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$1"; }
cert() {  # name subject ca days extension
  key "$1"; openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
  printf '%s\n' "$5" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" \
    -days "$4" -extfile "$1.ext"
}
ca ca; ca otherca
cert server /CN=localhost ca 2 'subjectAltName=DNS:localhost,IP:127.0.0.1'
cert server2 /CN=localhost otherca 2 'subjectAltName=DNS:localhost,IP:127.0.0.1'
cert alice /CN=alice ca 2 'extendedKeyUsage=clientAuth'
cert mallory /CN=alice otherca 2 'extendedKeyUsage=clientAuth'
cert expired /CN=alice ca -1 'extendedKeyUsage=clientAuth'
cert sanonly /O=aiot ca 2 'subjectAltName=DNS:bob.devices'
)";
  return RunCommand("bash -c " + ShellQuote(script));
}

}  // namespace aiot::test_support
