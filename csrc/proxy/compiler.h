// Service rule compiler: service port rows in, nft command text out.
//
// Layout of the rules (one `ip` table; the fixed part comes from
// pykube_core/proxy/ruleset.py, this compiler writes the parts that grow
// with the cluster):
//
//   frontends        map   address . protocol . port : verdict
//                          "goto cluster_<proto>_<n>" (n usable endpoints),
//                          "goto affinity_<proto>_<n>_<timeout>", either prefixed
//                          "masq_" for external traffic that is
//                          masqueraded, or "drop" when a Local traffic
//                          policy finds no local endpoint.
//   backends_<proto> maps  address . protocol . port . slot : address . port,
//                          one per protocol (see pykube_core/proxy/ruleset.py).
//   no_endpoints     set   frontends of service ports without endpoints,
//                          rejected by the filter chains.
//   restricted       set   load-balancer frontends with source ranges.
//   allowed_sources  set   frontend . source range (interval).
//   hairpin          set   endpoint . endpoint, masqueraded when a pod
//                          reaches itself through a Service.
//   affinity_<k>     sets  client . frontend, dynamic, for ClientIP affinity.
//
// So no chain is per Service: a chain cluster_<proto>_<n> exists per
// protocol and endpoint count in use, and libnftables' cost stays proportional to the elements that a
// sync changes.
//
// ClientIP affinity remembers a slot, not a backend: affinity_<k> holds the
// clients sent to slot k. NOTE: when endpoints change, a slot may name
// another backend, so a client can move even if its backend still serves.
//
// A key (address . protocol . port) belongs to the first row that claims
// it; later rows are reported as conflicts. NOTE: a row that lost a key
// gets it only at the next full sync after the owner goes away.
//
// The compiler keeps a mirror of the committed elements, row by row, and
// diffs a batch of rows against it. pykube_core/proxy/_reference.py is the
// pure-Python twin; both must produce byte-identical text.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace pykube::proxy {

// Codes shared with pykube_core/proxy/arrays.py.
constexpr std::int32_t kAffinityClientIP = 1;
constexpr std::int32_t kExternalPolicyLocal = 2;
constexpr std::int32_t kInternalPolicyLocal = 4;
constexpr std::int32_t kEndpointReady = 1;
constexpr std::int32_t kEndpointServing = 2;
constexpr std::int32_t kEndpointTerminating = 4;
constexpr std::int32_t kEndpointLocal = 8;
constexpr std::int32_t kLoadBalancerIP = 1;
constexpr std::uint32_t kMasqueradeMark = 0x4000;
// Elements per add or delete element command; see _reference.ELEMENT_CHUNK.
constexpr std::size_t kElementChunk = 20000;

// Owned sets in the order the text adds them; see _reference.SET_NAMES.
enum SetId : std::uint8_t {
    kBackendsTcp = 0,
    kBackendsUdp,
    kBackendsSctp,
    kNoEndpoints,
    kRestricted,
    kAllowedSources,
    kFrontends,
    kSetCount
};

// Borrowed views of ServicePortRows; the caller keeps the arrays alive.
struct Rows {
    std::size_t count = 0;
    const std::int64_t* ids = nullptr;
    const std::uint32_t* cluster_ip = nullptr;
    const std::int32_t* protocol = nullptr;
    const std::int32_t* port = nullptr;
    const std::int32_t* node_port = nullptr;
    const std::int32_t* flags = nullptr;
    const std::int32_t* affinity_timeout = nullptr;
    const std::int64_t* external_offsets = nullptr;
    const std::uint32_t* external_ip = nullptr;
    const std::int32_t* external_kind = nullptr;
    const std::int64_t* range_offsets = nullptr;
    const std::uint32_t* range_ip = nullptr;
    const std::int32_t* range_prefix = nullptr;
    const std::int64_t* endpoint_offsets = nullptr;
    const std::uint32_t* endpoint_ip = nullptr;
    const std::int32_t* endpoint_port = nullptr;
    const std::int32_t* endpoint_state = nullptr;
};

struct Element {
    SetId set;
    std::string key;
    std::string value;  // empty for sets
};

// Verdict target of a frontend; see _reference.Target.
struct Target {
    bool masquerade;
    bool affinity;
    std::string protocol;
    std::int32_t count;
    std::int32_t timeout;
    bool operator<(const Target& other) const;
    bool operator==(const Target& other) const;
};

struct RowRules {
    std::vector<Element> elements;
    std::vector<std::uint32_t> hairpin;  // sorted, unique
    std::vector<Target> targets;         // sorted, unique
    bool conflict = false;
    bool empty() const { return elements.empty() && hairpin.empty() && targets.empty(); }
};

struct Owner {
    std::int64_t row;
    std::string value;
};

struct Mirror {
    std::unordered_map<std::int64_t, RowRules> rows;
    std::array<std::unordered_map<std::string, Owner>, kSetCount> owners;
    std::unordered_map<std::uint32_t, std::int64_t> hairpin_refs;
    std::map<Target, std::int64_t> target_refs;
};

struct Counts {
    std::array<std::int64_t, kSetCount> elements{};
    std::int64_t hairpin = 0;
    std::int64_t chains = 0;
};

class Compiler {
public:
    explicit Compiler(std::string table) : table_(std::move(table)) {}

    void set_node_addresses(std::vector<std::uint32_t> addresses) { node_addresses_ = std::move(addresses); }

    // Diffs `rows` against the mirror (or an empty table when `full`),
    // returns the nft commands and appends the ids of rows that lost a key
    // to `conflicts`. The result stays pending until commit() or discard().
    // Throws std::invalid_argument on an unknown protocol or a repeated id.
    std::string compile(const Rows& rows, bool full, std::vector<std::int64_t>& conflicts);
    void commit();
    void discard();
    bool has_pending() const { return pending_.has_value(); }
    std::vector<std::string> snapshot() const;
    Counts counts() const;

private:
    // Changes of one compile over a base mirror: keys released by the
    // batch's old rows, and keys claimed by its new rows. A full compile's
    // claimed maps become the mirror's owner maps as they are.
    struct Pending {
        bool full = false;
        std::vector<std::pair<std::int64_t, RowRules>> rows;
        std::array<std::unordered_set<std::string>, kSetCount> released;
        std::array<std::unordered_map<std::string, Owner>, kSetCount> claimed;
        std::unordered_map<std::uint32_t, std::int64_t> hairpin_delta;
        std::map<Target, std::int64_t> target_delta;
    };

    RowRules row_rules(const Rows& rows, std::size_t row) const;

    std::string table_;
    std::vector<std::uint32_t> node_addresses_;
    Mirror state_;
    std::optional<Pending> pending_;
};

}  // namespace pykube::proxy
