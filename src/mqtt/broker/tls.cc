#include "mqtt/broker/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/errc.h"

namespace aiot::mqtt::broker {

namespace ssl = boost::asio::ssl;

namespace {

// "<what> <path>: <OpenSSL's reason>".
Status TlsError(const std::string& what, const std::string& path, boost::system::error_code ec) {
  return Status(errc::invalid_argument, "tls." + what + " " + path + ": " + ec.message());
}

}  // namespace

Result<std::shared_ptr<ssl::context>> MakeServerTlsContext(const BrokerTlsConfig& c) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::single_dh_use,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(
      native, c.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  if (ctx->use_certificate_chain_file(c.cert, ec); ec) return TlsError("cert", c.cert, ec);
  if (ctx->use_private_key_file(c.key, ssl::context::pem, ec); ec) {
    return TlsError("key", c.key, ec);
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return Status(errc::invalid_argument,
                  "tls.key " + c.key + " does not belong to tls.cert " + c.cert);
  }
  if (!c.ca.empty()) {
    if (ctx->load_verify_file(c.ca, ec); ec) return TlsError("ca", c.ca, ec);
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
  static constexpr unsigned char kSessionContext[] = "aiot-mqtt";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  return ctx;
}

std::string PeerIdentity(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  std::string id;
  if (X509_NAME* subject = X509_get_subject_name(cert); subject != nullptr) {
    int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i >= 0) {
      ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
      unsigned char* utf8 = nullptr;
      int n = ASN1_STRING_to_UTF8(&utf8, data);
      if (n > 0) id.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
      OPENSSL_free(utf8);
    }
  }
  if (id.empty()) {
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names) && id.empty(); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_DNS || n->type == GEN_EMAIL || n->type == GEN_URI) {
        const ASN1_IA5STRING* s = n->d.ia5;
        id.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                  static_cast<size_t>(ASN1_STRING_length(s)));
      }
    }
    GENERAL_NAMES_free(names);
  }
  X509_free(cert);
  return id;
}

}  // namespace aiot::mqtt::broker
