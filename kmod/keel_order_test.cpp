// Unit tests of keel.ko's write ordering (keel_order.c) and dirty-bitmap
// math (keel_region.h), compiled in user space.
extern "C" {
#include "keel_order.h"

#include "keel_region.h"
}

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace {

struct Admitted {
  std::vector<keel_interval*> list;
  static void Fn(keel_interval* it, void* arg) { static_cast<Admitted*>(arg)->list.push_back(it); }
};

keel_interval Iv(uint64_t start, uint64_t end) {
  keel_interval it{};
  it.start = start;
  it.end = end;
  return it;
}

}  // namespace

TEST_CASE("order: disjoint writes start at once") {
  keel_order o{};
  keel_interval a = Iv(0, 4096), b = Iv(4096, 8192), c = Iv(1 << 20, (1 << 20) + 512);
  CHECK(keel_order_add(&o, &a));
  CHECK(keel_order_add(&o, &b));
  CHECK(keel_order_add(&o, &c));
  CHECK(o.count == 3);
}

TEST_CASE("order: an overlapping write waits and is admitted when the earlier ends") {
  keel_order o{};
  keel_interval a = Iv(0, 8192), b = Iv(4096, 12288);
  CHECK(keel_order_add(&o, &a));
  CHECK_FALSE(keel_order_add(&o, &b));
  Admitted ad;
  CHECK(keel_order_remove(&o, &a, Admitted::Fn, &ad) == 1);
  REQUIRE(ad.list.size() == 1);
  CHECK(ad.list[0] == &b);
  CHECK(b.started);
  CHECK(keel_order_remove(&o, &b, Admitted::Fn, &ad) == 0);
  CHECK(o.count == 0);
  CHECK(o.head == nullptr);
  CHECK(o.tail == nullptr);
}

TEST_CASE("order: a later write never overtakes an earlier waiting one it overlaps") {
  keel_order o{};
  // a [0,8k) runs; b [4k,12k) waits on a; c [10k,16k) overlaps only b: it
  // must wait for b although nothing in flight overlaps it.
  keel_interval a = Iv(0, 8192), b = Iv(4096, 12288), c = Iv(10240, 16384);
  CHECK(keel_order_add(&o, &a));
  CHECK_FALSE(keel_order_add(&o, &b));
  CHECK_FALSE(keel_order_add(&o, &c));
  Admitted ad;
  keel_order_remove(&o, &a, Admitted::Fn, &ad);
  REQUIRE(ad.list.size() == 1);
  CHECK(ad.list[0] == &b);
  CHECK_FALSE(c.started);
  keel_order_remove(&o, &b, Admitted::Fn, &ad);
  REQUIRE(ad.list.size() == 2);
  CHECK(ad.list[1] == &c);
}

TEST_CASE("order: removing the tail keeps the list consistent") {
  keel_order o{};
  keel_interval a = Iv(0, 10), b = Iv(20, 30), c = Iv(40, 50);
  keel_order_add(&o, &a);
  keel_order_add(&o, &b);
  keel_order_add(&o, &c);
  Admitted ad;
  keel_order_remove(&o, &c, Admitted::Fn, &ad);
  CHECK(o.tail == &b);
  keel_interval d = Iv(45, 55);
  CHECK(keel_order_add(&o, &d));
  CHECK(b.next == &d);
  keel_order_remove(&o, &a, Admitted::Fn, &ad);
  CHECK(o.head == &b);
}

TEST_CASE("order: random storm keeps per-block order and never runs overlaps together") {
  std::mt19937 rng(12345);
  keel_order o{};
  std::vector<keel_interval> pool;
  pool.reserve(20001);  // stable addresses: an entry's index is its id
  std::vector<keel_interval*> running;
  std::vector<std::vector<int>> applied(64);    // per block: ids applied in order
  std::vector<std::vector<int>> submitted(64);  // per block: ids in arrival order
  Admitted ad;
  int next_id = 0;
  auto apply = [&](keel_interval* it) {
    for (auto* r : running) CHECK_FALSE(keel_interval_overlaps(r, it));
    running.push_back(it);
  };
  for (int step = 0; step < 20000; ++step) {
    if (rng() % 2 == 0 || running.empty()) {
      uint64_t s = rng() % 60, len = 1 + rng() % 4;
      pool.push_back(Iv(s, std::min<uint64_t>(64, s + len)));
      keel_interval* it = &pool.back();
      int id = next_id++;
      for (uint64_t b = it->start; b < it->end; ++b) submitted[b].push_back(id);
      if (keel_order_add(&o, it)) apply(it);
    } else {
      size_t k = rng() % running.size();
      keel_interval* done = running[k];
      running.erase(running.begin() + static_cast<long>(k));
      int id = static_cast<int>(done - &pool[0]);
      for (uint64_t b = done->start; b < done->end; ++b) applied[b].push_back(id);
      ad.list.clear();
      keel_order_remove(&o, done, Admitted::Fn, &ad);
      for (auto* it : ad.list) apply(it);
    }
  }
  // Drain.
  while (!running.empty()) {
    keel_interval* done = running.back();
    running.pop_back();
    int id = static_cast<int>(done - &pool[0]);
    for (uint64_t b = done->start; b < done->end; ++b) applied[b].push_back(id);
    ad.list.clear();
    keel_order_remove(&o, done, Admitted::Fn, &ad);
    for (auto* it : ad.list) apply(it);
  }
  CHECK(o.count == 0);
  for (int b = 0; b < 64; ++b) CHECK(applied[b] == submitted[b]);
}

TEST_CASE("region: bits covering byte ranges") {
  uint64_t first = 0, last = 0;
  keel_region_range(0, 4096, 65536, &first, &last);
  CHECK(first == 0);
  CHECK(last == 0);
  keel_region_range(65536 - 512, 1024, 65536, &first, &last);
  CHECK(first == 0);
  CHECK(last == 1);
  keel_region_range(3 * 65536, 65536, 65536, &first, &last);
  CHECK(first == 3);
  CHECK(last == 3);
  CHECK(keel_region_bits(1 << 30, 65536) == 16384);
  CHECK(keel_region_bits((1 << 20) + 512, 65536) == 17);
  CHECK(keel_region_len(16, (1 << 20) + 512, 65536) == 512);
  CHECK(keel_region_len(3, 1 << 20, 65536) == 65536);
}
