// Service rule compiler; see compiler.h for the layout and the contract.
#include "proxy/compiler.h"

#include <algorithm>
#include <cstdio>
#include <tuple>
#include <set>
#include <stdexcept>
#include <utility>

#include "common/debug.h"

namespace pykube::proxy {

namespace {

const char* const kSetNames[kSetCount] = {"backends_tcp", "backends_udp",    "backends_sctp", "no_endpoints",
                                          "restricted",   "allowed_sources", "frontends"};
const char* const kFrontendKey = "ip daddr . meta l4proto . th dport";

// Ranks order creation (low first) and deletion (high first); see
// _reference.DynamicObject.
enum Rank : int { kSetRank = 0, kClusterRank, kSlotRank, kAffinityRank, kMasqueradeRank };
using DynamicObject = std::pair<int, std::string>;

void append_ip(std::string& out, std::uint32_t address) {
    out += std::to_string(address >> 24);
    out += '.';
    out += std::to_string((address >> 16) & 255);
    out += '.';
    out += std::to_string((address >> 8) & 255);
    out += '.';
    out += std::to_string(address & 255);
}

std::string format_ip(std::uint32_t address) {
    std::string out;
    append_ip(out, address);
    return out;
}

SetId backends_set(std::int32_t protocol) {
    return protocol == 6 ? kBackendsTcp : protocol == 17 ? kBackendsUdp : kBackendsSctp;
}

const char* protocol_name(std::int32_t protocol) {
    switch (protocol) {
        case 6: return "tcp";
        case 17: return "udp";
        case 132: return "sctp";
        default: return nullptr;
    }
}

std::string base_chain(const Target& target) {
    if (target.affinity) {
        return "affinity_" + target.protocol + "_" + std::to_string(target.count) + "_"
               + std::to_string(target.timeout);
    }
    return "cluster_" + target.protocol + "_" + std::to_string(target.count);
}

std::string target_chain(const Target& target) {
    return target.masquerade ? "masq_" + base_chain(target) : base_chain(target);
}

void add_target_objects(const Target& target, std::set<DynamicObject>& objects) {
    if (target.affinity) {
        objects.emplace(kAffinityRank, base_chain(target));
        const std::string timeout = std::to_string(target.timeout);
        for (std::int32_t slot = 0; slot < target.count; ++slot) {
            objects.emplace(kSlotRank, "affinity_slot_" + target.protocol + "_" + std::to_string(slot) + "_" + timeout);
            objects.emplace(kSetRank, "affinity_" + std::to_string(slot));
        }
    } else {
        objects.emplace(kClusterRank, base_chain(target));
    }
    if (target.masquerade) {
        objects.emplace(kMasqueradeRank, target_chain(target));
    }
}

std::set<DynamicObject> needed_objects(const std::map<Target, std::int64_t>& refs) {
    std::set<DynamicObject> objects;
    for (const auto& [target, count] : refs) {
        if (count > 0) {
            add_target_objects(target, objects);
        }
    }
    return objects;
}

// Splits a dynamic object's name such as "affinity_slot_udp_3_10800" at '_'.
std::vector<std::string> split_name(const std::string& name) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = name.find('_', start);
        parts.push_back(name.substr(start, end - start));
        if (end == std::string::npos) {
            return parts;
        }
        start = end + 1;
    }
}

void append_object_commands(std::string& out, const std::string& table, const DynamicObject& object) {
    const auto& [rank, name] = object;
    const std::string prefix = "ip " + table + " " + name;
    if (rank == kSetRank) {
        out += "add set " + prefix
               + " { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags dynamic,timeout; size 65536; }\n";
        return;
    }
    const std::string key = kFrontendKey;
    std::vector<std::string> rules;
    const std::vector<std::string> parts = split_name(name);
    if (rank == kClusterRank) {
        // cluster_<proto>_<count>
        rules.push_back("dnat ip to " + key + " . numgen random mod " + parts[2] + " map @backends_" + parts[1]);
    } else if (rank == kSlotRank) {
        // affinity_slot_<proto>_<slot>_<timeout>
        const std::string& slot = parts[3];
        const std::string& timeout = parts[4];
        rules.push_back("update @affinity_" + slot + " { ip saddr . " + key + " timeout " + timeout + "s }");
        rules.push_back("dnat ip to " + key + " . numgen random mod 1 offset " + slot + " map @backends_"
                        + parts[2]);
    } else if (rank == kAffinityRank) {
        // affinity_<proto>_<count>_<timeout>
        const int count = std::stoi(parts[2]);
        const std::string& timeout = parts[3];
        const std::string slot_chain = "affinity_slot_" + parts[1] + "_";
        std::string choices;
        for (int slot = 0; slot < count; ++slot) {
            const std::string text = std::to_string(slot);
            rules.push_back("ip saddr . " + key + " @affinity_" + text + " goto " + slot_chain + text + "_" + timeout);
            if (slot > 0) {
                choices += ", ";
            }
            choices += text + " : goto " + slot_chain + text + "_" + timeout;
        }
        rules.push_back("numgen random mod " + parts[2] + " vmap { " + choices + " }");
    } else {
        char mark[16];
        std::snprintf(mark, sizeof(mark), "0x%08x", kMasqueradeMark);
        rules.push_back(std::string("meta mark set meta mark | ") + mark);
        rules.push_back("goto " + name.substr(5));
    }
    out += "add chain " + prefix + "\n";
    for (const std::string& rule : rules) {
        out += "add rule " + prefix + " " + rule + "\n";
    }
}

void append_element_command(std::string& out, const char* verb, const std::string& table, const char* set,
                            const std::vector<const std::string*>& items) {
    for (std::size_t start = 0; start < items.size(); start += kElementChunk) {
        out += verb;
        out += " element ip ";
        out += table;
        out += ' ';
        out += set;
        out += " { ";
        const std::size_t end = std::min(items.size(), start + kElementChunk);
        for (std::size_t i = start; i < end; ++i) {
            if (i > start) {
                out += ", ";
            }
            out += *items[i];
        }
        out += " }\n";
    }
}

// Returns the usable endpoint indexes of `row`: ready ones, or else the
// serving-but-terminating ones; `local_only` keeps endpoints of this node.
void usable_endpoints(const Rows& rows, std::size_t row, bool local_only, std::vector<std::int64_t>& out) {
    out.clear();
    const std::int64_t start = rows.endpoint_offsets[row];
    const std::int64_t end = rows.endpoint_offsets[row + 1];
    for (std::int64_t i = start; i < end; ++i) {
        const std::int32_t state = rows.endpoint_state[i];
        if ((!local_only || (state & kEndpointLocal)) && (state & kEndpointReady)) {
            out.push_back(i);
        }
    }
    if (!out.empty()) {
        return;
    }
    constexpr std::int32_t fallback = kEndpointServing | kEndpointTerminating;
    for (std::int64_t i = start; i < end; ++i) {
        const std::int32_t state = rows.endpoint_state[i];
        if ((!local_only || (state & kEndpointLocal)) && (state & fallback) == fallback) {
            out.push_back(i);
        }
    }
}

struct Frontend {
    std::uint32_t address;
    std::int32_t port;
    bool external;
    bool load_balancer;
};

}  // namespace

bool Target::operator<(const Target& other) const {
    return std::tie(masquerade, affinity, protocol, count, timeout)
           < std::tie(other.masquerade, other.affinity, other.protocol, other.count, other.timeout);
}

bool Target::operator==(const Target& other) const {
    return masquerade == other.masquerade && affinity == other.affinity && protocol == other.protocol
           && count == other.count && timeout == other.timeout;
}

RowRules Compiler::row_rules(const Rows& rows, std::size_t row) const {
    RowRules rules;
    const std::int32_t flags = rows.flags[row];
    const char* protocol = protocol_name(rows.protocol[row]);
    if (protocol == nullptr) {
        throw std::invalid_argument("rows.protocol[" + std::to_string(row) + "]: unknown IP protocol "
                                    + std::to_string(rows.protocol[row]) + "; expected one of [6, 17, 132]");
    }
    const bool affinity = (flags & kAffinityClientIP) != 0;
    const std::int32_t timeout = affinity ? rows.affinity_timeout[row] : 0;
    std::vector<std::int64_t> endpoints;
    usable_endpoints(rows, row, false, endpoints);
    const bool any_usable = !endpoints.empty();

    std::vector<Frontend> frontends;
    if (rows.cluster_ip[row] != 0) {
        frontends.push_back({rows.cluster_ip[row], rows.port[row], false, false});
    }
    if (rows.node_port[row] != 0) {
        for (std::uint32_t address : node_addresses_) {
            frontends.push_back({address, rows.node_port[row], true, false});
        }
    }
    for (std::int64_t i = rows.external_offsets[row]; i < rows.external_offsets[row + 1]; ++i) {
        frontends.push_back({rows.external_ip[i], rows.port[row], true, rows.external_kind[i] == kLoadBalancerIP});
    }

    for (const Frontend& frontend : frontends) {
        std::string key;
        append_ip(key, frontend.address);
        key += " . ";
        key += protocol;
        key += " . ";
        key += std::to_string(frontend.port);
        if (frontend.load_balancer) {
            const std::int64_t start = rows.range_offsets[row];
            const std::int64_t end = rows.range_offsets[row + 1];
            if (end > start) {
                rules.elements.push_back({kRestricted, key, ""});
            }
            for (std::int64_t i = start; i < end; ++i) {
                std::string source = key + " . ";
                append_ip(source, rows.range_ip[i]);
                source += '/';
                source += std::to_string(rows.range_prefix[i]);
                rules.elements.push_back({kAllowedSources, std::move(source), ""});
            }
        }
        const bool local_only = (flags & (frontend.external ? kExternalPolicyLocal : kInternalPolicyLocal)) != 0;
        usable_endpoints(rows, row, local_only, endpoints);
        if (!endpoints.empty()) {
            for (std::size_t slot = 0; slot < endpoints.size(); ++slot) {
                const std::int64_t i = endpoints[slot];
                std::string backend;
                append_ip(backend, rows.endpoint_ip[i]);
                backend += " . ";
                backend += std::to_string(rows.endpoint_port[i]);
                rules.elements.push_back(
                    {backends_set(rows.protocol[row]), key + " . " + std::to_string(slot), std::move(backend)});
                // Only a pod on this node can reach itself through this node's
                // rules, so only local endpoints need a hairpin entry.
                if (rows.endpoint_state[i] & kEndpointLocal) {
                    rules.hairpin.push_back(rows.endpoint_ip[i]);
                }
            }
            const Target target{frontend.external && !local_only, affinity, protocol,
                                static_cast<std::int32_t>(endpoints.size()), timeout};
            rules.targets.push_back(target);
            rules.elements.push_back({kFrontends, std::move(key), "goto " + target_chain(target)});
        } else if (any_usable) {
            rules.elements.push_back({kFrontends, std::move(key), "drop"});
        } else {
            rules.elements.push_back({kNoEndpoints, std::move(key), ""});
        }
    }
    std::sort(rules.hairpin.begin(), rules.hairpin.end());
    rules.hairpin.erase(std::unique(rules.hairpin.begin(), rules.hairpin.end()), rules.hairpin.end());
    std::sort(rules.targets.begin(), rules.targets.end());
    rules.targets.erase(std::unique(rules.targets.begin(), rules.targets.end()), rules.targets.end());
    return rules;
}

std::string Compiler::compile(const Rows& rows, bool full, std::vector<std::int64_t>& conflicts) {
    static const Mirror empty;
    const Mirror& base = full ? empty : state_;
    Pending pending;
    pending.full = full;

    // Look a key up in the pending changes first, then in the base mirror.
    const auto current_owner = [&](SetId set, const std::string& key) -> const Owner* {
        const auto claimed = pending.claimed[set].find(key);
        if (claimed != pending.claimed[set].end()) {
            return &claimed->second;
        }
        if (pending.released[set].count(key) != 0) {
            return nullptr;
        }
        const auto found = base.owners[set].find(key);
        return found == base.owners[set].end() ? nullptr : &found->second;
    };

    std::unordered_map<std::int64_t, std::size_t> batch;
    batch.reserve(rows.count);
    std::vector<const RowRules*> old_rows;
    for (std::size_t row = 0; row < rows.count; ++row) {
        if (!batch.emplace(rows.ids[row], row).second) {
            throw std::invalid_argument("rows.ids: an id appears twice in one batch; send each row once");
        }
        const auto found = base.rows.find(rows.ids[row]);
        if (found != base.rows.end()) {
            old_rows.push_back(&found->second);
        }
    }
    for (const RowRules* old : old_rows) {
        for (const Element& element : old->elements) {
            pending.released[element.set].insert(element.key);
        }
        for (std::uint32_t address : old->hairpin) {
            pending.hairpin_delta[address] -= 1;
        }
        for (const Target& target : old->targets) {
            pending.target_delta[target] -= 1;
        }
    }

    pending.rows.reserve(rows.count);
    if (full) {
        // One frontend and a few backends per row is the common shape.
        const std::size_t endpoints = static_cast<std::size_t>(rows.endpoint_offsets[rows.count]);
        pending.claimed[kFrontends].reserve(rows.count);
        pending.claimed[backends_set(6)].reserve(endpoints);
    }
    for (std::size_t row = 0; row < rows.count; ++row) {
        const std::int64_t id = rows.ids[row];
        RowRules rules = row_rules(rows, row);
        std::vector<Element> kept;
        kept.reserve(rules.elements.size());
        for (Element& element : rules.elements) {
            if (current_owner(element.set, element.key) != nullptr) {
                rules.conflict = true;
                continue;
            }
            pending.claimed[element.set].emplace(element.key, Owner{id, element.value});
            kept.push_back(std::move(element));
        }
        rules.elements = std::move(kept);
        for (std::uint32_t address : rules.hairpin) {
            pending.hairpin_delta[address] += 1;
        }
        for (const Target& target : rules.targets) {
            pending.target_delta[target] += 1;
        }
        if (rules.conflict) {
            conflicts.push_back(id);
        }
        pending.rows.emplace_back(id, std::move(rules));
    }

    // Element deletes and adds per set, in batch order.
    std::array<std::vector<const std::string*>, kSetCount> deletes;
    std::array<std::vector<std::string>, kSetCount> adds;
    for (const RowRules* old : old_rows) {
        for (const Element& element : old->elements) {
            const Owner* now = current_owner(element.set, element.key);
            if (now == nullptr || now->value != element.value) {
                deletes[element.set].push_back(&element.key);
            }
        }
    }
    for (const auto& [id, rules] : pending.rows) {
        for (const Element& element : rules.elements) {
            const auto before = base.owners[element.set].find(element.key);
            if (before == base.owners[element.set].end() || before->second.value != element.value) {
                std::string item = element.key;
                if (!element.value.empty()) {
                    item += " : ";
                    item += element.value;
                }
                adds[element.set].push_back(std::move(item));
            }
        }
    }

    std::vector<std::uint32_t> hairpin_adds;
    std::vector<std::uint32_t> hairpin_deletes;
    for (const auto& [address, delta] : pending.hairpin_delta) {
        const auto found = base.hairpin_refs.find(address);
        const std::int64_t before = found == base.hairpin_refs.end() ? 0 : found->second;
        if (before == 0 && before + delta > 0) {
            hairpin_adds.push_back(address);
        } else if (before > 0 && before + delta == 0) {
            hairpin_deletes.push_back(address);
        }
    }
    std::sort(hairpin_adds.begin(), hairpin_adds.end());
    std::sort(hairpin_deletes.begin(), hairpin_deletes.end());

    std::map<Target, std::int64_t> new_refs = base.target_refs;
    for (const auto& [target, delta] : pending.target_delta) {
        new_refs[target] += delta;
    }
    const std::set<DynamicObject> old_objects = needed_objects(base.target_refs);
    const std::set<DynamicObject> new_objects = needed_objects(new_refs);

    std::string out;
    for (const DynamicObject& object : new_objects) {
        if (old_objects.count(object) == 0) {
            append_object_commands(out, table_, object);
        }
    }
    for (int set = kSetCount - 1; set >= 0; --set) {
        if (!deletes[set].empty()) {
            append_element_command(out, "delete", table_, kSetNames[set], deletes[set]);
        }
    }
    const auto hairpin_keys = [](const std::vector<std::uint32_t>& addresses) {
        std::vector<std::string> keys;
        for (std::uint32_t address : addresses) {
            keys.push_back(format_ip(address) + " . " + format_ip(address));
        }
        return keys;
    };
    const auto pointers = [](const std::vector<std::string>& items) {
        std::vector<const std::string*> result;
        result.reserve(items.size());
        for (const std::string& item : items) {
            result.push_back(&item);
        }
        return result;
    };
    if (!hairpin_deletes.empty()) {
        append_element_command(out, "delete", table_, "hairpin", pointers(hairpin_keys(hairpin_deletes)));
    }
    for (int set = 0; set < kSetCount; ++set) {
        if (!adds[set].empty()) {
            append_element_command(out, "add", table_, kSetNames[set], pointers(adds[set]));
        }
    }
    if (!hairpin_adds.empty()) {
        append_element_command(out, "add", table_, "hairpin", pointers(hairpin_keys(hairpin_adds)));
    }
    for (auto object = old_objects.rbegin(); object != old_objects.rend(); ++object) {
        if (new_objects.count(*object) == 0) {
            out += std::string(object->first == kSetRank ? "delete set ip " : "delete chain ip ") + table_ + " "
                   + object->second + "\n";
        }
    }
    pending_ = std::move(pending);
    return out;
}

void Compiler::commit() {
    if (!pending_) {
        throw std::logic_error("commit() without a pending compile; call compile() first");
    }
    Pending& pending = *pending_;
    if (pending.full) {
        state_ = Mirror{};
        for (int set = 0; set < kSetCount; ++set) {
            state_.owners[set] = std::move(pending.claimed[set]);
        }
    } else {
        for (int set = 0; set < kSetCount; ++set) {
            for (const std::string& key : pending.released[set]) {
                if (pending.claimed[set].count(key) == 0) {
                    state_.owners[set].erase(key);
                }
            }
            for (auto& [key, owner] : pending.claimed[set]) {
                state_.owners[set][key] = std::move(owner);
            }
        }
    }
    for (const auto& [address, delta] : pending.hairpin_delta) {
        const std::int64_t refs = (state_.hairpin_refs[address] += delta);
        if (refs <= 0) {
            PYKUBE_DEBUG_CHECK(refs == 0, "hairpin reference count below zero");
            state_.hairpin_refs.erase(address);
        }
    }
    for (const auto& [target, delta] : pending.target_delta) {
        const std::int64_t refs = (state_.target_refs[target] += delta);
        if (refs <= 0) {
            PYKUBE_DEBUG_CHECK(refs == 0, "target reference count below zero");
            state_.target_refs.erase(target);
        }
    }
    if (pending.full) {
        state_.rows.reserve(pending.rows.size());
    }
    for (auto& [id, rules] : pending.rows) {
        if (rules.empty()) {
            state_.rows.erase(id);
        } else {
            state_.rows[id] = std::move(rules);
        }
    }
    pending_.reset();
}

void Compiler::discard() { pending_.reset(); }

std::vector<std::string> Compiler::snapshot() const {
    std::vector<std::string> lines;
    for (int set = 0; set < kSetCount; ++set) {
        for (const auto& [key, owner] : state_.owners[set]) {
            lines.push_back(std::string(kSetNames[set]) + " " + key + " : " + owner.value);
        }
    }
    for (const auto& [address, refs] : state_.hairpin_refs) {
        lines.push_back("hairpin " + format_ip(address));
    }
    for (const DynamicObject& object : needed_objects(state_.target_refs)) {
        lines.push_back("object " + object.second);
    }
    std::sort(lines.begin(), lines.end());
    return lines;
}

Counts Compiler::counts() const {
    Counts counts;
    for (int set = 0; set < kSetCount; ++set) {
        counts.elements[set] = static_cast<std::int64_t>(state_.owners[set].size());
    }
    counts.hairpin = static_cast<std::int64_t>(state_.hairpin_refs.size());
    counts.chains = static_cast<std::int64_t>(needed_objects(state_.target_refs).size());
    return counts;
}

}  // namespace pykube::proxy
