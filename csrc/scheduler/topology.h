// PodTopologySpread and InterPodAffinity over the node table's pod slots.
//
// Each Prepare* class is kube-scheduler's PreFilter or PreScore step: it
// walks every node and existing pod once and keeps per-domain counts.
// Its per-node method is the Filter or Score step. A topology domain is a
// (topology key id, label value id) pair. Per key, counts live in a vector
// indexed by value id, with one extra entry for nodes that lack the key.
// Only the system default spread constraints use that entry: they count
// such nodes as one domain, as kube-scheduler's empty label value does.
//
// The functions are inline because setup.py builds the scheduler extension
// from a fixed list of sources; filter.cpp and score.cpp include this
// header. _reference_topology.py is the pure-Python twin.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "scheduler/kernels.h"
#include "scheduler/predicates.h"

namespace pykube::scheduler::topology {

constexpr std::int32_t kAbsent = -1;

// Returns the value id of `key` among sorted keys [first, last), or kAbsent.
inline std::int32_t sorted_lookup(const std::int32_t* keys, const std::int32_t* values,
                                  std::int64_t begin, std::int64_t end, std::int32_t key) {
    const std::int32_t* first = keys + begin;
    const std::int32_t* last = keys + end;
    const std::int32_t* found = std::lower_bound(first, last, key);
    if (found == last || *found != key) {
        return kAbsent;
    }
    return values[found - keys];
}

inline std::int32_t node_value(const Nodes& nodes, std::int64_t row, std::int32_t key) {
    return sorted_lookup(nodes.label_keys, nodes.label_values, nodes.label_offsets[row],
                         nodes.label_offsets[row + 1], key);
}

inline bool selector_matches(const Terms& terms, std::int64_t t, const std::int32_t* keys,
                             const std::int32_t* values, std::int64_t begin, std::int64_t end) {
    for (std::int64_t q = terms.selector_offsets[t]; q < terms.selector_offsets[t + 1]; ++q) {
        const std::int8_t op = terms.requirement_ops[q];
        if (op == kNever) {
            return false;
        }
        const std::int32_t value = sorted_lookup(keys, values, begin, end, terms.requirement_keys[q]);
        const std::int32_t* first = terms.requirement_values + terms.requirement_value_offsets[q];
        const std::int32_t* last = terms.requirement_values + terms.requirement_value_offsets[q + 1];
        bool matched = false;
        switch (op) {
            case kIn:
                matched = value != kAbsent && std::binary_search(first, last, value);
                break;
            case kNotIn:
                matched = value == kAbsent || !std::binary_search(first, last, value);
                break;
            case kExists:
                matched = value != kAbsent;
                break;
            case kDoesNotExist:
                matched = value == kAbsent;
                break;
            default:
                matched = false;
        }
        if (!matched) {
            return false;
        }
    }
    return true;
}

inline bool namespace_matches(const Terms& terms, std::int64_t t, std::int32_t ns) {
    if (terms.flags[t] & kAllNamespaces) {
        return true;
    }
    const std::int32_t* first = terms.namespaces + terms.namespace_offsets[t];
    const std::int32_t* last = terms.namespaces + terms.namespace_offsets[t + 1];
    return std::find(first, last, ns) != last;
}

// True when term t selects the existing pod in `slot`.
inline bool matches_existing(const Terms& terms, std::int64_t t, const Nodes& nodes,
                             std::int64_t slot) {
    return namespace_matches(terms, t, nodes.pod_namespaces[slot])
           && selector_matches(terms, t, nodes.pod_label_keys, nodes.pod_label_values,
                               nodes.pod_label_offsets[slot], nodes.pod_label_offsets[slot + 1]);
}

// True when term t selects the incoming pod.
inline bool matches_incoming(const Terms& terms, std::int64_t t, const Pod& pod) {
    return namespace_matches(terms, t, pod.namespace_id)
           && selector_matches(terms, t, pod.label_keys, pod.label_values, 0, pod.label_count);
}

inline std::vector<std::int64_t> terms_of_kind(const Terms& terms, std::int8_t kind) {
    std::vector<std::int64_t> found;
    for (std::int64_t t = 0; t < terms.count; ++t) {
        if (terms.kinds[t] == kind) {
            found.push_back(t);
        }
    }
    return found;
}

inline bool has_spread_constraints(const Pod& pod) {
    for (std::int64_t t = 0; t < pod.terms.count; ++t) {
        if (pod.terms.kinds[t] == kHardSpread || pod.terms.kinds[t] == kSoftSpread) {
            return true;
        }
    }
    return false;
}

inline bool has_all_keys(const Nodes& nodes, const Terms& terms,
                         const std::vector<std::int64_t>& constraints, std::int64_t row) {
    for (const std::int64_t t : constraints) {
        if (node_value(nodes, row, terms.topology_keys[t]) == kAbsent) {
            return false;
        }
    }
    return true;
}

// Per node, the non-terminating pods that spread constraint t selects.
inline std::vector<std::int64_t> spread_matches_per_node(const Nodes& nodes, const Terms& terms,
                                                         std::int64_t t) {
    std::vector<std::int64_t> counts(static_cast<std::size_t>(nodes.node_count), 0);
    for (std::int64_t slot = 0; slot < nodes.pod_count; ++slot) {
        const std::int32_t row = nodes.pod_rows[slot];
        if (row >= 0 && !nodes.pod_terminating[slot] && matches_existing(terms, t, nodes, slot)) {
            ++counts[static_cast<std::size_t>(row)];
        }
    }
    return counts;
}

// nodeAffinityPolicy and nodeTaintsPolicy: whether node `row` counts for
// constraint t. The two vectors are empty when the pod has no constraints.
struct Inclusion {
    std::vector<std::uint8_t> affinity_ok;
    std::vector<std::uint8_t> taints_ok;

    Inclusion(const Nodes& nodes, const Pod& pod) {
        if (!has_spread_constraints(pod)) {
            return;
        }
        affinity_ok.resize(static_cast<std::size_t>(nodes.node_count));
        taints_ok.resize(static_cast<std::size_t>(nodes.node_count));
        for (std::int64_t row = 0; row < nodes.node_count; ++row) {
            affinity_ok[static_cast<std::size_t>(row)] = matches_required_affinity(nodes, pod, row);
            taints_ok[static_cast<std::size_t>(row)] = first_untolerated_taint(nodes, pod, row) < 0;
        }
    }

    bool included(const Terms& terms, std::int64_t t, std::int64_t row) const {
        const auto index = static_cast<std::size_t>(row);
        if ((terms.flags[t] & kHonorNodeAffinity) && !affinity_ok[index]) {
            return false;
        }
        return !((terms.flags[t] & kHonorTaints) && !taints_ok[index]);
    }
};

// Index of a domain in a per-key vector of string_count + 1 entries; the
// last entry is the domain of nodes without the key.
inline std::size_t domain_index(const Nodes& nodes, std::int32_t value) {
    return static_cast<std::size_t>(value == kAbsent ? nodes.string_count : value);
}

// PodTopologySpread's PreFilter state: per DoNotSchedule constraint, the
// matching pods per domain (-1 for a value that is no domain).
class SpreadFilter {
public:
    SpreadFilter(const Nodes& nodes, const Pod& pod, const Inclusion& inclusion)
        : nodes_(nodes), pod_(pod), inclusion_(inclusion), constraints_(terms_of_kind(pod.terms, kHardSpread)) {
        if (constraints_.empty()) {
            return;
        }
        const Terms& terms = pod.terms;
        eligible_.resize(static_cast<std::size_t>(nodes.node_count));
        for (std::int64_t row = 0; row < nodes.node_count; ++row) {
            eligible_[static_cast<std::size_t>(row)] = has_all_keys(nodes, terms, constraints_, row);
        }
        for (const std::int64_t t : constraints_) {
            const std::vector<std::int64_t> per_node = spread_matches_per_node(nodes, terms, t);
            std::vector<std::int64_t> counts(static_cast<std::size_t>(nodes.string_count) + 1, -1);
            std::int64_t domains = 0;
            for (std::int64_t row = 0; row < nodes.node_count; ++row) {
                if (!eligible_[static_cast<std::size_t>(row)] || !inclusion.included(terms, t, row)) {
                    continue;
                }
                std::int64_t& count = counts[domain_index(nodes, node_value(nodes, row, terms.topology_keys[t]))];
                if (count < 0) {
                    count = 0;
                    ++domains;
                }
                count += per_node[static_cast<std::size_t>(row)];
            }
            counts_.push_back(std::move(counts));
            domains_.push_back(domains);
            minimums_.push_back(minimum_of(counts_.size() - 1));
            self_matches_.push_back(
                selector_matches(terms, t, pod.label_keys, pod.label_values, 0, pod.label_count) ? 1 : 0);
        }
    }

    bool active() const { return !constraints_.empty(); }

    // Counts the pod in `slot`, placed on node `row` after construction, as
    // a new SpreadFilter over the grown table would count it.
    void add_pod(std::int64_t row, std::int64_t slot) {
        const Terms& terms = pod_.terms;
        if (!active() || !eligible_[static_cast<std::size_t>(row)] || nodes_.pod_terminating[slot]) {
            return;
        }
        for (std::size_t i = 0; i < constraints_.size(); ++i) {
            const std::int64_t t = constraints_[i];
            if (!inclusion_.included(terms, t, row) || !matches_existing(terms, t, nodes_, slot)) {
                continue;
            }
            std::int64_t& count = counts_[i][domain_index(nodes_, node_value(nodes_, row, terms.topology_keys[t]))];
            // Only a domain at the minimum can raise it, so other increments skip the scan.
            const bool was_minimum = count == minimums_[i];
            ++count;
            if (was_minimum) {
                minimums_[i] = minimum_of(i);
            }
        }
    }

    // Returns -1 when node `row` fits, else its SpreadFailure.
    std::int64_t check(std::int64_t row) const {
        const Terms& terms = pod_.terms;
        for (std::size_t i = 0; i < constraints_.size(); ++i) {
            const std::int64_t t = constraints_[i];
            const std::int32_t value = node_value(nodes_, row, terms.topology_keys[t]);
            if (value == kAbsent) {
                return kSpreadMissingLabel;
            }
            const std::int64_t count = std::max<std::int64_t>(counts_[i][domain_index(nodes_, value)], 0);
            if (count + self_matches_[i] - minimums_[i] > terms.weights[t]) {
                return kSpreadSkew;
            }
        }
        return -1;
    }

private:
    // The global minimum of constraint i; fewer domains than minDomains make it 0.
    std::int64_t minimum_of(std::size_t i) const {
        if (domains_[i] < pod_.terms.min_domains[constraints_[i]]) {
            return 0;
        }
        std::int64_t minimum = std::numeric_limits<std::int64_t>::max();
        for (const std::int64_t count : counts_[i]) {
            if (count >= 0 && count < minimum) {
                minimum = count;
            }
        }
        return minimum;
    }

    const Nodes& nodes_;
    const Pod& pod_;
    const Inclusion& inclusion_;
    std::vector<std::int64_t> constraints_;
    std::vector<std::uint8_t> eligible_;
    std::vector<std::vector<std::int64_t>> counts_;
    std::vector<std::int64_t> domains_;
    std::vector<std::int64_t> minimums_;
    std::vector<std::int64_t> self_matches_;
};

// A set of topology domains: per key, one mark per value id.
class DomainSet {
public:
    explicit DomainSet(const Nodes& nodes) : string_count_(nodes.string_count) {}

    void add(std::int32_t key, std::int32_t value) {
        marks_for(key)[static_cast<std::size_t>(value)] = 1;
        empty_ = false;
    }

    bool contains(std::int32_t key, std::int32_t value) const {
        if (value == kAbsent) {
            return false;
        }
        for (const auto& [marked_key, marks] : marks_) {
            if (marked_key == key) {
                return marks[static_cast<std::size_t>(value)] != 0;
            }
        }
        return false;
    }

    bool empty() const { return empty_; }
    const std::vector<std::pair<std::int32_t, std::vector<std::uint8_t>>>& keys() const { return marks_; }

private:
    std::vector<std::uint8_t>& marks_for(std::int32_t key) {
        for (auto& [marked_key, marks] : marks_) {
            if (marked_key == key) {
                return marks;
            }
        }
        marks_.emplace_back(key, std::vector<std::uint8_t>(static_cast<std::size_t>(string_count_), 0));
        return marks_.back().second;
    }

    std::int64_t string_count_;
    bool empty_ = true;
    std::vector<std::pair<std::int32_t, std::vector<std::uint8_t>>> marks_;
};

// InterPodAffinity's PreFilter state.
class AffinityFilter {
public:
    AffinityFilter(const Nodes& nodes, const Pod& pod)
        : nodes_(nodes),
          pod_(pod),
          affinity_(terms_of_kind(pod.terms, kRequiredAffinity)),
          anti_affinity_(terms_of_kind(pod.terms, kRequiredAntiAffinity)),
          affinity_pairs_(nodes),
          anti_affinity_pairs_(nodes),
          existing_anti_affinity_(nodes) {
        const Terms& terms = pod.terms;
        const Terms& existing = nodes.pod_terms;
        for (std::int64_t t = 0; t < existing.count; ++t) {
            if (existing.kinds[t] != kRequiredAntiAffinity) {
                continue;
            }
            const std::int32_t row = nodes.pod_rows[existing.owners[t]];
            if (row < 0 || !matches_incoming(existing, t, pod)) {
                continue;
            }
            const std::int32_t value = node_value(nodes, row, existing.topology_keys[t]);
            if (value != kAbsent) {
                existing_anti_affinity_.add(existing.topology_keys[t], value);
            }
        }
        if (affinity_.empty() && anti_affinity_.empty()) {
            return;
        }
        for (std::int64_t slot = 0; slot < nodes.pod_count; ++slot) {
            const std::int32_t row = nodes.pod_rows[slot];
            if (row < 0) {
                continue;
            }
            for (const std::int64_t t : anti_affinity_) {
                const std::int32_t value = node_value(nodes, row, terms.topology_keys[t]);
                if (value != kAbsent && matches_existing(terms, t, nodes, slot)) {
                    anti_affinity_pairs_.add(terms.topology_keys[t], value);
                }
            }
            // An existing pod counts for affinity only when it matches every required term.
            if (affinity_.empty() || !matches_all_existing(slot)) {
                continue;
            }
            for (const std::int64_t t : affinity_) {
                const std::int32_t value = node_value(nodes, row, terms.topology_keys[t]);
                if (value != kAbsent) {
                    affinity_pairs_.add(terms.topology_keys[t], value);
                }
            }
        }
        self_affine_ = !affinity_.empty();
        for (const std::int64_t t : affinity_) {
            self_affine_ = self_affine_ && matches_incoming(terms, t, pod);
        }
    }

    // Returns -1 when node `row` fits, else its AffinityFailure.
    std::int64_t check(std::int64_t row) const {
        const Terms& terms = pod_.terms;
        if (!affinity_.empty()) {
            bool pods_exist = true;
            for (const std::int64_t t : affinity_) {
                const std::int32_t value = node_value(nodes_, row, terms.topology_keys[t]);
                if (value == kAbsent) {
                    return kAffinityMismatch;
                }
                if (!affinity_pairs_.contains(terms.topology_keys[t], value)) {
                    pods_exist = false;
                }
            }
            // The first pod of a group whose terms select the pod itself may
            // land anywhere, or the group could never start.
            if (!pods_exist && !(affinity_pairs_.empty() && self_affine_)) {
                return kAffinityMismatch;
            }
        }
        for (const std::int64_t t : anti_affinity_) {
            const std::int32_t key = terms.topology_keys[t];
            if (anti_affinity_pairs_.contains(key, node_value(nodes_, row, key))) {
                return kAntiAffinityMismatch;
            }
        }
        for (const auto& [key, marks] : existing_anti_affinity_.keys()) {
            const std::int32_t value = node_value(nodes_, row, key);
            if (value != kAbsent && marks[static_cast<std::size_t>(value)]) {
                return kExistingAntiAffinityMismatch;
            }
        }
        return -1;
    }

private:
    bool matches_all_existing(std::int64_t slot) const {
        for (const std::int64_t t : affinity_) {
            if (!matches_existing(pod_.terms, t, nodes_, slot)) {
                return false;
            }
        }
        return true;
    }

    const Nodes& nodes_;
    const Pod& pod_;
    std::vector<std::int64_t> affinity_;
    std::vector<std::int64_t> anti_affinity_;
    DomainSet affinity_pairs_;
    DomainSet anti_affinity_pairs_;
    DomainSet existing_anti_affinity_;
    bool self_affine_ = false;
};

// PodTopologySpread's PreScore and Score: raw scores of the candidates,
// kIgnoredNodeScore for nodes the plugin ignores (all of them when the pod
// has no ScheduleAnyway constraint).
inline std::vector<std::int64_t> spread_scores(const Nodes& nodes, const Pod& pod,
                                               const Inclusion& inclusion,
                                               const std::int64_t* candidates,
                                               std::int64_t candidate_count) {
    const Terms& terms = pod.terms;
    const std::vector<std::int64_t> constraints = terms_of_kind(terms, kSoftSpread);
    std::vector<std::int64_t> scores(static_cast<std::size_t>(candidate_count), kIgnoredNodeScore);
    if (constraints.empty()) {
        return scores;
    }
    // System default constraints also score nodes that lack their keys.
    const bool require_all = !pod.system_default_spread;
    std::vector<std::uint8_t> ignored(static_cast<std::size_t>(candidate_count), 0);
    std::int64_t ignored_count = 0;
    for (std::int64_t i = 0; i < candidate_count; ++i) {
        if (require_all && !has_all_keys(nodes, terms, constraints, candidates[i])) {
            ignored[static_cast<std::size_t>(i)] = 1;
            ++ignored_count;
        }
    }
    const std::size_t slots = static_cast<std::size_t>(nodes.string_count) + 1;
    std::vector<std::vector<std::int64_t>> domains;
    std::vector<std::vector<std::int64_t>> per_node;
    std::vector<double> weights;
    for (const std::int64_t t : constraints) {
        const bool hostname = terms.flags[t] & kHostnameKey;
        std::vector<std::int64_t> counts(hostname ? 0 : slots, -1);
        std::int64_t size = candidate_count - ignored_count;
        if (!hostname) {
            size = 0;
            for (std::int64_t i = 0; i < candidate_count; ++i) {
                if (ignored[static_cast<std::size_t>(i)]) {
                    continue;
                }
                std::int64_t& count = counts[domain_index(nodes, node_value(nodes, candidates[i], terms.topology_keys[t]))];
                if (count < 0) {
                    count = 0;
                    ++size;
                }
            }
        }
        domains.push_back(std::move(counts));
        per_node.push_back(spread_matches_per_node(nodes, terms, t));
        weights.push_back(std::log(static_cast<double>(size + 2)));
    }
    for (std::int64_t row = 0; row < nodes.node_count; ++row) {
        if (require_all && !has_all_keys(nodes, terms, constraints, row)) {
            continue;
        }
        for (std::size_t c = 0; c < constraints.size(); ++c) {
            const std::int64_t t = constraints[c];
            if ((terms.flags[t] & kHostnameKey) || !inclusion.included(terms, t, row)) {
                continue;
            }
            std::int64_t& count = domains[c][domain_index(nodes, node_value(nodes, row, terms.topology_keys[t]))];
            if (count >= 0) {
                count += per_node[c][static_cast<std::size_t>(row)];
            }
        }
    }
    for (std::int64_t i = 0; i < candidate_count; ++i) {
        if (ignored[static_cast<std::size_t>(i)]) {
            continue;
        }
        const std::int64_t row = candidates[i];
        double total = 0.0;
        for (std::size_t c = 0; c < constraints.size(); ++c) {
            const std::int64_t t = constraints[c];
            const std::int32_t value = node_value(nodes, row, terms.topology_keys[t]);
            if (value == kAbsent) {
                continue;
            }
            const std::int64_t count = (terms.flags[t] & kHostnameKey)
                                           ? per_node[c][static_cast<std::size_t>(row)]
                                           : domains[c][domain_index(nodes, value)];
            total = total + (static_cast<double>(count) * weights[c] + static_cast<double>(terms.weights[t] - 1));
        }
        scores[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(std::round(total));
    }
    return scores;
}

// InterPodAffinity's PreScore and Score: per candidate, the summed weights
// of the terms that tie it to existing pods through shared domains.
inline std::vector<std::int64_t> affinity_scores(const Nodes& nodes, const Pod& pod,
                                                 std::int64_t hard_weight,
                                                 const std::int64_t* candidates,
                                                 std::int64_t candidate_count) {
    const Terms& terms = pod.terms;
    const Terms& existing = nodes.pod_terms;
    std::vector<std::pair<std::int32_t, std::vector<std::int64_t>>> domain_scores;
    auto add = [&](std::int32_t key, std::int64_t row, std::int64_t amount) {
        const std::int32_t value = node_value(nodes, row, key);
        if (value == kAbsent) {
            return;
        }
        for (auto& [scored_key, values] : domain_scores) {
            if (scored_key == key) {
                values[static_cast<std::size_t>(value)] += amount;
                return;
            }
        }
        domain_scores.emplace_back(key, std::vector<std::int64_t>(static_cast<std::size_t>(nodes.string_count), 0));
        domain_scores.back().second[static_cast<std::size_t>(value)] += amount;
    };

    const std::vector<std::int64_t> preferred = terms_of_kind(terms, kPreferredAffinity);
    const std::vector<std::int64_t> preferred_anti = terms_of_kind(terms, kPreferredAntiAffinity);
    if (!preferred.empty() || !preferred_anti.empty()) {
        for (std::int64_t slot = 0; slot < nodes.pod_count; ++slot) {
            const std::int32_t row = nodes.pod_rows[slot];
            if (row < 0) {
                continue;
            }
            for (const std::int64_t t : preferred) {
                if (matches_existing(terms, t, nodes, slot)) {
                    add(terms.topology_keys[t], row, terms.weights[t]);
                }
            }
            for (const std::int64_t t : preferred_anti) {
                if (matches_existing(terms, t, nodes, slot)) {
                    add(terms.topology_keys[t], row, -terms.weights[t]);
                }
            }
        }
    }
    for (std::int64_t t = 0; t < existing.count; ++t) {
        const std::int8_t kind = existing.kinds[t];
        const std::int32_t row = nodes.pod_rows[existing.owners[t]];
        if (row < 0 || kind == kRequiredAntiAffinity || (kind == kRequiredAffinity && hard_weight <= 0)) {
            continue;
        }
        if (!matches_incoming(existing, t, pod)) {
            continue;
        }
        const std::int64_t amount = kind == kRequiredAffinity ? hard_weight : existing.weights[t];
        add(existing.topology_keys[t], row, kind == kPreferredAntiAffinity ? -amount : amount);
    }

    std::vector<std::int64_t> scores(static_cast<std::size_t>(candidate_count), 0);
    for (std::int64_t i = 0; i < candidate_count; ++i) {
        std::int64_t total = 0;
        for (const auto& [key, values] : domain_scores) {
            const std::int32_t value = node_value(nodes, candidates[i], key);
            if (value != kAbsent) {
                total += values[static_cast<std::size_t>(value)];
            }
        }
        scores[static_cast<std::size_t>(i)] = total;
    }
    return scores;
}

}  // namespace pykube::scheduler::topology
