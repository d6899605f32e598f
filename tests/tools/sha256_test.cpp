// SHA-256 against the FIPS 180-4 examples (NIST CSRC "SHA-256" example
// values) and HMAC-SHA256 against RFC 4231 section 4.
#include "tests/tools/sha256.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace keel {
namespace {

std::string Hex(const uint8_t* p, size_t n) {
  std::string out;
  char b[3];
  for (size_t i = 0; i < n; ++i) {
    snprintf(b, sizeof(b), "%02x", p[i]);
    out += b;
  }
  return out;
}

std::string Hex(const Sha256::Digest& d) { return Hex(d.data(), d.size()); }

std::string HashHex(const std::string& s) { return Hex(Sha256::Hash(s.data(), s.size())); }

std::string HmacHex(const std::vector<uint8_t>& key, const std::string& data) {
  return Hex(HmacSha256(key.data(), key.size(), data.data(), data.size()));
}

std::vector<uint8_t> Bytes(size_t n, uint8_t v) { return std::vector<uint8_t>(n, v); }

}  // namespace

TEST_CASE("SHA-256: FIPS 180-4 examples") {
  CHECK(HashHex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(HashHex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(HashHex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(
      HashHex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklm"
              "nopqrlmnopqrsmnopqrstnopqrstu") ==
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("SHA-256: one million 'a', fed in uneven pieces") {
  std::string a(1000000, 'a');
  const char kMillionA[] = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  CHECK(HashHex(a) == kMillionA);
  Sha256 s;
  size_t done = 0, piece = 1;
  while (done < a.size()) {
    size_t n = std::min(piece, a.size() - done);
    s.Update(a.data() + done, n);
    done += n;
    piece = piece * 3 % 199 + 1;  // 1, 4, 13, 40, 121, ... crossing block edges
  }
  CHECK(Hex(s.Final()) == kMillionA);
  // Final() resets: the object hashes anew.
  s.Update("abc", 3);
  CHECK(Hex(s.Final()) == HashHex("abc"));
}

TEST_CASE("SHA-256: lengths around the padding boundary differ") {
  // 55, 56, 63, 64 and 65 bytes take the one- and two-block padding paths.
  std::vector<std::string> seen;
  for (size_t n : {55, 56, 63, 64, 65}) {
    std::string h = HashHex(std::string(n, 'x'));
    for (const auto& other : seen) CHECK(h != other);
    seen.push_back(h);
  }
  // Python: hashlib.sha256(b"x" * 64).hexdigest()
  CHECK(HashHex(std::string(64, 'x')) ==
        "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

TEST_CASE("HMAC-SHA256: RFC 4231 test cases 1-7") {
  CHECK(HmacHex(Bytes(20, 0x0b), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(HmacHex({'J', 'e', 'f', 'e'}, "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(HmacHex(Bytes(20, 0xaa), std::string(50, '\xdd')) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::vector<uint8_t> key4;
  for (uint8_t i = 1; i <= 25; ++i) key4.push_back(i);
  CHECK(HmacHex(key4, std::string(50, '\xcd')) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Test case 5 is truncated to 128 bits.
  CHECK(HmacHex(Bytes(20, 0x0c), "Test With Truncation").substr(0, 32) ==
        "a3b6167473100ee06e0c796c2955552b");
  CHECK(HmacHex(Bytes(131, 0xaa), "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(HmacHex(Bytes(131, 0xaa),
                "This is a test using a larger than block-size key and a larger than block-size "
                "data. The key needs to be hashed before being used by the HMAC algorithm.") ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("DigestEqual") {
  Sha256::Digest a = Sha256::Hash("a", 1), b = a;
  CHECK(DigestEqual(a, b));
  b[31] ^= 1;
  CHECK_FALSE(DigestEqual(a, b));
  b = a;
  b[0] ^= 0x80;
  CHECK_FALSE(DigestEqual(a, b));
}

}  // namespace keel
