#include "registry/crypto.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <vector>

#include "base/errc.h"
#include "tests/support/temp_dir.h"

namespace aiot::registry {
namespace {

using test_support::TempDir;

TEST(CryptoTest, Sha256KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, Base64RoundTrip) {
  for (std::string s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    std::string back;
    ASSERT_TRUE(Base64Decode(Base64Encode(s), &back));
    EXPECT_EQ(back, s);
  }
  std::string out;
  EXPECT_FALSE(Base64Decode("abc", &out));
}

TEST(CryptoTest, ArtifactSignatureVerifiesAndDetectsTampering) {
  auto key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  std::string artifact = "TFL3 model bytes";
  std::string sha = Sha256Hex(artifact);
  std::string sig = SignArtifactDigest(*key, sha);
  std::string pem = key->PublicKeyPem();
  EXPECT_NE(pem.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_TRUE(VerifyArtifact(pem, artifact, sha, sig).ok());

  std::string tampered = artifact;
  tampered[0] ^= 1;
  EXPECT_EQ(VerifyArtifact(pem, tampered, sha, sig).error(), make_error_code(errc::corrupted));
  // An attacker who also replaces the sha256 still lacks the key.
  EXPECT_EQ(VerifyArtifact(pem, tampered, Sha256Hex(tampered), sig).error(),
            make_error_code(errc::permission_denied));
  auto other = SigningKey::Generate();
  EXPECT_FALSE(VerifyArtifactDigest(other->PublicKeyPem(), sha, sig));
  EXPECT_FALSE(VerifyArtifactDigest("not a pem", sha, sig));
  EXPECT_FALSE(VerifyArtifactDigest(pem, sha, "!!!!"));
}

TEST(CryptoTest, KeyIsCreatedWith0600AndReloaded) {
  TempDir dir;
  std::string path = dir.path() + "/key.pem";
  auto k1 = SigningKey::LoadOrCreate(path);
  ASSERT_TRUE(k1.ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto k2 = SigningKey::LoadOrCreate(path);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(k1->PublicKeyPem(), k2->PublicKeyPem());
  ::chmod(path.c_str(), 0644);
  EXPECT_EQ(SigningKey::LoadOrCreate(path).error(), make_error_code(errc::permission_denied));
}

TEST(CryptoTest, PasswordHashIsSaltedAndVerifies) {
  std::string a = HashPassword("s3cret", 1000);
  std::string b = HashPassword("s3cret", 1000);
  EXPECT_NE(a, b);
  EXPECT_TRUE(VerifyPassword("s3cret", a));
  EXPECT_FALSE(VerifyPassword("s3cret!", a));
  EXPECT_FALSE(VerifyPassword("s3cret", "pbkdf2-sha256$x$y$z"));
  EXPECT_FALSE(VerifyPassword("s3cret", ""));
}

}  // namespace
}  // namespace aiot::registry
