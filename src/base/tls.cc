#include "base/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/errc.h"

namespace aiot::tls {

namespace ssl = boost::asio::ssl;

namespace {

// "tls.<what> <path>: <OpenSSL's reason>".
Status FileError(const std::string& what, const std::string& path, boost::system::error_code ec) {
  return Status(errc::invalid_argument, "tls." + what + " " + path + ": " + ec.message());
}

void CheckReadable(config::Checks& checks, const char* key, const std::string& path) {
  if (!path.empty() && ::access(path.c_str(), R_OK) != 0) {
    checks.Fail(key, "cannot read " + path + ": " + std::strerror(errno));
  }
}

void SetCommon(ssl::context& ctx, Version min_version) {
  boost::system::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::single_dh_use,
                  ec);
  SSL_CTX_set_min_proto_version(ctx.native_handle(),
                                min_version == Version::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
}

// Certificate chain and key, and that they belong together.
Status UseCertificate(ssl::context& ctx, const std::string& cert, const std::string& key) {
  boost::system::error_code ec;
  if (ctx.use_certificate_chain_file(cert, ec); ec) return FileError("cert", cert, ec);
  if (ctx.use_private_key_file(key, ssl::context::pem, ec); ec) return FileError("key", key, ec);
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    return Status(errc::invalid_argument,
                  "tls.key " + key + " does not belong to tls.cert " + cert);
  }
  return {};
}

// The files of either side: each readable when set; a certificate only with its key.
void CheckFiles(config::Checks& checks, const std::string& ca, const std::string& cert,
                const std::string& key) {
  CheckReadable(checks, "ca", ca);
  CheckReadable(checks, "cert", cert);
  CheckReadable(checks, "key", key);
  if (cert.empty() != key.empty())
    checks.Fail(cert.empty() ? "cert" : "key", "cert and key go together");
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

void Describe(config::Visitor& v, ServerConfig& c) {
  v.Field("cert", c.cert, "PEM server certificate (chain); re-read on SIGHUP");
  v.Field("key", c.key, "PEM private key of `cert`; re-read on SIGHUP");
  v.Field("ca", c.ca, "PEM CA certificate(s) client certificates must chain to");
  v.Field("require_client_cert", c.require_client_cert,
          "mutual TLS: refuse clients without a valid certificate signed by `ca`");
  v.Field("min_version", c.min_version, kVersionNames, "lowest TLS version: 1.2 or 1.3");
}

void Validate(config::Checks& checks, const ServerConfig& c) {
  CheckFiles(checks, c.ca, c.cert, c.key);
  if (c.require_client_cert && c.ca.empty()) {
    checks.Fail("ca", "require_client_cert needs the CA that signs client certificates");
  }
}

Result<std::shared_ptr<ssl::context>> MakeServerContext(const ServerConfig& c) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SetCommon(*ctx, c.min_version);
  SSL_CTX* native = ctx->native_handle();
  if (Status s = UseCertificate(*ctx, c.cert, c.key); !s.ok()) return s;
  if (!c.ca.empty()) {
    boost::system::error_code ec;
    if (ctx->load_verify_file(c.ca, ec); ec) return FileError("ca", c.ca, ec);
    // Tells clients which CA their certificate must chain to.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(c.ca.c_str()); names != nullptr) {
      SSL_CTX_set_client_CA_list(native, names);
    }
  }
  if (c.require_client_cert) {
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  // Session resumption with client verification needs a session id context.
  static constexpr unsigned char kSessionContext[] = "aiot";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

void Describe(config::Visitor& v, ClientConfig& c) {
  v.Field("ca", c.ca,
          "PEM CA certificate(s) the server certificate must chain to; empty = the system's store");
  v.Field("cert", c.cert, "PEM client certificate for servers requiring mutual TLS; empty = none");
  v.Field("key", c.key, "PEM private key of `cert`");
  v.Field("server_name", c.server_name,
          "name the server certificate must carry (and SNI); empty = the url's host");
  v.Field("verify_server_name", c.verify_server_name,
          "check the server certificate's name; the chain is always verified");
  v.Field("min_version", c.min_version, kVersionNames, "lowest TLS version: 1.2 or 1.3");
}

void Validate(config::Checks& checks, const ClientConfig& c) {
  CheckFiles(checks, c.ca, c.cert, c.key);
}

Result<std::shared_ptr<ssl::context>> MakeClientContext(const ClientConfig& c) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SetCommon(*ctx, c.min_version);
  boost::system::error_code ec;
  if (c.ca.empty()) {
    if (ctx->set_default_verify_paths(ec); ec) {
      return Status(errc::invalid_argument, "tls.ca: the system's CA store: " + ec.message());
    }
  } else if (ctx->load_verify_file(c.ca, ec); ec) {
    return FileError("ca", c.ca, ec);
  }
  if (!c.cert.empty()) {
    if (Status s = UseCertificate(*ctx, c.cert, c.key); !s.ok()) return s;
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

Status PrepareClient(SSL* ssl, const ClientConfig& c, const std::string& host) {
  const std::string& name = c.server_name.empty() ? host : c.server_name;
  const bool ip = IsIpAddress(name);
  if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
    ERR_clear_error();
    return Status(errc::invalid_argument, "tls: cannot send server name `" + name + "`");
  }
  if (!c.verify_server_name) return {};
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  if (ok != 1) {
    ERR_clear_error();
    return Status(errc::invalid_argument, "tls: cannot check server name `" + name + "`");
  }
  return {};
}

std::string HandshakeError(SSL* ssl, const boost::system::error_code& ec) {
  std::string msg = ec.message();
  if (ssl != nullptr) {
    if (const long v = SSL_get_verify_result(ssl); v != X509_V_OK) {
      msg += std::string(": ") + X509_verify_cert_error_string(v);
    }
  }
  return msg;
}

}  // namespace aiot::tls
