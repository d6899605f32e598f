#include "manager/state/state_store.h"

#include <doctest/doctest.h>

#include <cerrno>

#include "manager/state/temp_dir.h"

namespace keel {
namespace {

Replica R(const std::string& name, const std::string& uuid) {
  Replica r;
  r.volume = name;
  r.uuid = uuid;
  r.size = 64 << 20;
  r.block_size = 4096;
  r.backing_path = "/pool/" + uuid + ".img";
  r.created_at = 5;
  return r;
}

}  // namespace

TEST_CASE("state store: replicas survive reopening") {
  TempDir dir;
  FakeClock clock;
  {
    auto st = StateStore::Open(dir.file("keel.db"), &clock);
    REQUIRE(st.ok());
    Replica r = R("db", "u1");
    r.kernel_id = 3;
    REQUIRE((*st)->PutReplica(r).ok());
    REQUIRE((*st)->PutReplica(R("web", "u2")).ok());
  }
  auto st = StateStore::Open(dir.file("keel.db"), &clock);
  REQUIRE(st.ok());
  auto all = (*st)->ListReplicas();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].volume == "db");
  CHECK(*(*all)[0].kernel_id == 3);
  CHECK_FALSE((*all)[1].kernel_id.has_value());
  CHECK((*(*st)->GetReplicaByUuid("u2"))->volume == "web");
  REQUIRE((*st)->SetKernelId("web", 9).ok());
  CHECK(*(*(*st)->GetReplica("web"))->kernel_id == 9);
  CHECK((*st)->SetKernelId("nope", 1).code() == ENOENT);
  REQUIRE((*st)->RemoveReplica("db").ok());
  CHECK_FALSE((*(*st)->GetReplica("db")).has_value());
}

TEST_CASE("state store: names, uuids and backing paths are unique") {
  TempDir dir;
  FakeClock clock;
  auto st = StateStore::Open(dir.file("keel.db"), &clock);
  REQUIRE((*st)->PutReplica(R("db", "u1")).ok());
  Replica other = R("other", "u9");
  other.backing_path = R("db", "u1").backing_path;
  CHECK((*st)->PutReplica(other).code() == EEXIST);
}

TEST_CASE("state store: intents are journaled, updated and finished") {
  TempDir dir;
  FakeClock clock;
  auto st = StateStore::Open(dir.file("keel.db"), &clock);
  auto id = (*st)->BeginIntent("create", "db", "begun", {{"uuid", "u1"}});
  REQUIRE(id.ok());
  clock.Advance(10);
  REQUIRE((*st)->UpdateIntent(*id, "kernel-created", {{"uuid", "u1"}, {"kernel_id", 4}}).ok());
  auto pending = (*st)->PendingIntents();
  REQUIRE(pending->size() == 1);
  const Intent& in = (*pending)[0];
  CHECK(in.op == "create");
  CHECK(in.step == "kernel-created");
  CHECK(in.data["kernel_id"] == 4);
  CHECK(in.updated_at == in.created_at + 10);
  CHECK((*(*st)->IntentFor("db"))->id == *id);
  CHECK_FALSE((*(*st)->IntentFor("web")).has_value());
  CHECK((*st)->UpdateIntent(999, "x", {}).code() == ENOENT);
  REQUIRE((*st)->FinishIntent(*id).ok());
  CHECK((*st)->PendingIntents()->empty());
}

TEST_CASE("state store: finishing an intent with its outcome is atomic") {
  TempDir dir;
  FakeClock clock;
  auto st = StateStore::Open(dir.file("keel.db"), &clock);
  REQUIRE((*st)->PutReplica(R("taken", "u1")).ok());
  auto id = (*st)->BeginIntent("create", "db", "begun", {});
  // The body fails (backing path already used): the intent stays.
  Replica clash = R("db", "u2");
  clash.backing_path = R("taken", "u1").backing_path;
  Status s = (*st)->FinishIntentWith(*id, [&] { return (*st)->PutReplica(clash); });
  CHECK_FALSE(s.ok());
  CHECK((*st)->PendingIntents()->size() == 1);
  CHECK_FALSE((*(*st)->GetReplica("db")).has_value());
  // The body succeeds: replica in, intent gone, together.
  s = (*st)->FinishIntentWith(*id, [&] { return (*st)->PutReplica(R("db", "u2")); });
  REQUIRE(s.ok());
  CHECK((*st)->PendingIntents()->empty());
  CHECK((*(*st)->GetReplica("db")).has_value());
}

TEST_CASE("state store: an intent written survives a process that dies before finishing") {
  TempDir dir;
  FakeClock clock;
  int64_t id;
  {
    auto st = StateStore::Open(dir.file("keel.db"), &clock);
    id = *(*st)->BeginIntent("delete", "db", "begun", {{"uuid", "u1"}});
    // No FinishIntent: the store is closed as a crash would leave it.
  }
  auto st = StateStore::Open(dir.file("keel.db"), &clock);
  auto pending = (*st)->PendingIntents();
  REQUIRE(pending->size() == 1);
  CHECK((*pending)[0].id == id);
  CHECK((*pending)[0].data["uuid"] == "u1");
}

TEST_CASE("state store: node facts") {
  TempDir dir;
  FakeClock clock;
  auto st = StateStore::Open(dir.file("keel.db"), &clock);
  CHECK_FALSE((*(*st)->GetNodeFact("node_name")).has_value());
  REQUIRE((*st)->PutNodeFact("node_name", "n1").ok());
  CHECK(**(*st)->GetNodeFact("node_name") == "n1");

  REQUIRE((*st)->PutNodeFact("diskless:b", "7").ok());
  REQUIRE((*st)->PutNodeFact("diskless:a", "3").ok());
  REQUIRE((*st)->PutNodeFact("disklessX", "9").ok());
  auto facts = (*st)->ListNodeFacts("diskless:");
  REQUIRE(facts.ok());
  CHECK(*facts ==
        std::vector<std::pair<std::string, std::string>>{{"diskless:a", "3"}, {"diskless:b", "7"}});
  REQUIRE((*st)->DeleteNodeFact("diskless:a").ok());
  REQUIRE((*st)->DeleteNodeFact("diskless:a").ok());  // gone already: fine
  CHECK((*st)->ListNodeFacts("diskless:")->size() == 1);
  CHECK((*st)->ListNodeFacts("%")->empty());  // a prefix, not a LIKE pattern
}

}  // namespace keel
